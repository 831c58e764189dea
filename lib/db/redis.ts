/**
 * The Redis backend of the database: `configure({ db: "redis://host:port/N" })`, or a
 * Sentinel or Cluster URL.
 *
 * Same rules as the global nodes (lib/db/backend.ts), kept in one Redis database so
 * that the registry survives the restart of every node.
 *
 * Layout (PREFIX is `aemp:`; the database number N of the URL separates networks):
 * - `PREFIX f:FAMILY`, a hash: field `OWNER#KEY` (OWNER is a node ID, which has no `#`)
 *   -> `SEQ VALUE`, VALUE being SuperJSON text (Dates, Maps, BigInts, bytes survive);
 * - `PREFIX o:OWNER`, a set of `FAMILY#KEY`: what an owner holds, to remove it at once;
 * - `PREFIX nodes`, a sorted set: OWNER -> when its lease runs out (ms, Redis' clock);
 * - `PREFIX seq`, the global sequence number; every change takes the next one;
 * - channel `PREFIX c:FAMILY` carries each change of the family (lib/db/redis-scripts.ts).
 * Every change is one Lua script (lib/db/redis-scripts.ts), so it is atomic and
 * published in sequence order.
 *
 * Sentinel and Cluster (lib/db/redis-url.ts). Behind Sentinel, ioredis follows the
 * primary; after a failover both connections come back to the new primary and the
 * usual reconnect steps follow (every node rewrites its entries, monitors re-read). As
 * replication is asynchronous, the promoted replica may lack the last writes: a
 * monitor that finds the server behind the sequence number it saw keeps the entries of
 * live owners until they have written them again (`keepUnconfirmed`). On a Cluster,
 * PREFIX is the hash tag `{aemp}:`, so every key lives in one slot (scripts touch the
 * keys of several families and the sequence); the notifications are PUBLISHed, which a
 * cluster delivers to subscribers on every node. The whole database is then on one
 * shard (with its replicas): a Cluster brings failover, not more capacity.
 *
 * Several owners of one key: the value set last (highest sequence number) is the one
 * seen; when its owner deletes it or goes away, the next most recent comes back (as
 * with the global nodes, deleting one owner's copy brings back another's).
 *
 * Leases. An owner holds a lease in `PREFIX nodes` and renews it every `lease / 4`
 * seconds (default lease: 10 s). Its entries are hidden from queries as soon as the
 * lease has run out. Every connected node sweeps expired owners (deleting their entries
 * and telling the monitors) every `lease / 4` seconds, and also right when the next
 * lease of another owner is due to run out. So the entries of a node that crashed or was
 * cut off from Redis vanish, from queries and for monitors, at most `lease` seconds after
 * its last renewal, hence within `lease` seconds of the crash (plus a few milliseconds
 * and the network's latency), provided some other node is connected to sweep (queries
 * hide them even when none is). That assumes one lease for the whole network (the rc
 * file's `db_lease`); a node whose lease is shorter than the sweeping nodes' may be swept
 * up to a quarter of their lease later. A node that finds its lease gone (it was cut off too
 * long), and every node whose connection comes back, rewrites all its entries (one
 * script) before anything else.
 *
 * Monitors subscribe to the family's channel, then read the family (snapshot with its
 * sequence number): changes published before the snapshot are dropped, later ones
 * applied. When the subscriber connection comes back after a loss, every monitored
 * family is subscribed again and read again, and each listener is called once with the
 * difference, so no change is lost across a reconnect.
 *
 * Outages. Connections fail fast (no offline queue): while Redis cannot be reached,
 * queries reject with `DbUnavailableError` (`ERR_DB_UNAVAILABLE`) at once, or after
 * waiting for the first connection attempt when none has finished yet; monitors'
 * `onStatus` listeners get `{ up: false, error }` once, then `{ up: true }` after
 * their copy was brought up to date. `dbSet`/`dbDel` never throw for an outage: this
 * node's entries are kept locally and written when Redis is back (they were the
 * node's all along; by then their lease has run out, so they had vanished meanwhile).
 * A command that takes longer than the command timeout (5 s) fails the same way, and
 * a connection whose lease renewal or ping times out is dropped and opened again, so
 * a silent network cut is noticed too. ioredis reconnects with a backoff of up to 2 s.
 */
import type { Cluster, Redis, RedisOptions } from "ioredis";

import SuperJSON from "superjson";
import "../transport/framing.ts"; // registers bytes (Uint8Array/Buffer) with SuperJSON
import { ConfigError, DbUnavailableError } from "../errors.ts";
import { NODE } from "../kernel/ids.ts";
import { type Timer, timer } from "../kernel/timers.ts";
import { debug, error as logError, warn } from "../log.ts";
import type { DbBackend, DbStatus, DbStatusListener, QueryKind, WatchListener } from "./backend.ts";
import { SNAPSHOT, SYNC, TICK, WRITE } from "./redis-scripts.ts";
import { REDIS_URL_FORMS, parseRedisUrl } from "./redis-url.ts";

