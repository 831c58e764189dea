/**
 * The database API's conformance suite, written once and run against every backend
 * (spec/db-conformance-*.spec.ts): the global-node service (standalone, in-process),
 * Redis through ioredis-mock, and a real redis-server.
 *
 * It drives the public API (lib/db/db.ts) with the backend under test selected by
 * `target.setup()`, so what it checks is what a program sees: set/delete/replace, guards,
 * dbReg following its port, queries in both forms, the first monitor call and the
 * added/changed/deleted rules, late and cancelled monitors, dbChanges, dbWaitFor, rich
 * values, odd keys, argument errors, and a large family.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  type DbChange,
  type DbFamily,
  PortContextError,
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
  peval,
  port,
  snd,
} from "../lib/index.ts";
import { captureLog, deferred, flushRunQueue, throwsSync, waitFor } from "./helpers.ts";

export interface ConformanceTarget {
  /** Names the backend in test names ("db[redis-mock] - ..."). */
  name: string;
  /** Selects the backend (before the first test). */
  setup(): Promise<void>;
  /** Closes it (after the last test). Must not throw. */
  teardown(): Promise<void>;
  /** Whether this node still watches `family` (a stopped monitor leaves nothing behind). */
  watching(family: string): boolean;
  /** Keys in the large-family test. */
  bigFamily: number;
  /** Milliseconds one awaited monitor call may take. Default 2000. */
  callTimeoutMs?: number;
}

interface Call {
  family: DbFamily;
  added: string[];
  changed: string[];
  deleted: string[];
}

