// Links that fail or cannot be made: this spec process is a node (seeds = [S], a child
// process; connect_interval 0.5 s so connection attempts give up quickly), and other
// nodes are child processes that get killed. Every monitor must fire exactly once
// with ["transport_error", NODE, text], and messages must flow again afterwards.
import { type Server, type Socket, createServer } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cal, configure, mon, monNodes, nodeIsUp, snd } from "../lib/index.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { deferred, portDeath, waitFor } from "./helpers.ts";
import { FakePeer, SECRET, type TestNode, freePort, startNode, stopAllNodes } from "./net-helpers.ts";

let S: TestNode;
const CONNECT_INTERVAL = 0.5;

/** Our node's monitor of `target` (a port or node ID), as a promise of the reason. */
function death(target: string, ms = 5000): Promise<unknown[]> {
  return portDeath(target, ms);
}

/** cal as a promise of the reply (`[]` on timeout). */
function calP(target: string, msg: unknown[], timeout = 3): Promise<unknown[]> {
  return waitFor(new Promise<unknown[]>((resolve) => cal(target, ...msg, (...reply: unknown[]) => resolve(reply), timeout)), timeout * 1000 + 1000, `a reply from ${target}`);
}

/** Resolves the next time our node sees `nodeId` come up. */
function nextUp(nodeId: string | ((id: string) => boolean), ms = 10_000): Promise<string> {
  const d = deferred<string>();
  const test = typeof nodeId === "string" ? (id: string) => id === nodeId : nodeId;
  const g = monNodes((id, up) => {
    if (up && test(id)) d.resolve(id);
  });
  return waitFor(d.promise, ms, "a node to come up").finally(() => g.cancel());
}

const lostLink = /^(Unexpected end-of-file|Connection reset by peer)$/;