type Family = Record<string, unknown>;

/** The key prefix on a Redis Cluster: a hash tag, so every key is in one slot. */
export const CLUSTER_PREFIX = "{aemp}:";
/** Seconds a node's entries outlive its last lease renewal, by default. */
export const DEFAULT_LEASE = 10;
/** Milliseconds a Redis command may take before it fails, by default. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;
/** Milliseconds a query waits for the very first connection, by default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** Buffered notifications per monitor while its family is being read, at most. */
const BUFFER_LIMIT = 100_000;
/** Operations per write script, at most (writes made in one tick go together). */
const WRITE_BATCH = 1000;

export interface RedisBackendOptions {
  /** Seconds: the lease (see the module comment). Default 10; renewed every lease / 4. */
  lease?: number;
  /** Prefix of every Redis key and channel. Default `"aemp:"`. */
  prefix?: string;
  /** The owner of the entries set through this backend. Default `NODE()` when created. */
  owner?: string;
  /** Milliseconds a query waits for the first connection before failing. Default 5000. */
  connectTimeoutMs?: number;
  /** Names the backend in messages and errors (the URL without its password). */
  name?: string;
  /**
   * Whose clock times leases: `"redis"` (default: Redis' TIME, one clock for every
   * node) or `"local"` (this process's; for ioredis-mock, whose TIME is unusable).
   */
  clock?: "redis" | "local";
}

/** Opens one connection; `role` says what it is for. */
export type RedisClientFactory = (role: "commands" | "subscriber") => Redis;

interface Entry {
  seq: number;
  text: string;
}

interface Listener {
  primed: boolean;
  onStatus: DbStatusListener | undefined;
}

interface Watch {
  family: string;
  channel: string;
  listeners: Map<WatchListener, Listener>;
  /** key -> owner -> entry. */
  entries: Map<string, Map<string, Entry>>;
  /** owner -> its keys. */
  byOwner: Map<string, Set<string>>;
  /** key -> the text of the value seen (the newest owner's). */
  texts: Map<string, string>;
  /** The listeners' copy (decoded `texts`). */
  copy: Family;
  lastSeq: number;
  loaded: boolean;
  /** Between (re)subscribing and the snapshot: notifications wait in `buffer`. */
  syncing: boolean;
  buffer: Message[];
  /** Whether the listeners were told the backend is unreachable. */
  down: boolean;
  closed: boolean;
}

interface Message {
  seq: number;
  kind: string;
  body: string;
}

interface Snapshot {
  seq: number;
  /** owner#key -> "seq text", flat. */
  fields: string[];
  dead: Set<string>;
}

type Script = "aempWrite" | "aempSync" | "aempTick" | "aempSnapshot";

const SCRIPTS: Record<Script, { numberOfKeys: number; lua: string }> = {
  aempWrite: { numberOfKeys: 2, lua: WRITE },
  aempSync: { numberOfKeys: 2, lua: SYNC },
  aempTick: { numberOfKeys: 2, lua: TICK },
  aempSnapshot: { numberOfKeys: 3, lua: SNAPSHOT },
};

function encode(value: unknown): string {
  return SuperJSON.stringify(value);
}

function decode(text: string): unknown {
  try {
    return SuperJSON.parse(text);
  } catch (err) {
    logError(`database: an unreadable value in Redis (${(err as Error).message}): ${text.slice(0, 80)}`);
    return null;
  }
}

/** Splits `A<sep>B` at the first `sep`. */
function cut(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
}

/** The newest entry of a key (highest sequence number), if any. */
function newest(owners: Map<string, Entry> | undefined): Entry | undefined {
  let best: Entry | undefined;
  for (const e of owners?.values() ?? []) if (best === undefined || e.seq > best.seq) best = e;
  return best;
}

function isConnectionError(err: unknown): boolean {
  return !(err instanceof Error && err.name === "ReplyError");
}

