// Master failover: two seeds that are both global (each lists itself among the seeds)
// and two slaves that know both. When a slave's master dies, the slave adopts the other
// global node, sends it its entries again and re-sends the queries and monitors the
// dead master never answered.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { TestNode } from "./net-helpers.ts";
import { eventually, familyOf, freePorts, monitor, startDbNode, stateOf, stopDbNodes } from "./db-helpers.ts";

let G1: TestNode;
let G2: TestNode;
let S: TestNode;
let T: TestNode;

test.before(async () => {
  try {
    const ports = await freePorts(2);
    const seeds = ports.map((p) => `127.0.0.1:${p}`);
    [G1, G2] = await Promise.all(ports.map((p, i) => startDbNode({ binds: [`127.0.0.1:${p}`], seeds }, { name: `g${i + 1}` })));
    [S, T] = await Promise.all(["s", "t"].map((name) => startDbNode({ seeds }, { name })));
    for (const n of [S, T]) {
      await eventually(async () => assert.ok([G1.nodeId, G2.nodeId].includes((await stateOf(n)).master!)), 5000, `${n.name}'s master`);
    }
  } catch (err) {
    console.error("db-failover setup failed:", err);
    await stopDbNodes();
    process.exit(1);
  }
});

test.after(async () => {
  await stopDbNodes();
});

test("globals - both seeds are global and mirror each other", async () => {
  assert.ok((await stateOf(G1)).isGlobal);
  assert.ok((await stateOf(G2)).isGlobal);
  await T.call("dbSet", { family: "fo::mirror", key: "k", value: "t" });
  await S.call("dbSet", { family: "fo::mirror", key: "j", value: "s" });
  for (const g of [G1, G2]) {
    await eventually(async () => assert.equal((await stateOf(g, "fo::mirror")).global, { k: "t", j: "s" }), 5000, `${g.name}'s copy`);
  }
  await T.call("dbDel", { family: "fo::mirror", keys: ["k"] });
  for (const g of [G1, G2]) {
    await eventually(async () => assert.equal((await stateOf(g, "fo::mirror")).global, { j: "s" }), 5000, `${g.name}'s copy after the delete`);
  }
});

test("failover - the slave switches master; queries and monitors sent to the dead one are answered by the new one", async () => {
  const f = "fo::family";
  await T.call("dbSet", { family: f, key: "before", value: 1 });
  const established = await monitor(S, f);
  await established.until((c) => c.content.before === 1, 5000, "T's entry on S");

  const master = (await stateOf(S)).master!;
  const [M, O] = master === G1.nodeId ? [G1, G2] : [G2, G1];
  // Freeze the master: what S sends it now is never answered.
  M.child.kill("SIGSTOP");
  const query = S.call("dbFamily", { family: f }, 10_000);
  const second = await monitor(S, f); // served from S's own copy of the family
  const fresh = await monitor(S, "fo::other");
  await S.call("dbSet", { family: f, key: "from-s", value: "s" });
  await M.kill();

  await eventually(async () => assert.is((await stateOf(S)).master, O.nodeId), 5000, "S to adopt the other global node");
  // S sends the new master its entries before re-sending its requests, so the answer
  // has S's own set. (T's entry may be missing from it for a moment: if T's master
  // was the dead one too, the survivor dropped T's entries until T's g_slave arrives.)
  const answer = (await query).result as Record<string, unknown>;
  assert.is(answer["from-s"], "s", "the pending query was answered by the new master");
  assert.equal((await fresh.until(() => true, 5000, "the first call of a monitor started while the master was frozen")).content, {});
  await second.until((c) => c.content.before === 1, 5000, "the first call of a second monitor of an already monitored family");

  // S's set made while its master was frozen reached the new master with S's g_slave.
  await eventually(async () => assert.is((await familyOf(T, f))["from-s"], "s"), 5000, "S's entry, seen from T");
  // Changes after the failover reach both monitors.
  await T.call("dbSet", { family: f, key: "after", value: 2 });
  await established.until((c) => c.content.after === 2 && c.content.before === 1 && c.content["from-s"] === "s", 5000, "the change after failover");
  await second.until((c) => c.content.after === 2, 5000, "the change after failover (second monitor)");
  await T.call("dbSet", { family: "fo::other", key: "x", value: true });
  await fresh.until((c) => c.added.includes("x"), 5000, "a change on the monitor started during the freeze");
});

test("seeds - a slave started before its only seed adopts it once the seed listens", async () => {
  const [port] = await freePorts(1);
  const address = `127.0.0.1:${port}`;
  const early = await startDbNode({ seeds: [address] }, { name: "early" });
  await early.call("dbSet", { family: "fo::early", key: "k", value: "queued" });
  const late = await startDbNode({ binds: [address], seeds: [address] }, { name: "late" });
  await eventually(async () => assert.is((await stateOf(early)).master, late.nodeId), 10_000, "the early slave to adopt the late seed");
  await eventually(async () => assert.equal((await stateOf(late, "fo::early")).global, { k: "queued" }), 5000, "the slave's entry on the seed");
});

test.run();
