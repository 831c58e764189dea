/**
 * The `aemp` commands that talk to a running network: `snd`, `cal`, `mon`, `nodes`,
 * `db`, `dbmon`, `trace`, `ping`, each run as a child process against a private rc
 * file. The network: a seed started with `aemp run profile seed`, and this spec
 * process as a second node holding the ports and database entries the commands use.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, configure, dbDel, dbFamily, dbSet, kil, port, rcv, shutdown, snd } from "../lib/index.ts";
import { type AempProcess, type TempRc, aemp, aempOk, startAemp, stopAll, tempRc } from "./cli-helpers.ts";
import { type Deferred, deferred, waitFor } from "./helpers.ts";

const SECRET = "cli net spec";
let rc: TempRc;
let seed: AempProcess;
let seedId = "";
let seedAddress = "";

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

test.before(async () => {
  rc = tempRc();
  await aempOk(rc, ["setsecret", SECRET, "profile", "seed", "setbinds", "127.0.0.1:*"]);
  seed = startAemp(rc, ["run", "profile", "seed"]);
  [, seedId, seedAddress] = await seed.line(/^(\S+) listening on (\S+) \(profile seed\)$/);
  await aempOk(rc, ["setseeds", seedAddress]);
  await configure({ norc: true, nodeid: "spec/%u", binds: ["127.0.0.1:*"], seeds: [seedAddress], secret: SECRET });
  // The database answers once this node has a master: the network is ready.
  await waitFor(dbFamily("clitest::none"), 5000, "a master");
});

test.after(async () => {
  await shutdown();
  if (seed !== undefined) await seed.signal("SIGTERM").catch(() => {});
  await stopAll();
  rc.cleanup();
});

async function fails(args: string[], pattern: RegExp, r: TempRc = rc, code = 1): Promise<string> {
  const res = await aemp(r, args);
  assert.is(res.code, code, `exit code of aemp ${args.join(" ")}: ${res.stdout}${res.stderr}`);
  assert.is(res.stderr.trimEnd().split("\n").length, 1, `one line: ${res.stderr}`);
  assert.match(res.stderr.trimEnd(), pattern);
  return res.stderr;
}

/** A port that resolves each message it gets, in order. */
function recorder(): { port: string; next(): Promise<unknown[]> } {
  const waiting: Deferred<unknown[]>[] = [];
  const queued: unknown[][] = [];
  const p = port((...msg: unknown[]) => {
    const w = waiting.shift();
    if (w !== undefined) w.resolve(msg);
    else queued.push(msg);
  });
  return {
    port: p,
    next() {
      const m = queued.shift();
      if (m !== undefined) return Promise.resolve(m);
      const d = deferred<unknown[]>();
      waiting.push(d);
      return waitFor(d.promise, 5000, `a message on ${p}`);
    },
  };
}