/** The Redis URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*:)[^@/]+@/, "$1***@");
}

export class RedisBackend implements DbBackend {
  readonly name: string;
  readonly owner: string;
  readonly prefix: string;
  readonly leaseMs: number;
  private readonly connectTimeoutMs: number;
  private readonly localClock: boolean;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly seqKey: string;
  private readonly nodesKey: string;
  /** This node's entries: family -> key -> SuperJSON text. */
  private readonly local = new Map<string, Map<string, string>>();
  private readonly watches = new Map<string, Watch>();
  private readonly byChannel = new Map<string, Watch>();
  private cmdReady = false;
  private subReady = false;
  private everReady = false;
  private failedOnce = false;
  private closed = false;
  private lastError: unknown;
  private outageLogged = false;
  private readonly firstConnection = new Set<{ resolve: () => void; reject: (err: unknown) => void }>();
  private timer: Timer | undefined;
  /** A sweep due when another owner's lease runs out before the next tick. */
  private soon: Timer | undefined;
  private syncRunning = false;
  private syncAgain = false;
  /** Sets and deletes waiting for the end of the tick (arguments of the write script). */
  private pending: (string | number)[][] = [];
  private flushQueued = false;
  private subGeneration = 0;

  constructor(createClient: RedisClientFactory, options: RedisBackendOptions = {}) {
    const lease = options.lease ?? DEFAULT_LEASE;
    if (typeof lease !== "number" || !Number.isFinite(lease) || lease <= 0) throw new TypeError(`RedisBackend: 'lease' must be a positive number of seconds, received ${String(lease)}`);
    this.owner = options.owner ?? NODE();
    if (this.owner === "" || this.owner.includes("#")) throw new TypeError(`RedisBackend: 'owner' must be a node ID (non-empty, no '#'), received "${this.owner}"`);
    this.leaseMs = Math.max(1, Math.round(lease * 1000));
    this.prefix = options.prefix ?? "aemp:";
    this.name = options.name ?? "redis";
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.localClock = options.clock === "local";
    this.seqKey = `${this.prefix}seq`;
    this.nodesKey = `${this.prefix}nodes`;
    this.cmd = createClient("commands");
    this.sub = createClient("subscriber");
    for (const [name, def] of Object.entries(SCRIPTS)) this.cmd.defineCommand(name, def);
    this.cmd.on("ready", () => this.commandsUp());
    this.sub.on("ready", () => this.subscriberUp());
    for (const [client, role] of [[this.cmd, "commands"], [this.sub, "subscriber"]] as const) {
      client.on("error", (err: unknown) => {
        this.lastError = err;
        debug(`database: Redis ${role} connection: ${(err as Error)?.message ?? String(err)}`);
      });
      client.on("close", () => this.connectionDown(role));
      client.on("end", () => this.connectionDown(role));
    }
    this.sub.on("message", (channel: string, message: string) => this.onMessage(channel, message));
  }

  // ---- keys --------------------------------------------------------------------------------

  private familyKey(family: string): string {
    return `${this.prefix}f:${family}`;
  }

  private channelOf(family: string): string {
    return `${this.prefix}c:${family}`;
  }

  /** The clock argument of the scripts that need the time ('' = Redis' TIME). */
  private clock(): string {
    return this.localClock ? String(Date.now()) : "";
  }

  private run(script: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    const fn = (this.cmd as unknown as Record<Script, (...a: (string | number)[]) => Promise<unknown>>)[script];
    return fn.call(this.cmd, ...keys, ...args);
  }

  // ---- this node's entries ------------------------------------------------------------------

  localSet(family: string, key: string, value: unknown): void {
    const text = encode(value);
    let fam = this.local.get(family);
    if (fam === undefined) this.local.set(family, (fam = new Map()));
    fam.set(key, text);
    if (this.cmdReady) this.queueWrite(["s", family, key, text, JSON.stringify({ o: this.owner, k: key, v: text })]);
  }

  localDel(family: string, keys: string[]): void {
    const fam = this.local.get(family);
    if (fam === undefined) return;
    const gone = keys.filter((k) => fam.delete(k));
    if (fam.size === 0) this.local.delete(family);
    if (gone.length > 0 && this.cmdReady) this.queueWrite(["d", family, JSON.stringify({ o: this.owner, d: gone }), gone.length, ...gone]);
  }

  ownFamilies(): string[] {
    return [...this.local.keys()].filter((f) => !f.startsWith("'"));
  }

  /**
   * Writes go out at the end of the tick, many in one script: a loop of n `dbSet`s is
   * one round trip (in batches of WRITE_BATCH), not n. Anything that reads from Redis
   * flushes first, so it sees them.
   */
  private queueWrite(op: (string | number)[]): void {
    this.pending.push(op);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.pending.length === 0) return;
    const ops = this.pending;
    this.pending = [];
    if (!this.cmdReady) return; // the sync after reconnecting writes everything
    for (let i = 0; i < ops.length; i += WRITE_BATCH) {
      const args: (string | number)[] = [this.prefix, this.owner];
      for (const op of ops.slice(i, i + WRITE_BATCH)) args.push(...op);
      this.write(this.run("aempWrite", [this.seqKey, this.nodesKey], args));
    }
  }

  /** A write: 0 means our lease was gone (rewrite everything); a failure is healed by the rewrite on reconnect. */
  private write(done: Promise<unknown>): void {
    done.then(
      (ok) => {
        if (ok === 0) this.requestSync();
      },
      (err: unknown) => {
        debug(`database: a write to Redis failed: ${(err as Error)?.message ?? String(err)}`);
        if (!isConnectionError(err)) logError(`database: Redis refused a write: ${(err as Error).message}`);
        else if (this.cmdReady) this.requestSync();
      },
    );
  }

  /**
   * Rewrites all our entries and our lease (one script). Called when the commands
   * connection is (re)established and when our lease turned out to be gone; the script
   * is sent at once, so it precedes any later command on the connection.
   */
  private requestSync(): void {
    if (this.closed || !this.cmdReady) return;
    if (this.syncRunning) {
      this.syncAgain = true;
      return;
    }
    this.syncRunning = true;
    this.syncAgain = false;
    this.syncOwner(this.leaseMs).then(
      () => {
        this.syncRunning = false;
        if (this.syncAgain) this.requestSync();
        else this.tick(); // learns when the next lease of another owner runs out
      },
      (err: unknown) => {
        this.syncRunning = false;
        debug(`database: rewriting our entries in Redis failed: ${(err as Error)?.message ?? String(err)}`);
        if (!isConnectionError(err)) logError(`database: Redis refused our entries: ${(err as Error).message}`);
        else if (this.syncAgain) this.requestSync();
      },
    );
  }

  private syncOwner(leaseMs: number): Promise<unknown> {
    this.pending = []; // the sync writes the whole state
    const args: (string | number)[] = [this.clock(), this.prefix, this.owner, leaseMs, leaseMs > 0 ? this.local.size : 0];
    if (leaseMs > 0) {
      for (const [family, entries] of this.local) {
        args.push(family, JSON.stringify({ o: this.owner, r: [...entries] }), entries.size);
        for (const [key, text] of entries) args.push(key, text);
      }
    }
    return this.run("aempSync", [this.seqKey, this.nodesKey], args);
  }

  /** Lease renewal and sweep, every lease / 4; a connection that does not answer is reopened. */
  private tick(): void {
    if (this.closed) return;
    if (this.cmdReady && !this.syncRunning) {
      this.run("aempTick", [this.seqKey, this.nodesKey], [this.clock(), this.prefix, this.owner, this.leaseMs]).then(
        (reply) => {
          const [held, wait] = reply as [number, string];
          const ms = Number(wait);
          if (ms >= 0 && ms < this.leaseMs / 4 && !this.closed) {
            // Another owner's lease runs out before our next tick: sweep right then.
            this.soon?.cancel();
            this.soon = timer((ms + 5) / 1000, () => this.tick()).unref();
          }
          if (held === 0) {
            warn(`database: this node's lease in Redis (${this.name}) had run out and its entries were removed; writing them again`);
            this.requestSync();
          }
        },
        (err: unknown) => this.unanswered(this.cmd, "commands", err),
      );
    }
    if (this.subReady) this.sub.ping().catch((err: unknown) => this.unanswered(this.sub, "subscriber", err));
  }

  private unanswered(client: Redis, role: string, err: unknown): void {
    if (this.closed || !isConnectionError(err)) return;
    debug(`database: Redis ${role} connection did not answer (${(err as Error)?.message ?? String(err)}); reconnecting`);
    this.lastError = err;
    if (/timed? ?out/i.test((err as Error)?.message ?? "")) client.disconnect(true);
  }

  // ---- connection state ---------------------------------------------------------------------

  private commandsUp(): void {
    if (this.closed) return;
    this.cmdReady = true;
    this.everReady = true;
    // Our entries first: every command after this one sees them.
    this.requestSync();
    for (const w of this.firstConnection) w.resolve();
    this.firstConnection.clear();
    if (this.timer === undefined) {
      this.timer = timer(Math.max(1, Math.floor(this.leaseMs / 4)) / 1000, () => this.tick(), { repeat: true }).unref();
    }
    if (this.subReady) void this.resyncWatches();
  }

  private subscriberUp(): void {
    if (this.closed) return;
    this.subReady = true;
    if (this.cmdReady) void this.resyncWatches();
  }

  private connectionDown(role: "commands" | "subscriber"): void {
    const wasReady = role === "commands" ? this.cmdReady : this.subReady;
    if (role === "commands") this.cmdReady = false;
    else this.subReady = false;
    if (this.closed) return;
    if (role === "commands" && !this.everReady && !this.failedOnce) {
      this.failedOnce = true;
      const err = this.unavailable(this.lastError);
      for (const w of this.firstConnection) w.reject(err);
      this.firstConnection.clear();
    }
    if (wasReady || !this.everReady) this.announceOutage(role);
  }

  /** Tells every monitor (once per outage) that Redis cannot be reached. */
  private announceOutage(role: "commands" | "subscriber"): void {
    const error = this.unavailable(this.lastError);
    if (!this.outageLogged) {
      this.outageLogged = true;
      // Whichever connection notices first, the line says the same: Redis is unreachable.
      warn(`${error.message}${role === "commands" ? "" : " (the subscription was lost)"}; queries fail and monitors wait until it is back`);
    }
    for (const w of this.watches.values()) this.tellDown(w, error);
  }

  private tellDown(w: Watch, error: DbUnavailableError): void {
    if (w.down) return;
    w.down = true;
    for (const l of w.listeners.values()) this.status(l, { up: false, error });
  }

  private status(l: Listener, s: DbStatus): void {
    if (l.onStatus === undefined) return;
    try {
      l.onStatus(s);
    } catch (err) {
      logError(`dbMon status listener threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The error for "Redis cannot be reached" (`cause`: what ioredis said). */
  private unavailable(cause: unknown): DbUnavailableError {
    if (cause instanceof DbUnavailableError) return cause;
    const why = cause instanceof Error ? cause.message : cause === undefined ? "not connected" : String(cause);
    const text = this.closed ? `the database (Redis at ${this.name}) was closed` : `the database (Redis at ${this.name}) is unreachable: ${why}`;
    return new DbUnavailableError(this.name, text, { cause });
  }

  /** Resolves when the commands connection is up; rejects at once during an outage. */
  private available(): Promise<void> {
    if (this.cmdReady) return Promise.resolve();
    if (this.closed || this.everReady || this.failedOnce) return Promise.reject(this.unavailable(this.lastError));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          deadline.cancel();
          resolve();
        },
        reject: (err: unknown) => {
          deadline.cancel();
          reject(err);
        },
      };
      const error = this.unavailable(new Error(`no connection within ${this.connectTimeoutMs} ms`));
      const deadline = timer(this.connectTimeoutMs / 1000, () => {
        this.firstConnection.delete(waiter);
        reject(error);
      });
      this.firstConnection.add(waiter);
    });
  }

  // ---- queries ----------------------------------------------------------------------------

  private async snapshot(family: string): Promise<Snapshot> {
    await this.available();
    this.flush();
    let reply: unknown;
    try {
      reply = await this.run("aempSnapshot", [this.familyKey(family), this.seqKey, this.nodesKey], [this.clock()]);
    } catch (err) {
      throw isConnectionError(err) ? this.unavailable(err) : err;
    }
    const [seq, fields, dead] = reply as [string | null, string[], string[]];
    return { seq: Number(seq ?? 0), fields: fields ?? [], dead: new Set(dead ?? []) };
  }

  /**
   * key -> owner -> entry. Queries leave out owners whose lease ran out (`live`);
   * monitors keep them until the sweep's notification removes them, which comes right
   * after: should such an owner renew in time after all, nothing would tell a monitor
   * that its entries are back.
   */
  private static entriesOf(snap: Snapshot, live: boolean): Map<string, Map<string, Entry>> {
    const entries = new Map<string, Map<string, Entry>>();
    for (let i = 0; i + 1 < snap.fields.length; i += 2) {
      const [owner, key] = cut(snap.fields[i], "#");
      if (live && snap.dead.has(owner)) continue;
      const [seq, text] = cut(snap.fields[i + 1], " ");
      let owners = entries.get(key);
      if (owners === undefined) entries.set(key, (owners = new Map()));
      owners.set(owner, { seq: Number(seq), text });
    }
    return entries;
  }

  async query(kind: QueryKind, family: string): Promise<unknown> {
    const entries = RedisBackend.entriesOf(await this.snapshot(family), true);
    const fam: Family = {};
    for (const [key, owners] of entries) Object.defineProperty(fam, key, { value: decode(newest(owners)!.text), enumerable: true, writable: true, configurable: true });
    if (kind === "g_db_keys") return Object.keys(fam);
    if (kind === "g_db_values") return Object.values(fam);
    return fam;
  }

  /**
   * Where a node listens, from its `'l` entry (node discovery through Redis). Null if
   * unknown or unreachable (waits for the first connection, as queries do).
   */
  async resolve(nodeId: string): Promise<string[] | null> {
    if (nodeId.includes("#")) return null;
    try {
      await this.available(); // just after configure, the first connection may still be on its way
      this.flush();
      const stored = await this.cmd.hget(this.familyKey("'l"), `${nodeId}#${nodeId}`);
      if (stored === null) return null;
      const v = decode(cut(stored, " ")[1]);
      const list = Array.isArray(v) ? v.filter((a): a is string => typeof a === "string") : [];
      return list.length > 0 ? list : null;
    } catch {
      return null;
    }
  }

  // ---- monitors ----------------------------------------------------------------------------

  watch(family: string, listener: WatchListener, onStatus?: DbStatusListener): () => void {
    let w = this.watches.get(family);
    const entry: Listener = { primed: false, onStatus };
    if (w === undefined) {
      w = {
        family,
        channel: this.channelOf(family),
        listeners: new Map(),
        entries: new Map(),
        byOwner: new Map(),
        texts: new Map(),
        copy: Object.create(null) as Family,
        lastSeq: 0,
        loaded: false,
        syncing: true,
        buffer: [],
        down: false,
        closed: false,
      };
      this.watches.set(family, w);
      this.byChannel.set(w.channel, w);
      w.listeners.set(listener, entry);
      if (this.cmdReady && this.subReady) void this.startWatch(w);
      else if (this.closed || this.everReady || this.failedOnce) {
        const error = this.unavailable(this.lastError);
        const started = w;
        queueMicrotask(() => this.tellDown(started, error));
      }
    } else {
      const existing = w;
      existing.listeners.set(listener, entry);
      if (existing.loaded) queueMicrotask(() => this.prime(existing, listener));
      if (existing.down) {
        const error = this.unavailable(this.lastError);
        queueMicrotask(() => existing.listeners.get(listener) === entry && this.status(entry, { up: false, error }));
      }
    }
    const watched = w;
    return () => {
      if (watched.listeners.get(listener) !== entry) return;
      watched.listeners.delete(listener);
      if (watched.listeners.size > 0) return;
      watched.closed = true;
      this.watches.delete(family);
      this.byChannel.delete(watched.channel);
      if (this.subReady) this.sub.unsubscribe(watched.channel).catch(() => {});
    };
  }

  /** Whether this backend watches `family` (for specs: a cancelled monitor leaves nothing behind). */
  watching(family: string): boolean {
    return this.watches.has(family);
  }

  private async startWatch(w: Watch): Promise<void> {
    const generation = this.subGeneration;
    w.syncing = true;
    w.buffer = [];
    try {
      await this.sub.subscribe(w.channel);
    } catch (err) {
      debug(`database: subscribing to ${w.channel} failed: ${(err as Error)?.message ?? String(err)}`);
      return; // the next reconnect subscribes again
    }
    if (generation === this.subGeneration) await this.syncWatch(w);
  }

  /** After a (re)connection: subscribes to every monitored family again and re-reads each. */
  private async resyncWatches(): Promise<void> {
    const generation = ++this.subGeneration;
    const all = [...this.watches.values()];
    for (const w of all) {
      w.syncing = true;
      w.buffer = [];
    }
    if (all.length > 0) {
      try {
        await this.sub.subscribe(...all.map((w) => w.channel));
      } catch (err) {
        debug(`database: subscribing again failed: ${(err as Error)?.message ?? String(err)}`);
        return;
      }
      if (generation !== this.subGeneration) return;
      await Promise.all(all.map((w) => this.syncWatch(w)));
    }
    if (generation === this.subGeneration && this.cmdReady && this.subReady && this.outageLogged) {
      this.outageLogged = false;
      warn(`database: Redis at ${this.name} is reachable again`);
    }
  }

  /** Reads the family and brings the copy up to date (the first time: primes the listeners). */
  private async syncWatch(w: Watch): Promise<void> {
    let snap: Snapshot;
    try {
      snap = await this.snapshot(w.family);
    } catch (err) {
      debug(`database: reading ${w.family} failed: ${(err as Error)?.message ?? String(err)}`);
      return; // the next reconnect reads it again
    }
    if (w.closed || !w.syncing) return;
    this.replace(w, snap);
    w.syncing = false;
    const buffered = w.buffer;
    w.buffer = [];
    for (const m of buffered) if (m.seq > w.lastSeq) this.apply(w, m);
    if (w.down) {
      w.down = false;
      for (const l of w.listeners.values()) this.status(l, { up: true });
    }
  }

  private onMessage(channel: string, message: string): void {
    const w = this.byChannel.get(channel);
    // Nothing counts from a connection we consider lost: the re-read makes it up.
    if (w === undefined || !this.subReady) return;
    const [seq, rest] = cut(message, " ");
    const [kind, body] = cut(rest, " ");
    const m: Message = { seq: Number(seq), kind, body };
    if (!Number.isFinite(m.seq)) return;
    if (w.syncing) {
      if (w.buffer.length >= BUFFER_LIMIT) w.buffer.shift();
      w.buffer.push(m);
    } else if (m.seq > w.lastSeq) {
      this.apply(w, m);
    }
  }

  /** Replaces the copy with a snapshot; tells the listeners the difference. */
  private replace(w: Watch, snap: Snapshot): void {
    const entries = RedisBackend.entriesOf(snap, false);
    if (w.loaded && snap.seq < w.lastSeq) this.keepUnconfirmed(w, snap, entries);
    const byOwner = new Map<string, Set<string>>();
    for (const [key, owners] of entries) {
      for (const owner of owners.keys()) {
        let keys = byOwner.get(owner);
        if (keys === undefined) byOwner.set(owner, (keys = new Set()));
        keys.add(key);
      }
    }
    const before = w.texts;
    w.entries = entries;
    w.byOwner = byOwner;
    w.texts = new Map();
    const added: string[] = [];
    const changed: string[] = [];
    const deleted: string[] = [];
    for (const [key, owners] of entries) {
      const text = newest(owners)!.text;
      w.texts.set(key, text);
      const old = before.get(key);
      if (old === text) continue;
      (old === undefined ? added : changed).push(key);
      w.copy[key] = decode(text);
    }
    for (const key of before.keys()) {
      if (w.texts.has(key)) continue;
      deleted.push(key);
      delete w.copy[key];
    }
    w.lastSeq = snap.seq;
    if (w.loaded) this.notify(w, added, changed, deleted);
    w.loaded = true;
    for (const listener of w.listeners.keys()) this.prime(w, listener);
  }

  /**
   * The server is behind what this monitor saw: a replica promoted by a failover had
   * not received the last writes. An entry missing from it whose owner still holds a
   * lease was most likely among them, and its owner writes all its entries again when
   * it reconnects (an `r` notification then settles them): such entries are kept
   * (added to `entries`), and the family is read again after one lease, when every
   * live owner has rewritten; what is missing then is gone for real.
   */
  private keepUnconfirmed(w: Watch, snap: Snapshot, entries: Map<string, Map<string, Entry>>): void {
    let kept = 0;
    for (const [key, owners] of w.entries) {
      for (const [owner, e] of owners) {
        if (snap.dead.has(owner) || entries.get(key)?.has(owner)) continue;
        let now = entries.get(key);
        if (now === undefined) entries.set(key, (now = new Map()));
        now.set(owner, e);
        kept++;
      }
    }
    if (kept === 0) return;
    debug(`database: Redis at ${this.name} is behind what ${w.family}'s monitor saw (a failover lost writes); ${kept} entries kept until their owners write them again`);
    timer(this.leaseMs / 1000, () => {
      if (w.closed || w.syncing) return;
      w.syncing = true;
      w.buffer = [];
      void this.syncWatch(w);
    }).unref();
  }

  /** Applies one notification to the copy and tells the listeners. */
  private apply(w: Watch, m: Message): void {
    w.lastSeq = m.seq;
    const added: string[] = [];
    const changed: string[] = [];
    const deleted: string[] = [];
    const settle = (key: string, setAgain = false): void => {
      const old = w.texts.get(key);
      const e = newest(w.entries.get(key));
      if (e === undefined) {
        if (old === undefined) return;
        w.texts.delete(key);
        delete w.copy[key];
        deleted.push(key);
      } else if (old === undefined) {
        w.texts.set(key, e.text);
        w.copy[key] = decode(e.text);
        added.push(key);
      } else if (old !== e.text || setAgain) {
        w.texts.set(key, e.text);
        if (old !== e.text) w.copy[key] = decode(e.text);
        changed.push(key);
      }
    };
    try {
      if (m.kind === "g") {
        for (const key of [...(w.byOwner.get(m.body) ?? [])]) {
          this.drop(w, key, m.body);
          settle(key);
        }
      } else {
        const body = JSON.parse(m.body) as { o: string; k?: string; v?: string; d?: string[]; r?: [string, string][] };
        const owner = body.o;
        if (m.kind === "s" && typeof body.k === "string" && typeof body.v === "string") {
          this.put(w, body.k, owner, { seq: m.seq, text: body.v });
          settle(body.k, true);
        } else if (m.kind === "d" && Array.isArray(body.d)) {
          for (const key of body.d) if (this.drop(w, key, owner)) settle(key);
        } else if (m.kind === "r" && Array.isArray(body.r)) {
          const next = new Map(body.r);
          for (const key of [...(w.byOwner.get(owner) ?? [])]) {
            if (next.has(key)) continue;
            this.drop(w, key, owner);
            settle(key);
          }
          for (const [key, text] of next) {
            const prev = w.entries.get(key)?.get(owner);
            if (prev !== undefined && prev.text === text) continue;
            this.put(w, key, owner, { seq: m.seq, text });
            settle(key);
          }
        }
      }
    } catch (err) {
      logError(`database: an unreadable notification on ${w.channel} (${(err as Error).message}); reading the family again`);
      w.syncing = true;
      w.buffer = [];
      void this.syncWatch(w);
    }
    this.notify(w, added, changed, deleted);
  }

  private put(w: Watch, key: string, owner: string, e: Entry): void {
    let owners = w.entries.get(key);
    if (owners === undefined) w.entries.set(key, (owners = new Map()));
    owners.set(owner, e);
    let keys = w.byOwner.get(owner);
    if (keys === undefined) w.byOwner.set(owner, (keys = new Set()));
    keys.add(key);
  }

  private drop(w: Watch, key: string, owner: string): boolean {
    const owners = w.entries.get(key);
    if (owners === undefined || !owners.delete(owner)) return false;
    if (owners.size === 0) w.entries.delete(key);
    const keys = w.byOwner.get(owner);
    keys?.delete(key);
    if (keys?.size === 0) w.byOwner.delete(owner);
    return true;
  }

  private prime(w: Watch, listener: WatchListener): void {
    const l = w.listeners.get(listener);
    if (l === undefined || l.primed || !w.loaded) return;
    l.primed = true;
    this.call(listener, w.copy, Object.keys(w.copy), [], []);
  }

  private notify(w: Watch, added: string[], changed: string[], deleted: string[]): void {
    if (added.length + changed.length + deleted.length === 0) return;
    for (const [listener, l] of [...w.listeners]) if (l.primed) this.call(listener, w.copy, added, changed, deleted);
  }

  private call(listener: WatchListener, copy: Family, added: string[], changed: string[], deleted: string[]): void {
    try {
      listener(copy, added, changed, deleted);
    } catch (err) {
      logError(`dbMon callback threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  // ---- closing ------------------------------------------------------------------------------

  /**
   * Leaves: removes this node's entries and lease from Redis (when reachable, within
   * the command timeout) and closes both connections. Monitors stop. Harmless twice.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const reachable = this.cmdReady;
    this.stop();
    if (reachable) {
      try {
        await this.syncOwner(0);
      } catch (err) {
        debug(`database: removing our entries from Redis failed: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  /**
   * For specs: stops renewing the lease and drops both connections without removing
   * anything, as a crashed node would.
   */
  abandon(): void {
    if (this.closed) return;
    this.stop();
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  private stop(): void {
    this.closed = true;
    this.timer?.cancel();
    this.soon?.cancel();
    const err = this.unavailable(undefined);
    for (const w of this.firstConnection) w.reject(err);
    this.firstConnection.clear();
    for (const w of this.watches.values()) w.closed = true;
    this.watches.clear();
    this.byChannel.clear();
  }
}

/** ioredis is an optional peer dependency: loaded only when a Redis database is configured. */
async function loadIoredis(url: string): Promise<{ Redis: typeof Redis; Cluster: typeof Cluster }> {
  try {
    return await import("ioredis");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new ConfigError(`db ${JSON.stringify(redactUrl(url))} needs the ioredis package, which is not installed: npm install ioredis`, { cause: err });
  }
}

/**
 * Opens the Redis backend for a `db` URL (lib/db/redis-url.ts: one server, a primary
 * behind Sentinel, or a Cluster) with ioredis. Connecting starts at once and goes on
 * in the background.
 */
export async function openRedisBackend(url: string, options: RedisBackendOptions = {}): Promise<RedisBackend> {
  const target = parseRedisUrl(url);
  if (target === null) throw new ConfigError(`db ${JSON.stringify(redactUrl(url))} is not a Redis URL: expected ${REDIS_URL_FORMS}`);
  const ioredis = await loadIoredis(url);
  const clientOptions: RedisOptions = {
    // Fail fast instead of queueing while disconnected (see the module comment).
    enableOfflineQueue: false,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: DEFAULT_COMMAND_TIMEOUT_MS,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    retryStrategy: (times: number) => Math.min(times * 100, 2000),
  };
  const auth: RedisOptions = { username: target.username, password: target.password, ...(target.tls ? { tls: {} } : {}) };
  let create: RedisClientFactory;
  let prefix = options.prefix;
  if (target.kind === "server") {
    create = (role) => new ioredis.Redis(url, { ...clientOptions, connectionName: `aemp-${role}` });
  } else if (target.kind === "sentinel") {
    // Each reconnect attempt asks the Sentinels for the primary. (ioredis' failoverDetector
    // is not used: its +switch-master could drop a connection already made to the new
    // primary, a second outage right after the first.)
    create = (role) => new ioredis.Redis({ ...clientOptions, ...auth, sentinels: target.sentinels, name: target.name, db: target.db, connectionName: `aemp-${role}` });
  } else {
    // One hash tag for every key: each script's keys are in one slot (see the module comment).
    prefix ??= CLUSTER_PREFIX;
    create = (role) =>
      new ioredis.Cluster(target.nodes, {
        enableOfflineQueue: false,
        clusterRetryStrategy: clientOptions.retryStrategy,
        redisOptions: { ...clientOptions, ...auth, connectionName: `aemp-${role}` },
      }) as unknown as Redis;
  }
  return new RedisBackend(create, { name: redactUrl(url), ...options, prefix });
}
