// Three global nodes (each lists all three as seeds, itself included), three slaves
// each knowing two of the globals, and one slave knowing only one. The globals mirror each other's databases; after a
// global is killed and restarted on its address, or a link between two globals is cut
// and comes back, every global node holds the same content again and the slaves'
// monitors saw the changes. monitor_timeout is short: what came through a global node
// whose link dropped is kept for half of it (a failover is not a change).
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { TestNode } from "./net-helpers.ts";
import { type RemoteMonitor, eventually, freePorts, monitor, startDbNode, stateOf, stopDbNodes } from "./db-helpers.ts";

let ports: number[];
let seeds: string[];
let G: TestNode[];
let A: TestNode;
let B: TestNode;
let C: TestNode;
/** A slave that knows only one global node (G[1]). */
let D: TestNode;

const F = "gl::family";
const MONITOR_TIMEOUT = 2;

async function startGlobal(i: number): Promise<TestNode> {
  return startDbNode({ binds: [`127.0.0.1:${ports[i]}`], seeds, monitor_timeout: MONITOR_TIMEOUT }, { name: `g${i + 1}` });
}

/** Waits until `n`'s master is one of `candidates`; returns it. */
async function masterOf(n: TestNode, candidates: string[]): Promise<string> {
  return eventually(async () => {
    const { master } = await stateOf(n);
    assert.ok(master !== null && candidates.includes(master), `${n.name}'s master ${master} is one of ${candidates.join(", ")}`);
    return master!;
  }, 5000, `${n.name}'s master`);
}

/** Waits until every global node's merged copy of `family` equals `expected`. */
async function converged(family: string, expected: Record<string, unknown>, ms = 8000): Promise<void> {
  for (const g of G) {
    await eventually(async () => assert.equal((await stateOf(g, family)).global, expected), ms, `${g.name}'s copy of ${family} to be ${JSON.stringify(expected)}`);
  }
}

/** Waits until a monitor's latest view of the family equals `expected`. */
function sees(m: RemoteMonitor, expected: Record<string, unknown>, label: string): Promise<unknown> {
  return m.until((c) => JSON.stringify(sorted(c.content)) === JSON.stringify(sorted(expected)), 8000, label);
}