test("cli snd - arguments starting with [ { \" are JSON (as in Perl's aemp), others strings; --json, --raw; returns once delivered", async () => {
  const r = recorder();
  assert.is(await aempOk(rc, ["snd", r.port, "hello", "1", "--x"]), "");
  assert.equal(await r.next(), ["hello", "1", "--x"]);
  await aempOk(rc, ["snd", r.port, "tag", '"quoted"', "[1,2]", '{"a":[1,null]}', "12", "true"]);
  assert.equal(await r.next(), ["tag", "quoted", [1, 2], { a: [1, null] }, "12", "true"]);
  await aempOk(rc, ["snd", "--json", r.port, '"hi"', "2", '{"a":[1,null]}']);
  assert.equal(await r.next(), ["hi", 2, { a: [1, null] }]);
  await aempOk(rc, ["snd", "--raw", r.port, "[1,2]", '"q"']);
  assert.equal(await r.next(), ["[1,2]", '"q"']);
  kil(r.port);
  await fails(["snd", `${NODE()}#nothing`, "x"], new RegExp(`^aemp snd: there is no port ${escape(NODE())}#nothing \\(the message was dropped\\)$`));
  await fails(["snd", "--json", r.port, "{bad"], /^aemp snd: --json: "\{bad" is not valid JSON/, rc, 2);
  await fails(["snd", r.port, "[1,"], /^aemp snd: "\[1," starts like JSON but is not valid JSON \(--raw sends it as a string\)$/, rc, 2);
  await fails(["snd", "#x"], /^aemp snd: '#x' is neither a port ID \(NODE#NAME\) nor a node ID \(aemp help snd\)$/, rc, 2);
  await fails(["snd", "--json", "--raw", r.port], /^aemp snd: --json and --raw cannot be combined$/, rc, 2);
});

test("cli snd, cal, mon - a node ID addresses its node port (aemp cal mynode time, aemp mon doomed)", async () => {
  const [t] = JSON.parse(await aempOk(rc, ["cal", seedId, "time"])) as number[];
  assert.ok(Math.abs(t - Date.now() / 1000) < 5, String(t));
  assert.equal(JSON.parse(await aempOk(rc, ["cal", seedId, "can", "time"])), ["1"]);
  assert.is(await aempOk(rc, ["snd", seedId, "devnull"]), "");
  // A node that goes away: mon prints the transport error and exits 2.
  await aempOk(rc, ["profile", "doomed", "setbinds", "127.0.0.1:*"]);
  const doomed = startAemp(rc, ["run", "profile", "doomed", "nodeid", "doomed/%u"]);
  const [, doomedId] = await doomed.line(/^(\S+) listening on /);
  const watch = startAemp(rc, ["mon", doomedId]);
  await watch.line(new RegExp(`^monitoring ${escape(doomedId)}$`), 15_000, "stderr");
  await doomed.signal("SIGKILL");
  assert.is(await waitFor(watch.exited, 15_000, "mon to exit"), 2);
  assert.equal((JSON.parse(watch.stdout) as unknown[]).slice(0, 2), ["transport_error", doomedId]);
});

test("cli cal - prints the reply as JSON; a timeout or a dying port is an error", async () => {
  const echo = port((...msg: unknown[]) => {
    const reply = msg.pop() as string;
    snd(reply, "pong", ...msg);
  });
  assert.is(await aempOk(rc, ["cal", echo, "ping", "1"]), '["pong","ping","1"]\n');
  assert.is(await aempOk(rc, ["cal", "--json", echo, "[1,2]", "{}"]), '["pong",[1,2],{}]\n');
  const silent = port(() => {});
  await fails(["cal", "-t", "0.5", silent, "x"], new RegExp(`^aemp cal: no reply from ${escape(silent)} within 0.5 s$`));
  // Without -t it gives up after 5 s, as Perl's aemp does.
  const started = Date.now();
  await fails(["cal", silent, "x"], new RegExp(`^aemp cal: no reply from ${escape(silent)} within 5 s$`));
  assert.ok(Date.now() - started < 15_000, "not the old 30 s");
  const dying = rcv(port(), "x", () => kil(dying, "boom", "sorry"));
  await fails(["cal", dying, "x"], new RegExp(`^aemp cal: ${escape(dying)} ended without replying: boom sorry$`));
  kil(echo);
  kil(silent);
});

test("cli mon - prints the kill reason; exit 0 for a normal kill, 2 otherwise", async () => {
  const q = port(() => {});
  const normal = startAemp(rc, ["mon", q]);
  await normal.line(new RegExp(`^monitoring ${escape(q)}$`), 15_000, "stderr");
  kil(q);
  assert.is(await waitFor(normal.exited, 10_000, "mon to exit"), 0);
  assert.is(normal.stdout, "[]\n");
  const r = port(() => {});
  const abnormal = startAemp(rc, ["mon", r]);
  await abnormal.line(/^monitoring /, 15_000, "stderr");
  kil(r, "error", { why: "bad" });
  assert.is(await waitFor(abnormal.exited, 10_000, "mon to exit"), 2);
  assert.is(abnormal.stdout, '["error",{"why":"bad"}]\n');
  const missing = await aemp(rc, ["mon", `${NODE()}#nothing`]);
  assert.is(missing.code, 2);
  assert.equal(JSON.parse(missing.stdout), ["no_such_port", "cannot monitor nonexistent port", `${NODE()}#nothing`]);
});

test("cli nodes - the nodes the global node knows; --check pings them; --json", async () => {
  const text = await aempOk(rc, ["nodes"]);
  assert.match(text, new RegExp(`^${escape(seedId)} +${escape(seedAddress)} +global$`, "m"));
  assert.match(text, new RegExp(`^${escape(NODE())} +127\\.0\\.0\\.1:\\d+$`, "m"));
  const checked = await aempOk(rc, ["nodes", "--check"]);
  assert.match(checked, new RegExp(`^${escape(NODE())} +127\\.0\\.0\\.1:\\d+ +up [\\d.]+ms$`, "m"));
  const json = JSON.parse(await aempOk(rc, ["nodes", "--json"]));
  assert.equal(json[seedId], { addresses: [seedAddress], global: true });
});

test("cli db - prints a family as JSON, --keys its keys, internal families too", async () => {
  dbSet("clitest::fam", "k2", "v");
  dbSet("clitest::fam", "k1", { a: 1 });
  // A query from this node comes after its updates: the global node has them now.
  assert.equal(Object.keys(await waitFor(dbFamily("clitest::fam"), 10_000, "the family from the master")).length, 2);
  assert.equal(JSON.parse(await aempOk(rc, ["db", "clitest::fam"])), { k2: "v", k1: { a: 1 } });
  assert.is(await aempOk(rc, ["db", "--keys", "clitest::fam"]), "k1\nk2\n");
  assert.equal(JSON.parse(await aempOk(rc, ["db", "clitest::empty"])), {});
  const l = JSON.parse(await aempOk(rc, ["db", "'l"]));
  assert.equal(l[seedId], [seedAddress]);
  await fails(["db"], /^aemp db: a FAMILY is missing/, rc, 2);
});

test("cli dbmon - the content, then + added, = changed, - deleted; SIGINT ends it with 0", async () => {
  dbSet("clitest::watch", "before", 1);
  await waitFor(dbFamily("clitest::watch"), 10_000, "the family from the master");
  const watch = startAemp(rc, ["dbmon", "clitest::watch"]);
  await watch.line(/^following clitest::watch \(Ctrl-C to stop\)$/, 15_000, "stderr");
  await watch.line(/^\+ before 1$/);
  dbSet("clitest::watch", "k", { v: 1 });
  await watch.line(/^\+ k \{"v":1\}$/);
  dbSet("clitest::watch", "k", [2]);
  await watch.line(/^= k \[2\]$/);
  dbDel("clitest::watch", "k");
  await watch.line(/^- k$/);
  assert.is(await watch.signal("SIGINT"), 0);
  assert.is(watch.stdout, '+ before 1\n+ k {"v":1}\n= k [2]\n- k\n');
});

test("cli trace - the connection graph as text and as Graphviz DOT", async () => {
  const text = await aempOk(rc, ["trace", seedId]);
  const lines = text.trimEnd().split("\n");
  assert.match(lines[0], new RegExp(`^${escape(seedId)} -> .*${escape(NODE())}`));
  assert.ok(lines.some((l) => new RegExp(`^${escape(NODE())} -> .*${escape(seedId)}`).test(l)), text);
  assert.not.ok(text.includes("aemp/"), "the tracing node itself is left out");
  const dot = await aempOk(rc, ["trace", seedId, "--dot"]);
  assert.match(dot, /^graph aemp \{\n/);
  const edge = [seedId, NODE()].sort();
  assert.ok(dot.includes(`  "${edge[0]}" -- "${edge[1]}";\n`), dot);
  assert.is(dot.split(" -- ").length - 1, 1, "one edge per link");
  await fails(["trace", "no/such/node", "-t", "2"], /^aemp trace: cannot trace from no\/such\/node: no known address$/);
});

test("cli ping - round trips and a summary; an unknown node is an error", async () => {
  const out = await aempOk(rc, ["ping", seedId, "-c", "2"]);
  const lines = out.trimEnd().split("\n");
  assert.is(lines.length, 4, out);
  assert.match(lines[0], new RegExp(`^connected to ${escape(seedId)} in [\\d.]+ ms$`));
  assert.match(lines[1], new RegExp(`^${escape(seedId)}: seq=1 time=[\\d.]+ ms$`));
  assert.match(lines[3], /^2 replies, rtt min\/avg\/max [\d.]+\/[\d.]+\/[\d.]+ ms, clock offset [+-][\d.]+ ms$/);
  await fails(["ping", "no/such/node"], /^aemp ping: cannot reach node no\/such\/node: no known address$/);
});

test("cli network - no seeds, no secret or no seed answering: one clear line", async () => {
  const other = tempRc();
  try {
    await fails(["nodes"], /^aemp nodes: no seeds are configured in .*; add one with: aemp addseed HOST:PORT$/, other);
    await aempOk(other, ["setseeds", "127.0.0.1:1"]);
    await fails(["db", "x"], /^aemp db: no secret is configured in .*; make one with: aemp gensecret/, other);
    await aempOk(other, ["setsecret", "x"]);
    await fails(["nodes", "-t", "1"], /^aemp nodes: could not join the network through 127\.0\.0\.1:1 within 1 s: is a seed running there, with the same secret\?/, other);
  } finally {
    other.cleanup();
  }
});

test.run();