test.before(async () => {
  try {
    S = await startNode({}, { name: "seed" });
    const up = nextUp(S.nodeId);
    await configure({ nodeid: "failure-spec/%u", binds: ["127.0.0.1:*"], seeds: [S.addresses[0]], secret: SECRET, norc: true, connect_interval: CONNECT_INTERVAL });
    await up;
  } catch (err) {
    console.error("net-failure setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  await stopAllNodes();
  await currentNetwork()?.stop();
});

test("killed peer - monitors of its ports and of the node fire with transport_error", async () => {
  const P = await startNode({ seeds: [S.addresses[0]] }, { name: "peer" });
  await P.joined(S);
  const echo = await P.port("echo");
  const rec = await P.port("record");
  assert.equal(await calP(echo, ["up?"]), ["up?"]); // the link is up, mon1s are on their way
  const portGone = death(rec);
  const echoGone = death(echo);
  const nodeGone = death(P.nodeId);
  await P.kill();
  const reason = await portGone;
  assert.is(reason.length, 3);
  assert.equal(reason.slice(0, 2), ["transport_error", P.nodeId]);
  assert.match(String(reason[2]), lostLink);
  assert.equal(await echoGone, reason);
  assert.equal(await nodeGone, reason);
  assert.is(nodeIsUp(P.nodeId), false);
});

test("dead address - a later send connects again and fails with Connection refused", async () => {
  const P = await startNode({ seeds: [S.addresses[0]] }, { name: "peer2" });
  await P.joined(S);
  const rec = await P.port("record");
  snd(rec, "before");
  await P.message(rec, "before");
  const first = death(rec);
  await P.kill();
  assert.match(String((await first)[2]), lostLink);
  // The address is still known: a new monitor dials it, and nobody listens there.
  const t0 = Date.now();
  snd(rec, "into the void");
  assert.equal(await death(rec), ["transport_error", P.nodeId, "Connection refused"]);
  assert.ok(Date.now() - t0 < 2000, "a refused connection fails at once, not at the timeout");
});

test("unknown node ID - monitors fire with no known address", async () => {
  const ghost = "nobody/never.configured";
  snd(`${ghost}#p`, "lost");
  assert.equal(await death(`${ghost}#p`), ["transport_error", ghost, "no known address"]);
  assert.equal(await death(ghost), ["transport_error", ghost, "no known address"]);
});

test("another secret - monitors fire with authentication failure/shared secret mismatch", async () => {
  const W = await startNode({ secret: "some other secret" }, { name: "stranger" });
  // W cannot join through the seed; tell the seed where it listens, as if it had.
  const fake = await FakePeer.connect(S.addresses[0]);
  try {
    await fake.handshake({ nodeId: `registrar/${Date.now()}` });
    await fake.sendPacket(["", "g_slave", { "'l": { [W.nodeId]: W.addresses } }]);
    await fake.ping();
    const rec = await W.port("record");
    snd(rec, "let me in");
    assert.equal(await death(rec), ["transport_error", W.nodeId, "authentication failure/shared secret mismatch"]);
    // W saw the same failure from its side and logged it.
    await W.event((e) => e.ev === "log" && e.level <= 5 && e.text.includes("authentication failure/shared secret mismatch"), 2000, "W's warning");
    assert.not.ok(W.events.some((e) => e.ev === "msg"));
  } finally {
    fake.close();
    await W.kill();
  }
});

test("unknown node ID, on a node without seeds - no known address at once", async () => {
  const lone = await startNode({}, { name: "lone" });
  const t0 = Date.now();
  const gone = await lone.mon("nobody/at.all#p");
  assert.equal(await gone(3000), ["transport_error", "nobody/at.all", "no known address"]);
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  await lone.kill();
});

test("unresponsive address - connect timeout, and the attempt is closed", async () => {
  // A listener that accepts and never speaks, registered with the seed as node "ghost".
  const accepted: Socket[] = [];
  const closed = deferred<void>();
  const silent: Server = createServer((s) => {
    accepted.push(s);
    s.resume(); // read (and ignore) our greeting, so the end of the stream is seen
    s.on("error", () => {});
    s.on("close", () => closed.resolve());
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const address = `127.0.0.1:${(silent.address() as { port: number }).port}`;
  const ghost = `ghost/${Date.now()}`;
  const fake = await FakePeer.connect(S.addresses[0]);
  try {
    await fake.handshake({ nodeId: ghost });
    await fake.sendPacket(["", "g_slave", { "'l": { [ghost]: [address] } }]);
    await fake.ping(); // the seed has registered it
    const t0 = Date.now();
    const reason = await death(`${ghost}#p`, 5000);
    const waited = Date.now() - t0;
    assert.equal(reason, ["transport_error", ghost, "connect timeout"]);
    assert.is(accepted.length, 1, "one connection attempt");
    assert.ok(waited >= CONNECT_INTERVAL * 1000 && waited < 4000, `gave up after ${waited} ms`);
    // Giving up closes the half-made link instead of leaving it to the handshake timeout.
    await waitFor(closed.promise, 1000, "the abandoned connection to be closed");
  } finally {
    fake.close();
    for (const s of accepted) s.destroy();
    silent.close();
  }
});

test("restarted seed - monitors fire, then the new seed process on the same address is reachable", async () => {
  const address = S.addresses[0];
  const old = S.nodeId;
  const rec = await S.port("record");
  snd(rec, "hello");
  await S.message(rec, "hello");
  const gone = death(rec);
  const oldUp = nodeIsUp(old);
  await S.kill();
  const reason = await gone;
  assert.ok(oldUp);
  assert.equal(reason.slice(0, 2), ["transport_error", old]);
  assert.match(String(reason[2]), lostLink);

  const back = nextUp((id) => id.startsWith("seed2/"), 15_000);
  S = await startNode({ binds: [address] }, { name: "seed2" });
  assert.equal(S.addresses, [address]);
  assert.is(await back, S.nodeId); // our seed keeper found it again
  const rec2 = await S.port("record");
  snd(rec2, "hello again");
  assert.equal(await S.message(rec2, "hello again"), ["hello again"]);

  // And it is our master again: a node that joins it is found by node ID alone.
  const Q = await startNode({ seeds: [address] }, { name: "q" });
  await Q.joined(S);
  const qrec = await Q.port("record");
  snd(qrec, "found you");
  assert.equal(await Q.message(qrec, "found you", 5000), ["found you"]);
});

test("no holes - a monitor set up after the failure fires only for the new attempt", async () => {
  const P = await startNode({ seeds: [S.addresses[0]] }, { name: "peer3" });
  await P.joined(S);
  const rec = await P.port("record");
  const fired: unknown[][] = [];
  const firstFired = deferred<void>();
  mon(rec, (...r: unknown[]) => {
    fired.push(r);
    firstFired.resolve();
  });
  snd(rec, "one");
  await P.message(rec, "one");
  await P.kill();
  await waitFor(firstFired.promise, 5000, "the first monitor");
  // Exactly one firing for the lost link, whatever happens next.
  const second = death(rec);
  snd(rec, "two");
  assert.equal(await second, ["transport_error", P.nodeId, "Connection refused"]);
  assert.is(fired.length, 1, JSON.stringify(fired));
  assert.match(String(fired[0][2]), lostLink);
});

test("seed not up yet - the node keeps retrying and links up once the seed starts", async () => {
  const address = `127.0.0.1:${await freePort()}`;
  const N = await startNode({ seeds: [address] }, { name: "early" });
  // Its first attempt has been refused by now (it was made before "ready").
  const late = await startNode({ binds: [address] }, { name: "late-seed" });
  await N.linkedTo(late.nodeId, 10_000);
  await N.joined(late);
});

test.run();
