// The database API in one process that never called configure (the standalone global
// service, lib/global/current.ts): lib/db/db.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type DbChange,
  type DbFamily,
  dbChanges,
  dbDel,
  dbFamily,
  dbKeys,
  dbMon,
  dbReg,
  dbSet,
  dbValues,
  dbWaitFor,
  kil,
  PortContextError,
  peval,
  port,
  snd,
} from "../lib/index.ts";
import { globalService } from "../lib/global/current.ts";
import { captureLog, deferred, flushRunQueue, throwsSync, waitFor } from "./helpers.ts";

let counter = 0;
/** A family name no other test uses. */
function fresh(prefix = "spec"): string {
  return `${prefix}::f${++counter}`;
}

interface Call {
  family: DbFamily;
  added: string[];
  changed: string[];
  deleted: string[];
}

/** A dbMon listener that records every call (with a snapshot) and can wait for the nth. */
function recorder(family: string, snapshot = true) {
  const calls: Call[] = [];
  const waiters: { n: number; resolve: (c: Call) => void }[] = [];
  const g = dbMon(family, (fam, added, changed, deleted) => {
    calls.push(snapshot ? { family: { ...fam }, added: [...added].sort(), changed: [...changed].sort(), deleted: [...deleted].sort() } : { family: fam, added, changed, deleted });
    for (const w of waiters.filter((x) => x.n === calls.length)) w.resolve(calls[calls.length - 1]);
  });
  return {
    calls,
    guard: g,
    /** The nth call (1-based), already made or still to come. */
    call(n: number, ms = 2000): Promise<Call> {
      if (calls.length >= n) return Promise.resolve(calls[n - 1]);
      const d = deferred<Call>();
      waiters.push({ n, resolve: d.resolve });
      return waitFor(d.promise, ms, `call ${n} of the monitor of ${family}`);
    },
  };
}

/** Whether this node still watches `family` (for "the monitor was stopped" checks). */
function watching(family: string): boolean {
  return (globalService() as unknown as { watched: Map<string, unknown> }).watched.has(family);
}

// ---- dbSet / dbDel -------------------------------------------------------------------

test("dbSet - sets a key, the value defaults to null, a second set replaces it", async () => {
  const f = fresh();
  dbSet(f, "a", 1);
  dbSet(f, "b");
  dbSet(f, "c", undefined);
  assert.equal(await dbFamily(f), { a: 1, b: null, c: null });
  dbSet(f, "a", { x: [1, 2] });
  assert.equal(await dbFamily(f), { a: { x: [1, 2] }, b: null, c: null });
});

test("dbDel - deletes one or several keys; unknown keys and families are harmless", async () => {
  const f = fresh();
  dbSet(f, "a", 1);
  dbSet(f, "b", 2);
  dbSet(f, "c", 3);
  dbDel(f, "a");
  assert.equal(await dbFamily(f), { b: 2, c: 3 });
  dbDel(f, "b", "c", "nope");
  assert.equal(await dbFamily(f), {});
  dbDel(f, "nope");
  dbDel(fresh());
  dbDel(f);
  assert.equal(await dbKeys(f), []);
});

test("dbSet - the guard deletes the key; cancelling twice is harmless; using works", async () => {
  const f = fresh();
  const g = dbSet(f, "a", 1);
  dbSet(f, "b", 2);
  g.cancel();
  g.cancel();
  assert.equal(await dbFamily(f), { b: 2 });
  {
    using _g = dbSet(f, "scoped", true);
    assert.equal(await dbFamily(f), { b: 2, scoped: true });
  }
  assert.equal(await dbFamily(f), { b: 2 });
});

// ---- dbReg ---------------------------------------------------------------------------

test("dbReg - registers a port with a value and removes it when the port is killed normally", async () => {
  const f = fresh();
  const p = port();
  dbReg(f, p, { load: 1 });
  assert.equal(await dbFamily(f), { [p]: { load: 1 } });
  const m = recorder(f);
  await m.call(1);
  kil(p);
  const c = await m.call(2);
  assert.equal(c.deleted, [p]);
  assert.equal(await dbFamily(f), {});
  m.guard.cancel();
});

