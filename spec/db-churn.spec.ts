// Three global nodes and thirty ordinary ones under churn: one global is killed with
// SIGKILL, restarted, then another is killed, while nodes join (each registering
// entries with dbReg) and leave (SIGKILL), and a live node ends one of its ports.
// Every ordinary node monitors the family from the start. Asserted: every surviving
// monitor converges to the entries of the live owners within monitor_timeout after
// the last fault, and the sequence of callbacks each listener got is exactly the
// changes that happened: no live entry reported deleted (a failover is not a change),
// no entry added twice, no change of a value that never changed, no deletion of an
// entry the listener did not have. The global nodes end with the same content.
//
// The nodes run as plain node from a bundle of the fixture (spec/db-helpers.ts), so
// thirty-five of them start in a few seconds.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { TestNode } from "./net-helpers.ts";
import { type DbMonCall, type RemoteMonitor, eventually, freePorts, monitor, startDbNode, stateOf, stopDbNodes } from "./db-helpers.ts";

/** Seconds: short, so that the deadline asserted below is short too. */
const MONITOR_TIMEOUT = 4;
const MEMBERS = 27;
const JOINERS = 3;
const F = "churn::family";

let ports: number[];
let seeds: string[];
const G: TestNode[] = [];

interface Member {
  node: TestNode;
  mon: RemoteMonitor;
  /** Ports it registered (the keys it owns), each with whether it still lives. */
  entries: Map<string, boolean>;
  alive: boolean;
}

const members: Member[] = [];

function startGlobal(i: number): Promise<TestNode> {
  return startDbNode({ binds: [`127.0.0.1:${ports[i]}`], seeds, monitor_timeout: MONITOR_TIMEOUT }, { name: `g${i + 1}`, plain: true });
}

/** A new ordinary node (seeds in an order of its own, so masters spread), monitoring F, owning two entries. */
async function join(i: number): Promise<Member> {
  const order = [0, 1, 2].map((k) => seeds[(i + k) % 3]);
  const node = await startDbNode({ seeds: order, monitor_timeout: MONITOR_TIMEOUT }, { name: `m${i}`, plain: true });
  const mon = await monitor(node, F, true);
  const entries = new Map<string, boolean>();
  for (let k = 0; k < 2; k++) entries.set((await node.call("dbReg", { family: F, value: node.name })).port as string, true);
  const m = { node, mon, entries, alive: true };
  members.push(m);
  return m;
}

async function leave(m: Member): Promise<void> {
  await m.node.kill();
  m.alive = false;
}

/** The entries that exist now: live owners' live ports. */
function liveKeys(): Set<string> {
  const keys = new Set<string>();
  for (const m of members) if (m.alive) for (const [k, live] of m.entries) if (live) keys.add(k);
  return keys;
}

/** Every key ever registered, with whether it still exists. */
function everKeys(): Map<string, boolean> {
  const all = new Map<string, boolean>();
  for (const m of members) for (const [k, live] of m.entries) all.set(k, m.alive && live);
  return all;
}

/**
 * Replays a listener's callbacks: the content they imply, and every callback that
 * reports something that did not happen.
 */
function replay(calls: DbMonCall[], ever: Map<string, boolean>): { content: Set<string>; wrong: string[] } {
  const content = new Set<string>();
  const wrong: string[] = [];
  for (const c of calls) {
    for (const k of c.added) {
      if (!ever.has(k)) wrong.push(`added ${k}, which nobody registered`);
      else if (content.has(k)) wrong.push(`added ${k} again`);
      content.add(k);
    }
    for (const k of c.changed) wrong.push(`changed ${k}, whose value never changed`);
    for (const k of c.deleted) {
      if (!content.has(k)) wrong.push(`deleted ${k}, which it did not have`);
      else if (ever.get(k) === true) wrong.push(`deleted ${k}, a live entry`);
      content.delete(k);
    }
    if (c.n !== content.size) wrong.push(`reported ${c.n} entries where its changes add up to ${content.size}`);
  }
  return { content, wrong };
}

function sameKeys(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((k) => b.has(k));
}

test.before(async () => {
  try {
    ports = await freePorts(3);
    seeds = ports.map((p) => `127.0.0.1:${p}`);
    G.push(...(await Promise.all([0, 1, 2].map(startGlobal))));
    await Promise.all(Array.from({ length: MEMBERS }, (_, i) => join(i)));
  } catch (err) {
    console.error("db-churn setup failed:", err);
    await stopDbNodes();
    process.exit(1);
  }
});

test.after(async () => {
  await stopDbNodes();
});

/** Waits until every live member's listener has exactly the live entries; returns the ms it took. */
async function converged(ms: number): Promise<number> {
  const start = Date.now();
  const expected = liveKeys();
  for (const m of members.filter((x) => x.alive)) {
    await m.mon.until(() => sameKeys(replay(m.mon.calls, everKeys()).content, expected), ms - (Date.now() - start), `${m.node.name}'s view to hold the ${expected.size} live entries`);
  }
  return Date.now() - start;
}

test("churn - three globals fail over while nodes join and leave: no live entry is reported deleted, every change is seen once", async () => {
  await converged(15_000);

  // First fault: a global dies; meanwhile a node joins, one leaves, one ends a port.
  await G[0].kill();
  const [joined] = await Promise.all([join(MEMBERS), leave(members[0])]);
  const ended = members[1].entries.keys().next().value!;
  await members[1].node.call("kil", { target: ended });
  members[1].entries.set(ended, false);
  assert.ok(joined.alive);

  // It comes back on its address; more churn.
  G[0] = await startGlobal(0);
  await Promise.all([join(MEMBERS + 1), leave(members[2])]);

  // Second fault: another global dies, a node joins, and one whose master was that
  // global dies with it (so nobody tells the other globals it left: its entries go
  // when they stop waiting for it to register again); then a node joins.
  const masters = await Promise.all(members.map(async (m) => (m.alive ? (await stateOf(m.node)).master : null)));
  const orphaned = members.find((_, i) => masters[i] === G[1].nodeId);
  assert.ok(orphaned !== undefined, `a node whose master is ${G[1].name}`);
  await Promise.all([G[1].kill(), leave(orphaned)]);
  await join(MEMBERS + 2);
  const lastFault = Date.now();

  const took = await converged(MONITOR_TIMEOUT * 1000 + 5000);
  const sinceFault = Date.now() - lastFault;
  console.log(`# db-churn: every listener converged ${sinceFault} ms after the last fault (checking took ${took} ms); monitor_timeout ${MONITOR_TIMEOUT} s`);
  assert.ok(sinceFault <= MONITOR_TIMEOUT * 1000, `converged within monitor_timeout (${MONITOR_TIMEOUT} s) after the last fault, not ${sinceFault} ms`);

  const ever = everKeys();
  const wrong: string[] = [];
  let callbacks = 0;
  for (const m of members.filter((x) => x.alive)) {
    callbacks += m.mon.calls.length;
    for (const w of replay(m.mon.calls, ever).wrong) wrong.push(`${m.node.name}: ${w}`);
  }
  assert.equal(wrong.slice(0, 20), [], `${wrong.length} wrong callbacks among ${callbacks}`);

  const expected = [...liveKeys()].sort();
  for (const g of [G[0], G[2]]) {
    await eventually(async () => assert.equal(Object.keys((await stateOf(g, F)).global ?? {}).sort(), expected), 2000, `${g.name}'s copy of the family`);
  }
  assert.is(members.filter((m) => m.alive).length, MEMBERS + JOINERS - 3);
});

test.run();
