/**
 * The distributed database: a two-level map `family -> key -> value`.
 *
 * Every entry is owned by the node that set it and disappears when that node goes
 * away; the merged view lives on the global nodes. `dbSet`/`dbDel` change this node's
 * own entries; `dbFamily`/`dbKeys`/`dbValues` ask the global database (a round trip to
 * the master unless this node is global); `dbMon` keeps a local copy of one family up
 * to date and reports each change.
 *
 * With `configure({ db: "redis://..." })` the same API is served by Redis instead
 * (lib/db/backend.ts picks the backend, lib/db/redis.ts).
 *
 * A node that never called `configure` is its own global node: the database then works
 * within the process, which is handy for tests and single-process programs. Call
 * `configure` before using the database if the node is to join a network.
 *
 * The value type `V` of `dbFamily<V>`, `dbValues<V>`, `dbMon<V>` (and `dbChanges`,
 * `dbWaitFor`) is the caller's claim about what the family holds: values come from
 * other nodes and are not checked. It defaults to `unknown`.
 */
import { argumentError } from "../errors.ts";
import { type Guard, guard } from "../kernel/guard.ts";
import { SELF } from "../kernel/ports.ts";
import { monitor } from "../kernel/mon.ts";
import type { WatchListener } from "../global/global.ts";
import { type Timer, secondsToMs, timer } from "../kernel/timers.ts";
import { type DbStatusListener, dbBackend as service } from "./backend.ts";

/** One family's content: key -> value. */
export type DbFamily<V = unknown> = Record<string, V>;

/**
 * A family monitor's callback: the monitor's own copy of the family (read it, do not
 * keep or change it) and the keys added, changed and deleted since the last call.
 */
export type DbWatcher<V = unknown> = (family: Readonly<DbFamily<V>>, added: string[], changed: string[], deleted: string[]) => void;

/**
 * Any non-empty string names a family, as in Perl: `my-app`, `Chat::rooms`, and the
 * internal `'l` (node addresses) and `'g` (global nodes) can be watched and read too.
 */
function checkFamily(fn: string, family: unknown): string {
  if (typeof family !== "string" || family === "") throw argumentError(fn, "family", "a non-empty string (e.g. \"myapp::workers\")", family);
  return family;
}

function checkKey(fn: string, key: unknown): string {
  if (typeof key !== "string" || key === "") throw argumentError(fn, "key", "a non-empty string", key);
  return key;
}

/** Keys this node set or deleted through this API, since the process started. */
let writes = 0;

/** How many keys this node has set or deleted (`dbSet`, `dbDel`, `dbReg` and their guards): for metrics. */
export function dbWriteCount(): number {
  return writes;
}

/**
 * Sets (or replaces) `family/key` to `value` (default null) as an entry this node owns.
 * The guard deletes it.
 */
export function dbSet(family: string, key: string, value: unknown = null): Guard {
  checkFamily("dbSet", family);
  checkKey("dbSet", key);
  service().localSet(family, key, value === undefined ? null : value);
  writes++;
  return guard(() => {
    writes++;
    service().localDel(family, [key]);
  });
}

/** Deletes keys of `family` that this node set. */
export function dbDel(family: string, ...keys: string[]): void {
  checkFamily("dbDel", family);
  for (const k of keys) checkKey("dbDel", k);
  writes += keys.length;
  service().localDel(family, keys);
}

/**
 * Registers `port` (default `SELF()`) in `family` with `value`, and removes it when the
 * port dies. The guard removes it (and stops watching the port).
 */
export function dbReg(family: string, port?: string, value: unknown = null): Guard {
  checkFamily("dbReg", family);
  const p = port ?? SELF();
  if (typeof p !== "string" || !p.includes("#")) throw argumentError("dbReg", "port", "a port ID string", p);
  const set = dbSet(family, p, value);
  const watch = monitor(p, () => set.cancel());
  return guard(() => {
    watch.cancel();
    set.cancel();
  });
}

