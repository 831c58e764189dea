// The Redis backend's own rules (lib/db/redis.ts) over ioredis-mock, in every npm test:
// several owners of one key, leases (a crashed owner's entries vanish within the
// bound), a node whose lease ran out writing its entries again, close, a lost
// subscription made up by re-reading, an outage of the commands connection, and the
// `db`/`db_lease` configuration checks. spec/db-redis.spec.ts does the same kind of
// things against a real redis-server and real node processes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { isDbSetting, setDbBackend } from "../lib/db/backend.ts";
import type { RedisBackend } from "../lib/db/redis.ts";
import { normalizeValue } from "../lib/config/rc.ts";
import { ConfigError, DbUnavailableError, configure, dbDel, dbFamily, dbKeys, dbSet } from "../lib/index.ts";
import { captureLog, rejects, throwsSync } from "./helpers.ts";
import { type Recorder, record } from "./redis-monitor.ts";
import { connectionsOf, freshMockHost, mockBackend, mockClient, reconnectMock, until } from "./redis-helpers.ts";

const open: RedisBackend[] = [];
let counter = 0;
const fresh = (): string => `mock::f${++counter}`;

/** Two "nodes" on one mock Redis: `a` serves the db API of this process, `b` is used directly. */
async function pair(lease = 10): Promise<{ host: string; a: RedisBackend; b: RedisBackend }> {
  const host = freshMockHost();
  const a = mockBackend(host, "node-a", { lease });
  const b = mockBackend(host, "node-b", { lease });
  open.push(a, b);
  setDbBackend(null);
  setDbBackend(a);
  await dbKeys("warmup");
  await b.query("g_db_keys", "warmup");
  return { host, a, b };
}

test.after.each(async () => {
  setDbBackend(null);
  await Promise.all(open.splice(0).map((b) => b.close()));
});

// ---- owners ------------------------------------------------------------------------------

test("owners - the newest set of a key is seen; deleting it brings back the other owner's value", async () => {
  const { b } = await pair();
  const f = fresh();
  const mon: Recorder = record(b, f);
  await mon.call(1);
  dbSet(f, "k", "from a");
  assert.equal((await mon.call(2)).added, ["k"]);
  b.localSet(f, "k", "from b");
  const c3 = await mon.call(3);
  assert.equal(c3.changed, ["k"]);
  assert.equal(c3.family, { k: "from b" });
  assert.equal(await dbFamily(f), { k: "from b" });
  b.localDel(f, ["k"]);
  const c4 = await mon.call(4);
  assert.equal(c4.changed, ["k"]);
  assert.equal(c4.family, { k: "from a" });
  assert.equal(await dbFamily(f), { k: "from a" });
  dbDel(f, "k");
  assert.equal((await mon.call(5)).deleted, ["k"]);
  assert.equal(await dbFamily(f), {});
});

test("owners - a node deletes only what it set itself", async () => {
  const { b } = await pair();
  const f = fresh();
  b.localSet(f, "theirs", 1);
  dbSet(f, "mine", 2);
  dbDel(f, "theirs");
  assert.equal(await dbFamily(f), { theirs: 1, mine: 2 });
  b.localDel(f, ["mine"]);
  assert.equal(await dbFamily(f), { theirs: 1, mine: 2 });
});

// ---- leases ------------------------------------------------------------------------------