function sorted(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

test.before(async () => {
  try {
    ports = await freePorts(3);
    seeds = ports.map((p) => `127.0.0.1:${p}`);
    G = await Promise.all([0, 1, 2].map(startGlobal));
    [A, B, C] = await Promise.all(["a", "b", "c"].map((name, i) => startDbNode({ seeds: [seeds[i], seeds[(i + 1) % 3]], monitor_timeout: MONITOR_TIMEOUT }, { name })));
    D = await startDbNode({ seeds: [seeds[1]], monitor_timeout: MONITOR_TIMEOUT }, { name: "d" });
    for (const n of [A, B, C]) await masterOf(n, G.map((g) => g.nodeId));
  } catch (err) {
    console.error("db-globals setup failed:", err);
    await stopDbNodes();
    process.exit(1);
  }
});

test.after(async () => {
  await stopDbNodes();
});

let mA: RemoteMonitor;
let mB: RemoteMonitor;
let mC: RemoteMonitor;

test("mirror - three global nodes hold the entries of every slave; each slave's monitor sees them all", async () => {
  for (const g of G) assert.ok((await stateOf(g)).isGlobal, `${g.name} is global`);
  [mA, mB, mC] = await Promise.all([A, B, C].map((n) => monitor(n, F)));
  await A.call("dbSet", { family: F, key: "a", value: 1 });
  await B.call("dbSet", { family: F, key: "b", value: 2 });
  await C.call("dbSet", { family: F, key: "c", value: 3 });
  await G[0].call("dbSet", { family: F, key: "g1", value: "global's own" });
  const all = { a: 1, b: 2, c: 3, g1: "global's own" };
  await converged(F, all);
  await sees(mA, all, "everything on A");
  await sees(mB, all, "everything on B");
  await sees(mC, all, "everything on C");
  await C.call("dbDel", { family: F, keys: ["c"] });
  await G[0].call("dbDel", { family: F, keys: ["g1"] });
  await converged(F, { a: 1, b: 2 });
  await sees(mA, { a: 1, b: 2 }, "the deletes on A");
});

test("heal - a global node killed and restarted on its address: everything converges again", async () => {
  await D.call("dbSet", { family: F, key: "d1", value: "before" });
  await converged(F, { a: 1, b: 2, d1: "before" });
  // Kill G[1]: its slaves with another seed fail over; D, which knows only G[1], is
  // left without a master. While G[1] is down, A, B and D change things.
  await G[1].kill();
  for (const n of [A, B, C]) await masterOf(n, [G[0].nodeId, G[2].nodeId]);
  await eventually(async () => assert.is((await stateOf(D)).master, null), 5000, "D to be without a master");
  await A.call("dbSet", { family: F, key: "during", value: "x" });
  await A.call("dbDel", { family: F, keys: ["a"] });
  await B.call("dbSet", { family: F, key: "b2", value: "while down" });
  await D.call("dbSet", { family: F, key: "d2", value: "no master" });
  // D's entry came through the dead global and D registers with no other: the
  // others drop it once they stop waiting for that (monitor_timeout / 2).
  await mA.until((c) => c.deleted.includes("d1"), 5000, "D's entry to vanish from A's view");
  G[1] = await startGlobal(1);
  await masterOf(D, [G[1].nodeId]);
  const expected = { b: 2, b2: "while down", during: "x", d1: "before", d2: "no master" };
  await converged(F, expected);
  await sees(mA, expected, "A's view after the heal");
  await sees(mB, expected, "B's view after the heal");
  await sees(mC, expected, "C's view after the heal");
});

test("heal - a cut link between two global nodes comes back and they converge", async () => {
  // Two slaves with different masters: cutting the link between those masters makes
  // each master keep what came through the other (as an orphan, until the link is
  // back or monitor_timeout / 2 has passed).
  const ids = G.map((g) => g.nodeId);
  const slaves: { node: TestNode; mon: RemoteMonitor; master: string }[] = [];
  for (const [node, mon] of [[A, mA], [B, mB], [C, mC]] as const) slaves.push({ node, mon, master: await masterOf(node, ids) });
  const X = slaves.find((x) => slaves.some((y) => y.master !== x.master));
  assert.ok(X !== undefined, "two slaves with different masters");
  const Y = slaves.find((y) => y.master !== X.master)!;
  const GX = G[ids.indexOf(X.master)];
  const GY = G[ids.indexOf(Y.master)];
  await Y.node.call("dbSet", { family: F, key: "y1", value: "before" });
  await X.mon.until((c) => c.content.y1 === "before", 5000, `${Y.node.name}'s entry on ${X.node.name}`);
  await GX.call("monNodes");
  await GX.call("cut", { node: GY.nodeId });
  await GX.event((e) => e.ev === "node" && e.nodeId === GY.nodeId && e.up === false, 5000, `${GX.name} to lose ${GY.name}`);
  // While (or just after) the link is down, both slaves change things.
  await Y.node.call("dbSet", { family: F, key: "y2", value: "cut" });
  await X.node.call("dbSet", { family: F, key: "x2", value: "cut too" });
  await GX.event((e) => e.ev === "node" && e.nodeId === GY.nodeId && e.up === true, 10_000, `the link between ${GX.name} and ${GY.name} to come back`);
  const expected = { b: 2, b2: "while down", during: "x", d1: "before", d2: "no master", y1: "before", y2: "cut", x2: "cut too" };
  await converged(F, expected);
  await sees(mA, expected, "A's view after the cut");
  await sees(mB, expected, "B's view after the cut");
  await sees(mC, expected, "C's view after the cut");
});

test.run();