test("dbReg - an abnormal kill (and an exception in the port) removes it too", async () => {
  const f = fresh();
  const p1 = port();
  const p2 = port(() => {
    throw new Error("boom");
  });
  dbReg(f, p1);
  dbReg(f, p2, "two");
  assert.equal(await dbFamily(f), { [p1]: null, [p2]: "two" });
  const m = recorder(f);
  await m.call(1);
  using _log = captureLog(); // the unmonitored abnormal deaths would be logged as errors
  kil(p1, "custom_error", "went away");
  assert.equal((await m.call(2)).deleted, [p1]);
  snd(p2, "anything"); // p2 dies of its own exception
  const c = await m.call(3);
  assert.equal(c.deleted, [p2]);
  assert.equal(await dbFamily(f), {});
  m.guard.cancel();
});

test("dbReg - the port defaults to SELF(); the guard removes the entry and stops watching the port", async () => {
  const f = fresh();
  const p = port();
  const g = peval(p, () => dbReg(f, undefined, 7))!;
  assert.equal(await dbFamily(f), { [p]: 7 });
  g.cancel();
  assert.equal(await dbFamily(f), {});
  // Setting the key again by hand: killing the port must not delete it any more.
  dbSet(f, p, "manual");
  kil(p);
  await flushRunQueue();
  await flushRunQueue();
  assert.equal(await dbFamily(f), { [p]: "manual" });
});

test("dbReg - a port that is already dead is removed at once", async () => {
  const f = fresh();
  const p = port();
  kil(p);
  const m = recorder(f);
  dbReg(f, p, 1);
  // First call (possibly already with p), then p goes.
  for (let n = 1; ; n++) {
    const c = await m.call(n);
    if (!(p in c.family) && n > 1) break;
    if (n > 3) assert.unreachable("the dead port was not removed");
  }
  assert.equal(await dbFamily(f), {});
  m.guard.cancel();
});

// ---- queries -------------------------------------------------------------------------

test("dbFamily/dbKeys/dbValues - promise and callback forms; empty families give empty results", async () => {
  const f = fresh();
  dbSet(f, "k1", "v1");
  dbSet(f, "k2", "v2");
  assert.equal(await dbFamily(f), { k1: "v1", k2: "v2" });
  assert.equal((await dbKeys(f)).sort(), ["k1", "k2"]);
  assert.equal((await dbValues(f)).sort(), ["v1", "v2"]);
  const fam = deferred<DbFamily>();
  const keys = deferred<string[]>();
  const values = deferred<unknown[]>();
  const r1 = dbFamily(f, fam.resolve);
  dbKeys(f, keys.resolve);
  dbValues(f, values.resolve);
  assert.equal(await waitFor(fam.promise, 1000, "dbFamily callback"), { k1: "v1", k2: "v2" });
  assert.equal((await waitFor(keys.promise, 1000, "dbKeys callback")).sort(), ["k1", "k2"]);
  assert.equal((await waitFor(values.promise, 1000, "dbValues callback")).sort(), ["v1", "v2"]);
  assert.equal(await r1, { k1: "v1", k2: "v2" }, "the promise resolves too when a callback is given");
  const empty = fresh();
  assert.equal(await dbFamily(empty), {});
  assert.equal(await dbKeys(empty), []);
  assert.equal(await dbValues(empty), []);
});

test("dbFamily - the result is the caller's to keep and change", async () => {
  const f = fresh();
  dbSet(f, "a", 1);
  const got = await dbFamily(f);
  got.a = 99;
  got.b = 2;
  assert.equal(await dbFamily(f), { a: 1 });
});

// ---- dbMon ---------------------------------------------------------------------------

test("dbMon - the first call comes even for an empty family, then added/changed/deleted", async () => {
  const f = fresh();
  const m = recorder(f);
  assert.equal(await m.call(1), { family: {}, added: [], changed: [], deleted: [] });
  dbSet(f, "a", 1);
  assert.equal(await m.call(2), { family: { a: 1 }, added: ["a"], changed: [], deleted: [] });
  dbSet(f, "a", 2);
  assert.equal(await m.call(3), { family: { a: 2 }, added: [], changed: ["a"], deleted: [] });
  dbSet(f, "b", 3);
  assert.equal(await m.call(4), { family: { a: 2, b: 3 }, added: ["b"], changed: [], deleted: [] });
  dbDel(f, "a", "b");
  const last = await m.call(5);
  assert.equal(last.family, {});
  assert.equal(last.deleted, ["a", "b"]);
  m.guard.cancel();
});

