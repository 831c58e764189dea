// The database before and after configure (lib/global/current.ts): entries set and
// family monitors started while the node was standalone carry over to the network.
// This spec process is itself a node (configured mid-way); the seed and another node
// are child processes (spec/fixtures/db-node.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { configure, dbFamily, dbMon, dbReg, dbSet, kil, port } from "../lib/index.ts";
import { globalService } from "../lib/global/current.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { type DbMonCall, eventually, familyOf, monitor, startDbNode, stopDbNodes } from "./db-helpers.ts";
import { deferred, waitFor } from "./helpers.ts";
import { SECRET, type TestNode } from "./net-helpers.ts";

const F = "pre::family";
const calls: DbMonCall[] = [];
const waiters = new Set<() => void>();
let G: TestNode;
let A: TestNode;
let registered = "";

/** The first call of the early monitor (seen or to come) that `pred` accepts. */
function until(pred: (c: DbMonCall) => boolean, label: string, ms = 5000): Promise<DbMonCall> {
  const d = deferred<DbMonCall>();
  const check = (): void => {
    const c = calls.find(pred);
    if (c !== undefined) d.resolve(c);
  };
  waiters.add(check);
  check();
  return waitFor(d.promise, ms, label).finally(() => waiters.delete(check));
}

// Before configure: a standalone node.
dbSet(F, "mine", 1);
registered = port();
dbReg(F, registered, "reg");
const early = dbMon(F, (content, added, changed, deleted) => {
  calls.push({ content: { ...content }, added: [...added], changed: [...changed], deleted: [...deleted] });
  for (const w of waiters) w();
});

test.before(async () => {
  try {
    await until(() => true, "the standalone first call");
    G = await startDbNode({}, { name: "seed" });
    A = await startDbNode({ seeds: [G.addresses[0]] }, { name: "a" });
    await configure({ nodeid: "spec/%u", binds: ["127.0.0.1:*"], seeds: [G.addresses[0]], secret: SECRET, norc: true });
  } catch (err) {
    console.error("db-configure setup failed:", err);
    await stopDbNodes();
    process.exit(1);
  }
});

test.after(async () => {
  await stopDbNodes();
  await currentNetwork()?.stop();
});

test("before configure - the first call shows what was set locally", () => {
  assert.equal(calls[0].content, { mine: 1, [registered]: "reg" });
  assert.equal(calls[0].added.sort(), ["mine", registered].sort());
});

test("after configure - entries set before reach the other nodes", async () => {
  await eventually(async () => assert.equal(await familyOf(A, F), { mine: 1, [registered]: "reg" }), 5000, "our entries on A");
});

test("after configure - a monitor started before hears the network, without repeating what it knew", async () => {
  await A.call("dbSet", { family: F, key: "theirs", value: 2 });
  const c = await until((x) => x.added.includes("theirs"), "A's entry in the early monitor");
  assert.equal(c.content, { mine: 1, [registered]: "reg", theirs: 2 });
  assert.not.ok(calls.slice(1).some((x) => x.added.includes("mine")), "'mine' was not reported as added again");
  assert.equal(await dbFamily(F), { mine: 1, [registered]: "reg", theirs: 2 });
});

test("after configure - dbReg from before still removes the port when it dies, everywhere", async () => {
  const m = await monitor(A, F);
  await m.until((x) => registered in x.content, 5000, "the registration on A");
  kil(registered);
  await m.until((x) => x.deleted.includes(registered), 5000, "the registration to go on A");
  await until((x) => x.deleted.includes(registered), "the early monitor to see it go");
});

test("after configure - the early monitor's guard stops it on the networked service", async () => {
  const watched = (globalService() as unknown as { watched: Map<string, unknown> }).watched;
  assert.ok(watched.has(F));
  early.cancel();
  assert.not.ok(watched.has(F));
  const before = calls.length;
  await A.call("dbSet", { family: F, key: "later", value: 3 });
  await eventually(async () => assert.ok("later" in (await dbFamily(F))), 5000, "A's later entry");
  assert.is(calls.length, before, "no more calls");
});

test.run();
