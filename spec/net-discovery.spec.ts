// Discovery through a seed: S (a seed), A and B (seeds = [S]) are child processes; a
// fake peer in this process (it is not a node itself) watches S on the wire. A reaches a
// port on B knowing only the port ID, which works only if A asks S where B listens
// (g_find). S turns global when a node makes it its master; a seed listing itself is
// global from the start.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FakePeer, type TestNode, freePort, startNode, stopAllNodes } from "./net-helpers.ts";

let S: TestNode;
let A: TestNode;
let B: TestNode;
let watcher: FakePeer;

const isGlobalGreeting = (p: unknown[]): boolean => p[0] === "" && p[1] === "g_global";

/** Asks `peer`'s node for a database query and resolves with the result. */
async function query(peer: FakePeer, kind: string, family: string): Promise<unknown> {
  const id = `q${Math.random()}`;
  await peer.sendPacket(["", kind, family, id]);
  const reply = await peer.packet((p) => p[0] === "" && p[1] === "g_reply" && p[2] === id, 2000, `the g_reply to ${kind}`);
  return reply[3];
}

/** Asks `peer`'s node where `nodeId` listens (g_find) and resolves with the answer. */
async function find(peer: FakePeer, nodeId: string): Promise<unknown> {
  const before = peer.packets.length;
  await peer.sendPacket(["", "g_find", nodeId]);
  const found = await peer.packet((p) => peer.packets.indexOf(p) >= before && p[1] === "g_found" && p[2] === nodeId, 2000, `g_found for ${nodeId}`);
  return found[3];
}

test.before(async () => {
  try {
    S = await startNode({}, { name: "seed" });
  } catch (err) {
    console.error("net-discovery setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  watcher?.close();
  await stopAllNodes();
});

test("seed - not global before any node chose it as master", async () => {
  watcher = await FakePeer.connect(S.addresses[0]);
  await watcher.handshake({ nodeId: "watcher/1" });
  // A global node greets every new link with g_global before anything else; the answer
  // to our request comes after anything S sent at link-up.
  await watcher.ping();
  assert.not.ok(watcher.packets.some(isGlobalGreeting), JSON.stringify(watcher.packets));
  assert.is(await find(watcher, "anyone"), null);
});

test("seed - becomes global when a node joins it (g_slave), and says so to its links", async () => {
  A = await startNode({ seeds: [S.addresses[0]] }, { name: "a" });
  await A.joined(S);
  await watcher.packet(isGlobalGreeting, 2000, "g_global from S");
  // It now serves the database: A's listen addresses, S itself in 'g.
  assert.equal(await find(watcher, A.nodeId), A.addresses);
  assert.equal(await query(watcher, "g_db_keys", "'g"), [S.nodeId]);
  const l = (await query(watcher, "g_db_family", "'l")) as Record<string, unknown>;
  assert.equal(l[A.nodeId], A.addresses);
  assert.equal(l[S.nodeId], S.addresses);
});

test("discovery - A reaches a port on B knowing only its port ID (addresses from S)", async () => {
  B = await startNode({ seeds: [S.addresses[0]] }, { name: "b" });
  await B.joined(S);
  const before = await A.call("state", { nodes: [B.nodeId] });
  assert.equal(before.up, { [B.nodeId]: false });
  const rec = await B.port("record");
  await A.call("snd", { to: rec, msg: ["hello from A", 1] });
  assert.equal(await B.message(rec, "hello from A"), ["hello from A", 1]);
  const after = await A.call("state", { nodes: [B.nodeId] });
  assert.equal(after.up, { [B.nodeId]: true });
  // And back over the same link: a cal from A to an echo port on B.
  const echo = await B.port("echo");
  assert.equal((await A.call("cal", { to: echo, msg: ["round", "trip"], timeout: 3 })).reply, ["round", "trip"]);
});

test("discovery - B reaches A the same way, and a spawn from B runs on A", async () => {
  const rec = await A.port("record");
  await B.call("snd", { to: rec, msg: ["hello from B"] });
  assert.equal(await A.message(rec, "hello from B"), ["hello from B"]);
  const spawned = (await B.call("spawn", { node: A.nodeId, init: "test::echo" })).port as string;
  assert.ok(spawned.startsWith(`${A.nodeId}#`));
  assert.equal((await B.call("cal", { to: spawned, msg: ["spawned?"], timeout: 3 })).reply, ["spawned?"]);
});

test("seed - forgets a node whose link is lost", async () => {
  assert.equal(await find(watcher, B.nodeId), B.addresses);
  await B.kill();
  await S.event((e) => e.ev === "node" && e.nodeId === B.nodeId && e.up === false, 5000, "S to see B go down");
  assert.is(await find(watcher, B.nodeId), null);
  const l = (await query(watcher, "g_db_family", "'l")) as Record<string, unknown>;
  assert.not.ok(B.nodeId in l);
  assert.ok(A.nodeId in l);
  // A, which was linked to B, gets a monitor firing for B's ports, not a hang.
  const gone = await A.mon(`${B.nodeId}#whatever`);
  const reason = await gone();
  assert.equal(reason.slice(0, 2), ["transport_error", B.nodeId]);
});

test("crossed links - nodes dialling each other at once keep one link per pair, nothing lost", async () => {
  const nodes = await Promise.all(Array.from({ length: 5 }, (_, i) => startNode({ seeds: [S.addresses[0]] }, { name: `x${i}` })));
  await Promise.all(nodes.map((n) => n.joined(S)));
  const ports = await Promise.all(nodes.map((n) => n.port("record")));
  // Every pair sends both ways in the same instant, so each pair dials both ways at once.
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      nodes[i].command("snd", { to: ports[j], msg: ["from", i] });
      nodes[j].command("snd", { to: ports[i], msg: ["from", j] });
    }
  }
  await Promise.all(nodes.flatMap((n, j) => nodes.map((_, i) => (i === j ? undefined : n.event((e) => e.ev === "msg" && e.port === ports[j] && e.msg[1] === i, 5000, `the message from x${i}`)))));
  for (const [j, n] of nodes.entries()) {
    const others = nodes.filter((_, i) => i !== j).map((o) => o.nodeId);
    const downs = n.events.filter((e) => e.ev === "node" && !e.up && others.includes(e.nodeId));
    assert.equal(downs, [], `${n.name} saw links go down`);
    const state = await n.call("state", { nodes: others });
    assert.ok(others.every((o) => state.up[o] === true), JSON.stringify(state.up));
  }
  await Promise.all(nodes.map((n) => n.kill()));
});

test("seed listing itself - global from the start", async () => {
  const address = `127.0.0.1:${await freePort()}`;
  const G = await startNode({ binds: [address], seeds: [address] }, { name: "self-seed" });
  const peer = await FakePeer.connect(address);
  try {
    await peer.handshake({ nodeId: "watcher/2" });
    // Nobody sent it g_slave: the greeting proves it was global already.
    const first = await peer.packet(() => true, 2000, "the first packet");
    assert.equal(first, ["", "g_global"]);
    assert.equal(await query(peer, "g_db_keys", "'g"), [G.nodeId]);
    assert.equal(await find(peer, G.nodeId), [address]);
  } finally {
    peer.close();
  }
});

test.run();
