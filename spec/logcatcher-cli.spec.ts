/**
 * `aemp logs`: the real executable against a network of real processes. This process
 * is the seed; two child nodes (spec/fixtures/stream-node.ts) log; a third joins while
 * `aemp logs --follow` runs. The CLI reads a private rc file holding the secret and
 * the seed.
 */
import { writeFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, configure, logger, onLog } from "../lib/index.ts";
import { globalService } from "../lib/global/current.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { type TempRc, aemp, startAemp, stopAll, tempRc } from "./cli-helpers.ts";
import { deferred, waitFor } from "./helpers.ts";
import { SECRET, type StreamNode, startStreamNode, stopStreamNodes } from "./stream-helpers.ts";

const { addresses } = await configure({ nodeid: "logs-seed/%u", binds: ["127.0.0.1:*"], secret: SECRET });
const seed = addresses[0];
let rc: TempRc;
let alpha: StreamNode;
let beta: StreamNode;

function inDirectory(ids: string[], ms = 5000): Promise<void> {
  const d = deferred<void>();
  const stop = globalService().watch("'l", (family) => {
    if (ids.every((id) => id in family)) d.resolve();
  });
  return waitFor(d.promise, ms, `${ids.join(", ")} in 'l`).finally(stop);
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
/** A `logs` line: node ID, ISO time, <level>, the context (but aemp's), text. */
const lineOf = (node: string, level: number, text: string, context = "main"): RegExp =>
  new RegExp(`^${escape(node)} \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z <${level}> ${context === "aemp" ? "" : `${escape(context)}: `}${escape(text)}$`);

test.before(async () => {
  rc = tempRc();
  writeFileSync(rc.path, JSON.stringify({ version: 1, secret: SECRET, seeds: [seed] }));
  [alpha, beta] = await Promise.all([startStreamNode({ seeds: [seed] }, "alpha"), startStreamNode({ seeds: [seed] }, "beta")]);
  await inDirectory([alpha.nodeId, beta.nodeId]);
});

test.after(async () => {
  await stopAll();
  await stopStreamNodes();
  await currentNetwork()?.stop();
  rc.cleanup();
});

test("aemp logs - prints what the nodes kept, prefixed with their node IDs, and exits", async () => {
  await alpha.call("log", { level: 5, text: "kept by alpha" });
  await beta.call("log", { level: 4, text: "kept by beta", context: "Beta::Service" });
  await beta.call("log", { level: 7, text: "never printed, so not kept" });
  const r = await aemp(rc, ["logs", "--level", "9"]);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.ok(lines.some((l) => lineOf(alpha.nodeId, 5, "kept by alpha").test(l)), r.stdout);
  assert.ok(lines.some((l) => lineOf(beta.nodeId, 4, "kept by beta", "Beta::Service").test(l)), r.stdout);
  assert.not.ok(r.stdout.includes("never printed"));
  // --level filters the backlog too.
  const quiet = await aemp(rc, ["logs", "-l", "error"]);
  assert.ok(quiet.stdout.includes("kept by beta"));
  assert.not.ok(quiet.stdout.includes("kept by alpha"));
});

test("aemp logs --follow - new records from every node, also one that joins later, until Ctrl-C", async () => {
  const follow = startAemp(rc, ["logs", "--follow", "--level", "7"]);
  await follow.line(/following the logs of \d+ node/, 15_000, "stderr");
  await alpha.call("log", { level: 7, text: "live from alpha" });
  await beta.call("log", { level: 8, text: "too detailed" });
  await beta.call("log", { level: 6, text: "live from beta" });
  await follow.line(lineOf(alpha.nodeId, 7, "live from alpha"));
  await follow.line(lineOf(beta.nodeId, 6, "live from beta"));
  const gamma = await startStreamNode({ seeds: [seed] }, "gamma");
  await gamma.call("log", { level: 5, text: "gamma says hello" }); // printed, so kept: arrives as backlog if it is early
  await follow.line(lineOf(gamma.nodeId, 5, "gamma says hello"));
  assert.not.ok(follow.stdout.includes("too detailed"));
  assert.is(await follow.signal("SIGINT"), 0);
  await gamma.kill();
});

test("aemp run - answers aemp logs; Perl's services '[[\"AnyEvent::MP::LogCatcher::catch\", LEVEL]]' prints every node's records", async () => {
  const subscribed = deferred<void>();
  const stop = onLog((rec) => {
    if (rec.text.includes("sending log records up to level 7 to runner/")) subscribed.resolve();
  }, 8);
  // Info level: the node prints (so keeps) its info records, which come back as backlog.
  const node = startAemp(rc, ["run", "nodeid", "runner/%u", "binds", "127.0.0.1:*", "services", '[["AnyEvent::MP::LogCatcher::catch", "info"]]'], { env: { AEMP_VERBOSE: "info" } });
  const [, nodeId] = await node.line(/^(\S+) listening on /);
  await inDirectory([nodeId]);
  try {
    const r = await aemp(rc, ["logs", "--level", "info"]);
    assert.is(r.code, 0, r.stderr);
    assert.not.match(r.stderr, /no answer from/, "every node answered, the aemp run node too");
    const started = lineOf(nodeId, 7, "starting service AnyEvent::MP::LogCatcher::catch", "aemp");
    assert.ok(r.stdout.split("\n").some((l) => started.test(l)), r.stdout);
    // Its catch service subscribed to this node too; then an application record of ours
    // is printed there with our node ID and the logger's context.
    await waitFor(subscribed.promise, 10_000, "the catch service's subscription").finally(stop);
    logger("Spec::Catch").warn("hello catcher");
    await node.line(new RegExp(`\\[${escape(NODE())}\\] <5> Spec::Catch: hello catcher$`), 10_000, "stderr");
  } finally {
    assert.is(await node.signal("SIGTERM"), 0);
  }
});

test("aemp logs - bad options are errors", async () => {
  const r = await aemp(rc, ["logs", "--level", "12"]);
  assert.is(r.code, 2, "a usage error");
  assert.match(r.stderr, "--level must be a level 1..9 or a name");
});

test.run();
