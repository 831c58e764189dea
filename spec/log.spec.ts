/**
 * lib/log.ts: AnyEvent::Log's level numbering (1 fatal .. 5 warn .. 9 trace) for
 * `AEMP_VERBOSE`, `setLogLevel`, printed `<N>` prefixes and the records aemp writes
 * itself; level names; the application logger (`log`, `logger`) writing to the same
 * sink with its context; and the `SND node <- [portname, ...]` trace form.
 */
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { LEVELS, error, info, levelNumber, log, logLevel, logger, recentLogs, setLogLevel, warn } from "../lib/log.ts";
import { captureLog, throwsSync } from "./helpers.ts";

const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const logModule = new URL("../lib/log.ts", import.meta.url).href;

/** Runs `code` (ESM, with `L` = lib/log.ts) in a child with `env`; its stderr. */
function child(code: string, env: Record<string, string | undefined>): string {
  const full = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
  const r = spawnSync(process.execPath, ["--import", tsx, "--input-type=module", "-e", `const L = await import(${JSON.stringify(logModule)});\n${code}`], { env: full, encoding: "utf8", timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stderr;
}

test("levels - numbered as AnyEvent::Log numbers them, names and aliases accepted", () => {
  assert.equal(LEVELS.slice(1), ["fatal", "alert", "critical", "error", "warn", "note", "info", "debug", "trace"]);
  assert.equal(["fatal", "alert", "critical", "error", "warn", "note", "info", "debug", "trace"].map(levelNumber), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(["WARN", "crit", "err", "warning", "notice", "off", "0", "7", 3].map(levelNumber), [5, 3, 4, 5, 6, 0, 0, 7, 3]);
  for (const bad of ["loud", "", "10", 10, -1, 2.5, null, undefined]) assert.is(levelNumber(bad), undefined, String(bad));
});

test("setLogLevel - takes numbers and names; anything else is a TypeError naming the parameter", () => {
  const before = logLevel();
  try {
    setLogLevel("debug");
    assert.is(logLevel(), 8);
    setLogLevel(6);
    assert.is(logLevel(), 6);
    throwsSync(() => setLogLevel("loud" as never), (e) => e instanceof TypeError && /setLogLevel: 'level' must be a level 0\.\.9 or a name.*"loud"/.test(e.message));
    throwsSync(() => setLogLevel(12), TypeError);
  } finally {
    setLogLevel(before);
  }
});

test("aemp's own records - error is 4, warn is 5, info is 7, with context aemp", () => {
  const before = logLevel();
  setLogLevel(9);
  using log = captureLog();
  try {
    error("e");
    warn("w");
    info("i");
  } finally {
    setLogLevel(before);
  }
  assert.equal(log.records.map((r) => [r.level, r.context, r.text]), [[4, "aemp", "e"], [5, "aemp", "w"], [7, "aemp", "i"]]);
});

test("AEMP_VERBOSE - a number or a name; default and bad values print warn and above", () => {
  const code = `L.error("an error"); L.warn("a warning"); L.note("a note"); L.info("an info");`;
  const printed = (stderr: string): string[] => stderr.split("\n").filter((l) => / <\d> /.test(l)).map((l) => l.replace(/^\S+ /, ""));
  assert.equal(printed(child(code, { AEMP_VERBOSE: undefined })), ["<4> an error", "<5> a warning"]);
  assert.equal(printed(child(code, { AEMP_VERBOSE: "warn" })), ["<4> an error", "<5> a warning"]);
  assert.equal(printed(child(code, { AEMP_VERBOSE: "6" })), ["<4> an error", "<5> a warning", "<6> a note"]);
  assert.equal(printed(child(code, { AEMP_VERBOSE: "error" })), ["<4> an error"]);
  assert.equal(printed(child(code, { AEMP_VERBOSE: "off" })), []);
  const bad = child(code, { AEMP_VERBOSE: "loud" });
  assert.match(bad, /ignoring AEMP_VERBOSE="loud": expected a level 0\.\.9 or a name/);
  assert.equal(printed(bad), ["<4> an error", "<5> a warning"]);
});

test("log - application records go to the same sink: printed by level, kept, with context main", () => {
  using capture = captureLog();
  log("warn", "disk %s is %d%% full", "/var", 93);
  log(4, "plain", { a: 1 });
  log("debug", "not at the default level");
  assert.equal(capture.records.map((r) => [r.level, r.context, r.text]), [[5, "main", "disk /var is 93% full"], [4, "main", "plain { a: 1 }"]]);
  assert.ok(recentLogs(9).some((r) => r.text === "disk /var is 93% full" && r.context === "main"), "kept for recentLogs");
  assert.not.ok(recentLogs(9).some((r) => r.text === "not at the default level"));
  throwsSync(() => log("loud" as never, "x"), (e) => e instanceof TypeError && /log: 'level' must be a level 1\.\.9 or a name/.test(e.message));
  throwsSync(() => log(0, "x"), TypeError);
});

test("logger - a context of its own, one method per level, enabled()", () => {
  const chat = logger("Chat::Server");
  assert.is(chat.context, "Chat::Server");
  const before = logLevel();
  setLogLevel("trace");
  using capture = captureLog();
  try {
    chat.fatal("1");
    chat.alert("2");
    chat.crit("3");
    chat.error("4");
    chat.warn("5");
    chat.note("6");
    chat.info("7");
    chat.debug("8");
    chat.trace("9");
    chat.log("info", "by name");
  } finally {
    setLogLevel(before);
  }
  assert.equal(capture.records.map((r) => `${r.context} ${r.level} ${r.text}`), [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => `Chat::Server ${n} ${n}`).concat("Chat::Server 7 by name"));
  assert.ok(chat.enabled("warn"));
  assert.not.ok(chat.enabled("info"), "info is over the default level");
  throwsSync(() => logger(""), (e) => e instanceof TypeError && /logger: 'context' must be a non-empty string/.test(e.message));
});

test("printed lines - <level> prefix, the context before the text unless it is aemp's", () => {
  const stderr = child(`L.warn("from aemp"); L.logger("My::App").warn("from the app"); L.log("error", "from main");`, { AEMP_VERBOSE: undefined });
  const lines = stderr.split("\n").filter(Boolean).map((l) => l.replace(/^\S+ /, ""));
  assert.equal(lines, ["<5> from aemp", "<5> My::App: from the app", "<4> main: from main"]);
});

test("trace - SND node <- [portname, ...] and RCV node -> [portname, ...]", () => {
  const stderr = child(`L.trace("SND", "peer/1", ["p", "ping", 1]); L.trace("RCV", "peer/1", ["", "devnull"]);`, { AEMP_TRACE: "1" });
  assert.equal(stderr.split("\n").filter(Boolean), ['SND peer/1 <- ["p","ping",1]', 'RCV peer/1 -> ["","devnull"]']);
});

test.run();