/** Registers the suite for `target` and runs it. */
export function dbConformance(target: ConformanceTarget): void {
  const test = suite(`db[${target.name}]`);
  const callMs = target.callTimeoutMs ?? 2000;
  let counter = 0;
  const fresh = (prefix = "conf"): string => `${prefix}::f${++counter}`;

  /** A dbMon listener recording every call (with a snapshot) that can wait for the nth. */
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
      call(n: number, ms = callMs): Promise<Call> {
        if (calls.length >= n) return Promise.resolve(calls[n - 1]);
        const d = deferred<Call>();
        waiters.push({ n, resolve: d.resolve });
        return waitFor(d.promise, ms, `call ${n} of the monitor of ${family}`);
      },
    };
  }

  test.before(() => target.setup());
  test.after(() => target.teardown());

  // ---- dbSet / dbDel -----------------------------------------------------------------

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

  test("values - rich values survive (Date, Map, Set, BigInt, bytes, nesting, null)", async () => {
    const f = fresh();
    const value = { when: new Date(86_400_000), map: new Map([["k", [1, 2]]]), set: new Set(["x"]), big: 12345678901234567890n, bytes: Buffer.from([0, 1, 255]), deep: { a: [null, { b: "c" }] } };
    dbSet(f, "rich", value);
    dbSet(f, "nothing", null);
    dbSet(f, "text", "plain");
    assert.equal(await dbFamily(f), { rich: value, nothing: null, text: "plain" });
  });

  test("keys - any non-empty string is a key: '#', spaces, newlines, unicode, port IDs", async () => {
    const f = fresh();
    const keys = ["node/x#port.1", "a b", "line\nbreak", "ключ", "#", "__proto__", "k:with:colons"];
    for (const [i, k] of keys.entries()) dbSet(f, k, i);
    const got = await dbFamily(f);
    assert.equal(Object.keys(got).sort(), [...keys].sort());
    for (const [i, k] of keys.entries()) assert.is(got[k], i, k);
    dbDel(f, ...keys);
    assert.equal(await dbKeys(f), []);
  });

  // ---- dbReg -------------------------------------------------------------------------

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
    using _log = captureLog();
    kil(p1, "custom_error", "went away");
    assert.equal((await m.call(2)).deleted, [p1]);
    snd(p2, "anything");
    assert.equal((await m.call(3)).deleted, [p2]);
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
    // The first call may or may not show it (a backend may see the set and the delete
    // before it reads the family); either way it goes.
    for (let n = 1; ; n++) {
      const c = await m.call(n);
      if (!(p in c.family)) break;
      if (n > 3) assert.unreachable("the dead port was not removed");
    }
    assert.equal(await dbFamily(f), {});
    m.guard.cancel();
  });

  // ---- queries -----------------------------------------------------------------------

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
    assert.equal(await waitFor(fam.promise, callMs, "dbFamily callback"), { k1: "v1", k2: "v2" });
    assert.equal((await waitFor(keys.promise, callMs, "dbKeys callback")).sort(), ["k1", "k2"]);
    assert.equal((await waitFor(values.promise, callMs, "dbValues callback")).sort(), ["v1", "v2"]);
    assert.equal(await r1, { k1: "v1", k2: "v2" });
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
    delete got.a;
    assert.equal(await dbFamily(f), { a: 1 });
  });

  test("families - names with colons and digits are separate families", async () => {
    const a = fresh("app:x");
    const b = `${a}:y`;
    dbSet(a, "k", "in a");
    dbSet(b, "k", "in b");
    assert.equal(await dbFamily(a), { k: "in a" });
    assert.equal(await dbFamily(b), { k: "in b" });
  });

  // ---- dbMon -------------------------------------------------------------------------

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

  test("dbMon - the family passed is the monitor's copy, kept up to date", async () => {
    const f = fresh();
    const m = recorder(f, false);
    const first = await m.call(1);
    dbSet(f, "a", 1);
    const second = await m.call(2);
    assert.is(first.family, second.family, "the same object every time");
    assert.equal({ ...second.family }, { a: 1 });
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
    assert.not.ok(target.watching(f), "the last cancel stops watching the family");
  });

  test("dbMon - cancel before the first call: no call at all", async () => {
    const f = fresh();
    const calls: unknown[] = [];
    const g = dbMon(f, (...args) => calls.push(args));
    g.cancel();
    dbSet(f, "a", 1);
    await flushRunQueue();
    await dbFamily(f);
    await dbFamily(f);
    assert.is(calls.length, 0);
    assert.not.ok(target.watching(f));
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

  test("dbMon - a burst of changes arrives complete and in order", async () => {
    const f = fresh();
    const m = recorder(f);
    await m.call(1);
    for (let i = 0; i < 50; i++) dbSet(f, "counter", i);
    dbSet(f, "end", true);
    const last = await m.call(52);
    assert.equal(last.family, { counter: 49, end: true });
    assert.equal(m.calls.slice(2, 51).map((c) => c.family.counter), Array.from({ length: 49 }, (_, i) => i + 1));
    m.guard.cancel();
  });

  // ---- dbChanges ---------------------------------------------------------------------

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
    await waitFor(done, callMs * 2, "three changes");
    assert.equal(seen[0], { family: { a: 1 }, added: ["a"], changed: [], deleted: [] });
    assert.equal(seen[1], { family: { a: 1, b: 2 }, added: ["b"], changed: [], deleted: [] });
    assert.equal(seen[2], { family: { b: 2 }, added: [], changed: [], deleted: ["a"] });
    assert.not.ok(target.watching(f), "break ended the monitor");
    assert.equal(await it.next(), { value: undefined, done: true });
  });

  test("dbChanges - await using disposes it", async () => {
    const f = fresh();
    {
      await using it = dbChanges(f);
      const first = await waitFor(it.next(), callMs, "the first change");
      assert.equal(first.value, { family: {}, added: [], changed: [], deleted: [] });
      assert.ok(target.watching(f));
    }
    assert.not.ok(target.watching(f));
  });

  // ---- dbWaitFor ---------------------------------------------------------------------

  test("dbWaitFor - resolves at once for a non-empty family, and when an empty one fills", async () => {
    const f = fresh();
    dbSet(f, "here", 1);
    assert.equal(await waitFor(dbWaitFor(f), callMs, "dbWaitFor"), { here: 1 });
    const g = fresh();
    const waiting = dbWaitFor(g, 5);
    // Its monitor has had its first (empty) call once a query issued now has answered.
    await dbFamily(g);
    dbSet(g, "late", "yes");
    assert.equal(await waitFor(waiting, callMs, "dbWaitFor"), { late: "yes" });
    await flushRunQueue();
    assert.not.ok(target.watching(g), "its monitor is gone");
  });

  test("dbWaitFor - resolves undefined after the timeout when the family stays empty", async () => {
    const f = fresh();
    const started = Date.now();
    assert.is(await waitFor(dbWaitFor(f, 0.1), callMs, "dbWaitFor timeout"), undefined);
    assert.ok(Date.now() - started >= 90, "not before the timeout");
    assert.not.ok(target.watching(f));
  });

  // ---- arguments ---------------------------------------------------------------------

  test("family names - any non-empty string, as in Perl: '-', spaces, '#', a leading digit, non-ASCII", async () => {
    const base = fresh();
    for (const odd of ["-perl-family", " with space", "#hash", "::ÄÖ☺"]) {
      const f = `${base}${odd}`;
      const g = dbSet(f, "k", odd);
      assert.equal(await waitFor(dbFamily(f), callMs, `dbFamily ${f}`), { k: odd });
      g.cancel();
    }
    assert.equal(await waitFor(dbKeys(`1${base}`), callMs, "dbKeys"), []);
  });

  test("arguments - bad family names and keys are TypeErrors naming the parameter", () => {
    for (const bad of ["", 5, null, undefined, ["a"]]) {
      throwsSync(() => dbSet(bad as string, "k"), { instanceOf: TypeError, message: "'family'" });
      throwsSync(() => dbDel(bad as string, "k"), { instanceOf: TypeError, message: "'family'" });
      throwsSync(() => dbReg(bad as string, port()), { instanceOf: TypeError, message: "'family'" });
      throwsSync(() => dbFamily(bad as string), { instanceOf: TypeError, message: "'family'" });
      throwsSync(() => dbMon(bad as string, () => {}), { instanceOf: TypeError, message: "'family'" });
    }
    throwsSync(() => dbSet("ok", ""), { instanceOf: TypeError, message: "'key'" });
    throwsSync(() => dbDel("ok", "a", ""), { instanceOf: TypeError, message: "'key'" });
    throwsSync(() => dbReg("ok", "not a port"), { instanceOf: TypeError, message: "'port'" });
    throwsSync(() => dbReg("ok"), PortContextError);
    throwsSync(() => dbMon("ok", "nope" as unknown as () => void), { instanceOf: TypeError, message: "'cb'" });
    throwsSync(() => dbMon("ok", () => {}, 5 as unknown as () => void), { instanceOf: TypeError, message: "'onStatus'" });
  });

  // ---- size --------------------------------------------------------------------------

  test(`size - ${target.bigFamily} keys in one family: set, monitor, query and delete`, async () => {
    const n = target.bigFamily;
    const f = fresh("big");
    const m = recorder(f, false);
    await m.call(1);
    const guards = [];
    for (let i = 0; i < n; i++) guards.push(dbSet(f, `key${i}`, i));
    assert.is((await dbKeys(f)).length, n);
    const fam = await dbFamily(f);
    assert.is(Object.keys(fam).length, n);
    assert.is(fam[`key${n - 1}`], n - 1);
    // The early monitor hears every key, one call per set.
    await waitFor(async () => {
      while (m.calls.length < n + 1) await new Promise((r) => setImmediate(r));
    }, 20_000, `${n} change calls`);
    assert.is(Object.keys(m.calls[m.calls.length - 1].family).length, n);
    const late = recorder(f, false);
    assert.is((await late.call(1, 10_000)).added.length, n);
    for (const g of guards) g.cancel();
    assert.equal(await dbKeys(f), []);
    m.guard.cancel();
    late.guard.cancel();
  });

  test.run();
}