test("dbMon - the first call of a monitor on a non-empty family lists everything as added", async () => {
  const f = fresh();
  dbSet(f, "x", 1);
  dbSet(f, "y", 2);
  const m = recorder(f);
  assert.equal(await m.call(1), { family: { x: 1, y: 2 }, added: ["x", "y"], changed: [], deleted: [] });
  m.guard.cancel();
});

test("dbMon - several monitors on one family; a late one gets the current content first", async () => {
  const f = fresh();
  const a = recorder(f);
  await a.call(1);
  dbSet(f, "k1", 1);
  await a.call(2);
  const b = recorder(f);
  assert.equal(await b.call(1), { family: { k1: 1 }, added: ["k1"], changed: [], deleted: [] });
  dbSet(f, "k2", 2);
  const [a3, b2] = await Promise.all([a.call(3), b.call(2)]);
  assert.equal(a3.added, ["k2"]);
  assert.equal(b2.added, ["k2"]);
  assert.equal(b2.family, { k1: 1, k2: 2 });
  a.guard.cancel();
  dbDel(f, "k1");
  assert.equal((await b.call(3)).deleted, ["k1"]);
  await flushRunQueue();
  assert.is(a.calls.length, 3, "a cancelled monitor hears nothing more");
  b.guard.cancel();
  assert.not.ok(watching(f), "the last cancel stops watching the family");
});

test("dbMon - cancel before the first call: no call at all", async () => {
  const f = fresh();
  const calls: unknown[] = [];
  const g = dbMon(f, (...args) => calls.push(args));
  g.cancel();
  dbSet(f, "a", 1);
  await flushRunQueue();
  await dbFamily(f);
  assert.is(calls.length, 0);
});

test("dbMon - a throwing callback is logged and does not stop the others", async () => {
  const f = fresh();
  using log = captureLog();
  const bad = dbMon(f, () => {
    throw new Error("listener failed");
  });
  const good = recorder(f);
  await good.call(1);
  dbSet(f, "a", 1);
  assert.equal((await good.call(2)).added, ["a"]);
  await log.until("listener failed");
  bad.cancel();
  good.guard.cancel();
});

// ---- dbChanges -----------------------------------------------------------------------

test("dbChanges - yields the current content, then each change; break stops the monitor", async () => {
  const f = fresh();
  dbSet(f, "a", 1);
  const seen: DbChange[] = [];
  const it = dbChanges(f);
  const done = (async () => {
    for await (const change of it) {
      seen.push(change);
      if (seen.length === 1) dbSet(f, "b", 2);
      else if (seen.length === 2) dbDel(f, "a");
      else break;
    }
  })();
  await waitFor(done, 2000, "three changes");
  assert.equal(seen[0], { family: { a: 1 }, added: ["a"], changed: [], deleted: [] });
  assert.equal(seen[1], { family: { a: 1, b: 2 }, added: ["b"], changed: [], deleted: [] });
  assert.equal(seen[2], { family: { b: 2 }, added: [], changed: [], deleted: ["a"] });
  assert.not.ok(watching(f), "break ended the monitor");
  assert.equal(await it.next(), { value: undefined, done: true });
});

test("dbChanges - await using disposes it", async () => {
  const f = fresh();
  {
    await using it = dbChanges(f);
    const first = await waitFor(it.next(), 1000, "the first change");
    assert.equal(first.value, { family: {}, added: [], changed: [], deleted: [] });
    assert.ok(watching(f));
  }
  assert.not.ok(watching(f));
});

// ---- dbWaitFor -----------------------------------------------------------------------

test("dbWaitFor - resolves at once for a non-empty family, and when an empty one fills", async () => {
  const f = fresh();
  dbSet(f, "here", 1);
  assert.equal(await waitFor(dbWaitFor(f), 1000, "dbWaitFor"), { here: 1 });
  const g = fresh();
  const waiting = dbWaitFor(g, 5);
  await flushRunQueue();
  dbSet(g, "late", "yes");
  assert.equal(await waitFor(waiting, 1000, "dbWaitFor"), { late: "yes" });
  await flushRunQueue();
  assert.not.ok(watching(g), "its monitor is gone");
});