function query<T>(kind: "g_db_family" | "g_db_keys" | "g_db_values", fn: string, family: string, cb?: (result: T) => void): Promise<T> {
  checkFamily(fn, family);
  if (cb !== undefined && typeof cb !== "function") throw argumentError(fn, "cb", "a function or undefined", cb);
  const result = service().query(kind, family) as Promise<T>;
  // The callback form has no error channel: a failure (Redis unreachable) rejects only
  // the returned promise, and must not become an unhandled rejection here.
  if (cb !== undefined) result.then(cb, () => {});
  return result;
}

/** The whole family, as a fresh object (also passed to `cb` if given). */
export function dbFamily<V = unknown>(family: string, cb?: (family: DbFamily<V>) => void): Promise<DbFamily<V>> {
  return query("g_db_family", "dbFamily", family, cb);
}

/** The family's keys. */
export function dbKeys(family: string, cb?: (keys: string[]) => void): Promise<string[]> {
  return query("g_db_keys", "dbKeys", family, cb);
}

/** The family's values. */
export function dbValues<V = unknown>(family: string, cb?: (values: V[]) => void): Promise<V[]> {
  return query("g_db_values", "dbValues", family, cb);
}

/**
 * Monitors a family. `cb(family, added, changed, deleted)` is called promptly with the
 * current content (every key counted as added, even when there are none), then after
 * every change. `family` is the monitor's own copy: read it, do not keep or change it.
 * The guard stops the monitor.
 *
 * `onStatus` hears when the backend becomes unreachable (`{ up: false, error }`, the
 * Redis backend) and when it is back (`{ up: true }`, after `cb` got what changed
 * meanwhile). The global-node backend never calls it.
 */
export function dbMon<V = unknown>(family: string, cb: DbWatcher<V>, onStatus?: DbStatusListener): Guard {
  checkFamily("dbMon", family);
  if (typeof cb !== "function") throw argumentError("dbMon", "cb", "a function", cb);
  if (onStatus !== undefined && typeof onStatus !== "function") throw argumentError("dbMon", "onStatus", "a function or undefined", onStatus);
  return guard(service().watch(family, cb as WatchListener, onStatus));
}

/** One change of a monitored family, as `dbChanges` yields it. */
export interface DbChange<V = unknown> {
  family: DbFamily<V>;
  added: string[];
  changed: string[];
  deleted: string[];
}

/**
 * The changes of a family as an async iterator (the first one is the current
 * content). Each `family` is a snapshot. `break` stops the monitor.
 *
 * `for await (const { family, added } of dbChanges("myapp::workers")) ...`
 */
export function dbChanges<V = unknown>(family: string): AsyncIterableIterator<DbChange<V>> & AsyncDisposable {
  const queue: DbChange<V>[] = [];
  let wake: (() => void) | undefined;
  const g = dbMon<V>(family, (fam, added, changed, deleted) => {
    queue.push({ family: { ...fam }, added: [...added], changed: [...changed], deleted: [...deleted] });
    wake?.();
  });
  let open = true;
  const iterator: AsyncIterableIterator<DbChange<V>> & AsyncDisposable = {
    async next() {
      while (open && queue.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      if (!open) return { value: undefined, done: true };
      return { value: queue.shift()!, done: false };
    },
    async return() {
      open = false;
      g.cancel();
      wake?.();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
    async [Symbol.asyncDispose]() {
      await iterator.return!();
    },
  };
  return iterator;
}

/**
 * Resolves with the family's content as soon as it is non-empty ("wait until a service
 * shows up"); with `timeout` (seconds), resolves undefined if it stays empty that long.
 */
export function dbWaitFor<V = unknown>(family: string, timeout?: number): Promise<DbFamily<V> | undefined> {
  const ms = timeout === undefined ? undefined : secondsToMs("dbWaitFor", "timeout", timeout);
  return new Promise((resolve) => {
    let deadline: Timer | undefined;
    const g = dbMon<V>(family, (fam) => {
      if (Object.keys(fam).length === 0) return;
      deadline?.cancel();
      queueMicrotask(() => g.cancel());
      resolve({ ...fam });
    });
    if (ms !== undefined) {
      deadline = timer(ms / 1000, () => {
        g.cancel();
        resolve(undefined);
      });
    }
  });
}