test("lease - a crashed owner's entries leave queries and monitors within its lease", async () => {
  // The survivor's own lease is long (it ticks every 2.5 s): it sweeps when the crashed
  // owner's lease is due, not at its next tick.
  const lease = 0.4;
  const host = freshMockHost();
  const a = mockBackend(host, "node-a", { lease });
  const b = mockBackend(host, "node-b", { lease: 10 });
  open.push(a, b);
  setDbBackend(a);
  const f = fresh();
  const mon = record(b, f); // watched by b, the survivor
  await mon.call(1);
  dbSet(f, "a1", 1);
  dbSet(f, "a2", 2);
  b.localSet(f, "b1", 3);
  await until(() => Object.keys(mon.latest).length === 3, 2000, "all three entries");
  a.abandon(); // no more renewals, no cleanup: a crash
  const crashed = Date.now();
  const hiddenAfter = await until(async () => Object.keys((await b.query("g_db_family", f)) as object).length === 1, 3000, "queries to drop the crashed owner's entries");
  assert.ok(hiddenAfter <= lease * 1000 + 300, `hidden from queries after ${hiddenAfter} ms (lease ${lease * 1000} ms)`);
  const gone = await mon.until((c) => c.deleted.length > 0, 3000, "the monitor to hear of it");
  const toldAfter = Date.now() - crashed;
  assert.equal(gone.deleted, ["a1", "a2"]);
  assert.equal(gone.family, { b1: 3 });
  assert.ok(toldAfter <= lease * 1000 + 300, `monitor told after ${toldAfter} ms (lease ${lease * 1000} ms)`);
});

test("lease - a node whose lease ran out (cut off too long) writes its entries again", async () => {
  // a renews every 2.5 s, b sweeps every 0.1 s.
  const host = freshMockHost();
  const a = mockBackend(host, "node-a", { lease: 10 });
  const b = mockBackend(host, "node-b", { lease: 0.4 });
  open.push(a, b);
  setDbBackend(a);
  const f = fresh();
  dbSet(f, "survives", "yes");
  const mon = record(b, f);
  assert.equal((await mon.call(1)).family, { survives: "yes" });
  using log = captureLog();
  // As if node-a had not renewed for longer than its lease: its lease is expired, b's
  // sweep removes its entries, and a's next renewal finds its lease gone. (Should a
  // renew between the two, expire it again.)
  const raw = mockClient(host);
  for (let attempt = 1; ; attempt++) {
    await raw.zadd("aemp:nodes", 1, "node-a");
    const swept = await mon.until((c) => c.deleted.includes("survives"), 1000, "the sweep").catch(() => null);
    if (swept !== null) break;
    if (attempt === 3) assert.unreachable("node-a was never swept");
  }
  const back = await mon.until((c) => c.added.includes("survives"), 5000, "node-a to write its entries again", mon.calls.length + 1);
  assert.equal(back.family, { survives: "yes" });
  await log.until("lease");
  raw.disconnect();
});

test("close - a node that closes removes its entries at once, long before its lease", async () => {
  const { b } = await pair(30);
  const f = fresh();
  dbSet(f, "x", 1);
  const mon = record(b, f);
  assert.equal((await mon.call(1)).family, { x: 1 });
  await open[0].close();
  const c = await mon.until((x) => x.deleted.length > 0, 2000, "the deletion");
  assert.equal(c.deleted, ["x"]);
  await rejects(open[0].query("g_db_family", f), { instanceOf: DbUnavailableError, code: "ERR_DB_UNAVAILABLE", message: "closed" });
});

// ---- reconnecting -------------------------------------------------------------------------

test("reconnect - notifications lost while the subscription was down are made up by re-reading the family", async () => {
  const { b } = await pair();
  const f = fresh();
  dbSet(f, "stays", 1);
  dbSet(f, "goes", 2);
  dbSet(f, "changes", "old");
  const mon = record(b, f);
  await mon.call(1);
  const { subscriber } = connectionsOf(b);
  subscriber.disconnect();
  const down = await mon.status((s) => !s.up, 2000, "told down");
  assert.instance((down as { error: unknown }).error, DbUnavailableError);
  // Changes nobody tells b about.
  dbDel(f, "goes");
  dbSet(f, "changes", "new");
  dbSet(f, "arrives", 3);
  assert.equal(await dbFamily(f), { stays: 1, changes: "new", arrives: 3 });
  const before = mon.calls.length;
  reconnectMock(subscriber);
  await mon.status((s) => s.up, 2000, "told up");
  assert.is(mon.calls.length, before + 1, `one call with the whole difference: ${JSON.stringify(mon.calls.slice(before - 1))}`);
  const diff = mon.calls[before];
  assert.equal(diff, { family: { stays: 1, changes: "new", arrives: 3 }, added: ["arrives"], changed: ["changes"], deleted: ["goes"] });
  // And it is live again.
  dbSet(f, "after", true);
  assert.equal((await mon.until((c) => c.added.includes("after"), 2000)).family.after, true);
});