test("dbWaitFor - resolves undefined after the timeout when the family stays empty", async () => {
  const f = fresh();
  const started = Date.now();
  assert.is(await waitFor(dbWaitFor(f, 0.1), 2000, "dbWaitFor timeout"), undefined);
  assert.ok(Date.now() - started >= 90, "not before the timeout");
  assert.not.ok(watching(f));
  throwsSync(() => dbWaitFor(f, -1), TypeError);
});

// ---- argument errors -----------------------------------------------------------------

test("arguments - family names: any non-empty string, as in Perl; others and empty keys are TypeErrors naming the parameter", async () => {
  for (const bad of ["", 5, null, undefined, ["a"]]) {
    throwsSync(() => dbSet(bad as string, "k"), { instanceOf: TypeError, message: "'family'" });
    throwsSync(() => dbDel(bad as string, "k"), { instanceOf: TypeError, message: "'family'" });
    throwsSync(() => dbReg(bad as string, port()), { instanceOf: TypeError, message: "'family'" });
    throwsSync(() => dbFamily(bad as string), { instanceOf: TypeError, message: "'family'" });
    throwsSync(() => dbKeys(bad as string), { instanceOf: TypeError, message: "'family'" });
    throwsSync(() => dbValues(bad as string), { instanceOf: TypeError, message: "'family'" });
    throwsSync(() => dbMon(bad as string, () => {}), { instanceOf: TypeError, message: "'family'" });
    throwsSync(() => dbChanges(bad as string), { instanceOf: TypeError, message: "'family'" });
  }
  for (const good of ["a", "A1", "my_app::workers", "x:y_z9", "1abc", "a-b", "a b", "'l", "s\u00e4tt"]) dbDel(good, "nothing");
  // A family with '-' (a Perl family) works end to end.
  using _entry = dbSet("perl-family", "k", 1);
  assert.equal(await dbFamily("perl-family"), { k: 1 });
  assert.equal(await dbKeys("1abc"), []);
  throwsSync(() => dbSet("ok", ""), { instanceOf: TypeError, message: "'key'" });
  throwsSync(() => dbSet("ok", 5 as unknown as string), { instanceOf: TypeError, message: "'key'" });
  throwsSync(() => dbDel("ok", "a", ""), { instanceOf: TypeError, message: "'key'" });
  throwsSync(() => dbReg("ok", "not a port"), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => dbReg("ok"), PortContextError); // no port given and no port context
  throwsSync(() => dbMon("ok", "nope" as unknown as () => void), { instanceOf: TypeError, message: "'cb'" });
  throwsSync(() => dbFamily("ok", 5 as unknown as () => void), { instanceOf: TypeError, message: "'cb'" });
});

// ---- size ----------------------------------------------------------------------------

test("size - 10,000 keys in one family: set, monitor, query and delete", async () => {
  const f = fresh("big");
  const m = recorder(f, false);
  await m.call(1);
  const started = Date.now();
  const guards = [];
  for (let i = 0; i < 10_000; i++) guards.push(dbSet(f, `key${i}`, i));
  const setMs = Date.now() - started;
  assert.is((await dbKeys(f)).length, 10_000);
  assert.is(Object.keys(await dbFamily(f)).length, 10_000);
  const late = recorder(f, false);
  const first = await late.call(1);
  assert.is(first.added.length, 10_000);
  // The early monitor heard every key, one call per set.
  await waitFor(async () => {
    while (m.calls.length < 10_001) await flushRunQueue();
  }, 5000, "10,000 change calls");
  assert.is(Object.keys(m.calls[m.calls.length - 1].family).length, 10_000);
  for (const g of guards) g.cancel();
  assert.equal(await dbKeys(f), []);
  assert.ok(Date.now() - started < 10_000, `10,000 keys took ${Date.now() - started} ms (sets alone ${setMs} ms)`);
  m.guard.cancel();
  late.guard.cancel();
});

test.run();
