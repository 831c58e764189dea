/**
 * Database backends: what serves the database API of lib/db/db.ts.
 *
 * A backend keeps this node's own entries and answers queries and monitors over the
 * merged database of every node. Two exist:
 * - the global nodes (lib/global/global.ts `GlobalService`, AEMP's protocol): the
 *   default, and what a node that never called `configure` uses within its process;
 * - Redis (lib/db/redis.ts), chosen with `configure({ db: "redis://host:port/N" })`
 *   (or a Sentinel or Cluster URL, lib/db/redis-url.ts).
 *
 * Both follow the same rules, which spec/db-conformance.ts checks against each:
 * entries belong to the node that set them and vanish when it goes away; `watch`
 * calls a listener soon with the whole family (every key added, even when empty),
 * then with each change (added/changed/deleted keys); a late listener first gets the
 * current content.
 *
 * `setDbBackend` is for `configure` (and specs): it moves the entries this process set
 * before (in the standalone global service) to the new backend.
 */
import { globalService } from "../global/current.ts";
import type { QueryKind, WatchListener } from "../global/global.ts";
import type { DbUnavailableError } from "../errors.ts";
import { REDIS_URL_FORMS, parseRedisUrl } from "./redis-url.ts";

export type { QueryKind, WatchListener };

/**
 * Whether a backend can serve a monitor right now. `up: false` comes once when the
 * backend becomes unreachable (with the error queries get meanwhile); `up: true` comes
 * once it is back and the monitor's copy has been brought up to date (the listener has
 * already been called with whatever changed meanwhile).
 */
export type DbStatus = { up: true } | { up: false; error: DbUnavailableError };

/** Told about a monitor's backend going away and coming back (see `DbStatus`). */
export type DbStatusListener = (status: DbStatus) => void;

/** What serves the database API. `GlobalService` is one as it stands. */
export interface DbBackend {
  /** Sets (or replaces) an entry this node owns. Never throws for availability. */
  localSet(family: string, key: string, value: unknown): void;
  /** Deletes entries this node owns; keys it does not own are ignored. */
  localDel(family: string, keys: string[]): void;
  /** The families this node owns entries in (internal ones, `'l` and `'g`, left out). */
  ownFamilies(): string[];
  /** The merged family (a fresh object), its keys or its values. */
  query(kind: QueryKind, family: string): Promise<unknown>;
  /**
   * Watches a family (see the module comment). `onStatus`, when the backend can be
   * unreachable, hears about it. Returns a function that stops watching.
   */
  watch(family: string, listener: WatchListener, onStatus?: DbStatusListener): () => void;
  /** Leaves: removes this node's entries and closes connections (Redis). */
  close?(): Promise<void>;
}

let selected: DbBackend | null = null;

/** The backend the database API uses: the one `configure` chose, else the global service. */
export function dbBackend(): DbBackend {
  return selected ?? globalService();
}

/**
 * Makes `backend` serve the database API (null: back to the global service). Entries
 * this node set in the global service before (its own families, not `'l`/`'g`) move to
 * the new backend. Returns the backend it replaces (null for the global service).
 */
export function setDbBackend(backend: DbBackend | null): DbBackend | null {
  const previous = selected;
  selected = backend;
  if (backend !== null && previous === null) {
    const from = globalService();
    for (const [family, entries] of Object.entries(from.localDb)) {
      if (family.startsWith("'")) continue;
      const keys = Object.keys(entries);
      for (const key of keys) backend.localSet(family, key, entries[key]);
      from.localDel(family, keys);
    }
  }
  return previous;
}

/** Closes the chosen backend, if it needs closing (`shutdown`). */
export async function closeDbBackend(): Promise<void> {
  await selected?.close?.();
}

/** Whether `value` is a valid `db` setting: `"global"` or a Redis URL (lib/db/redis-url.ts). */
export function isDbSetting(value: unknown): value is string {
  return value === "global" || (typeof value === "string" && parseRedisUrl(value) !== null);
}

/** What `db` accepts, for error messages. */
export const DB_SETTING_EXPECTED = `"global" or a Redis URL (${REDIS_URL_FORMS})`;