test("outage - commands connection down: queries reject with ERR_DB_UNAVAILABLE, sets are kept and written when it is back", async () => {
  const { a, b } = await pair();
  const f = fresh();
  dbSet(f, "before", 1);
  const mon = record(a, f);
  await mon.call(1);
  using _log = captureLog();
  const { commands } = connectionsOf(a);
  commands.disconnect();
  await mon.status((s) => !s.up, 2000, "told down");
  const err = (await rejects(dbFamily(f), { instanceOf: DbUnavailableError, code: "ERR_DB_UNAVAILABLE" }, 1000)) as DbUnavailableError;
  assert.match(err.message, /unreachable/);
  assert.match(err.backend, /mock/);
  // The callback form must not turn the failure into an unhandled rejection.
  dbKeys(f, () => assert.unreachable("no answer while down"));
  dbSet(f, "during", 2);
  dbDel(f, "before");
  assert.equal(await b.query("g_db_family", f), { before: 1 }, "nothing reached Redis");
  reconnectMock(commands);
  await mon.status((s) => s.up, 2000, "told up");
  assert.equal(await dbFamily(f), { during: 2 });
  assert.equal(await b.query("g_db_family", f), { during: 2 });
  await mon.until((c) => c.family.during === 2 && !("before" in c.family), 2000, "the monitor to catch up");
});

// ---- configuration -------------------------------------------------------------------------

test("config - db is \"global\" or a redis:// / rediss:// URL; db_lease a positive number", async () => {
  for (const ok of ["global", "redis://127.0.0.1:6379/0", "redis://h:1/12", "redis://:secret@h:6379", "rediss://user:pw@redis.example:6380/3", "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster", "redis+sentinel://:pw@s1,s2:26380/m/2", "redis+cluster://10.0.0.1:7000,10.0.0.2:7000", "rediss+cluster://u:p@[::1]:7000"]) assert.ok(isDbSetting(ok), ok);
  for (const bad of ["", "redis", "http://h:1/0", "redis://", "redis://h:1/x", "postgres://h/db", "redis+sentinel://h:1", "redis+sentinel://h:1/", "redis+sentinel://h:99999/m", "redis+cluster://h:1/0", "redis+cluster://", "redis+cluster://a:1,,b:2", 5, null]) assert.not.ok(isDbSetting(bad), String(bad));
  throwsSync(() => normalizeValue("db", "mysql://x", "profile 'p' in rc"), { instanceOf: ConfigError, message: "'db' must be" });
  throwsSync(() => normalizeValue("db_lease", "-1", "profile 'p' in rc"), { instanceOf: ConfigError, message: "'db_lease'" });
  assert.is(normalizeValue("db_lease", "2.5", "rc"), 2.5);
  await rejects(configure({ db: "mysql://localhost/x", norc: true }), { instanceOf: TypeError, message: "'db'" });
  await rejects(configure({ db: "redis://127.0.0.1:1/0", db_lease: 0, norc: true }), { instanceOf: TypeError, message: "'db_lease'" });
});

test("arguments - lease and owner of a backend are checked", () => {
  throwsSync(() => mockBackend(freshMockHost(), "x", { lease: 0 }), { instanceOf: TypeError, message: "'lease'" });
  throwsSync(() => mockBackend(freshMockHost(), "bad#owner"), { instanceOf: TypeError, message: "'owner'" });
});

test.run();
