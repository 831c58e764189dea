// The database across processes: one seed (it turns global when the first slave
// greets it) and slave nodes, each a child process (spec/fixtures/db-node.ts). Sets,
// monitors and queries between slaves, owner death, and Perl's merge rule for a key
// set by several nodes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { TestNode } from "./net-helpers.ts";
import { eventually, familyOf, monitor, startDbNode, stateOf, stopDbNodes } from "./db-helpers.ts";

let G: TestNode;
let A: TestNode;
let B: TestNode;
let C: TestNode;

test.before(async () => {
  try {
    G = await startDbNode({}, { name: "seed" });
    const seeds = [G.addresses[0]];
    [A, B, C] = await Promise.all(["a", "b", "c"].map((name) => startDbNode({ seeds }, { name })));
    // Every slave has adopted the seed as its master.
    for (const n of [A, B, C]) await eventually(async () => assert.is((await stateOf(n)).master, G.nodeId), 5000, `${n.name}'s master`);
  } catch (err) {
    console.error("db-network setup failed:", err);
    await stopDbNodes();
    process.exit(1);
  }
});

test.after(async () => {
  await stopDbNodes();
});

test("seed - the seed turned global, the slaves did not", async () => {
  assert.ok((await stateOf(G)).isGlobal);
  for (const n of [A, B, C]) assert.not.ok((await stateOf(n)).isGlobal);
});

test("set - a set on one slave is seen by dbMon on another and by dbFamily on a third", async () => {
  const m = await monitor(B, "net::one");
  await m.until(() => true, 5000, "the first call");
  await A.call("dbSet", { family: "net::one", key: "k", value: { from: "a", n: 1 } });
  const seen = await m.until((c) => c.added.includes("k"));
  assert.equal(seen.content, { k: { from: "a", n: 1 } });
  await eventually(async () => assert.equal(await familyOf(C, "net::one"), { k: { from: "a", n: 1 } }), 3000, "dbFamily on C");
  assert.equal((await C.call("dbKeys", { family: "net::one" })).result, ["k"]);
  assert.equal((await G.call("dbFamily", { family: "net::one" })).result, { k: { from: "a", n: 1 } }, "the global node answers itself");
  await A.call("dbSet", { family: "net::one", key: "k", value: 2 });
  assert.equal((await m.until((c) => c.changed.includes("k"))).content, { k: 2 });
  await A.call("dbDel", { family: "net::one", keys: ["k"] });
  assert.equal((await m.until((c) => c.deleted.includes("k"))).content, {});
  await m.cancel();
});

test("monitor - the first call comes for an empty family, and from a slave with content", async () => {
  const empty = await monitor(C, "net::empty");
  assert.equal(await empty.until(() => true), { ev: "dbmon", tag: empty.tag, family: "net::empty", content: {}, added: [], changed: [], deleted: [] } as never);
  await A.call("dbSet", { family: "net::full", key: "x", value: 1 });
  await B.call("dbSet", { family: "net::full", key: "y", value: 2 });
  await eventually(async () => assert.equal(Object.keys(await familyOf(C, "net::full")).length, 2), 3000, "both keys");
  const full = await monitor(C, "net::full");
  const first = await full.until(() => true);
  assert.equal(first.content, { x: 1, y: 2 });
  assert.equal([...first.added].sort(), ["x", "y"]);
  // A second monitor of the same family on the same node gets the current content too.
  const second = await monitor(C, "net::full");
  assert.equal((await second.until(() => true)).content, { x: 1, y: 2 });
  await Promise.all([empty.cancel(), full.cancel(), second.cancel()]);
});

test("dbWaitFor - a slave waits until another slave registers something", async () => {
  const waiting = C.call("dbWaitFor", { family: "net::service", timeout: 5 }, 6000);
  const nothing = await C.call("dbWaitFor", { family: "net::never", timeout: 0.2 });
  assert.is(nothing.result, null, "timeout -> undefined (null over the wire)");
  const { port } = await A.call("dbReg", { family: "net::service", value: "v1" });
  assert.equal((await waiting).result, { [port]: "v1" });
});

test("dbReg - killing the registered port removes it on every node", async () => {
  const { port } = await A.call("dbReg", { family: "net::reg", value: 1 });
  const m = await monitor(B, "net::reg");
  await m.until((c) => port in c.content, 5000, "the registration");
  await A.call("kil", { target: port, reason: ["custom", "gone"] });
  await m.until((c) => c.deleted.includes(port), 5000, "the deletion");
  assert.equal(await familyOf(C, "net::reg"), {});
  await m.cancel();
});

test("merge - two nodes set the same key; deleting one owner's copy brings back the other's value", async () => {
  const f = "net::shared";
  const m = await monitor(C, f);
  await A.call("dbSet", { family: f, key: "k", value: "from a" });
  await m.until((c) => c.content.k === "from a");
  await B.call("dbSet", { family: f, key: "k", value: "from b" });
  await m.until((c) => c.content.k === "from b" && c.changed.includes("k"));
  await B.call("dbDel", { family: f, keys: ["k"] });
  const back = await m.until((c) => c.content.k === "from a" && c.changed.includes("k"), 5000, "A's value to come back");
  assert.equal(back.deleted, []);
  assert.equal(await familyOf(C, f), { k: "from a" });
  await A.call("dbDel", { family: f, keys: ["k"] });
  await m.until((c) => c.deleted.includes("k"), 5000, "the key to go");
  assert.equal(await familyOf(C, f), {});
  await m.cancel();
});

test("owner death - killing a node removes its entries everywhere; a key it shared falls back to the other owner", async () => {
  const D = await startDbNode({ seeds: [G.addresses[0]] }, { name: "d" });
  const f = "net::owned";
  const m = await monitor(B, f);
  await A.call("dbSet", { family: f, key: "shared", value: "a's" });
  await m.until((c) => c.content.shared === "a's");
  await D.call("dbSet", { family: f, key: "only-d", value: 1 });
  await D.call("dbSet", { family: f, key: "shared", value: "d's" });
  await D.call("dbReg", { family: f, value: "port" });
  await m.until((c) => Object.keys(c.content).length === 3 && c.content.shared === "d's", 5000, "D's entries");
  await D.kill();
  const after = await m.until((c) => !("only-d" in c.content) && Object.keys(c.content).length === 1 && c.content.shared === "a's", 5000, "D's entries to go");
  assert.equal(after.content, { shared: "a's" });
  await eventually(async () => assert.equal(await familyOf(C, f), { shared: "a's" }), 3000, "C's view");
  await m.cancel();
});

test.run();
