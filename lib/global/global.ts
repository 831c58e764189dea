/**
 * Seeds, masters and the global service (AnyEvent::MP::Global's protocol, `gproto=1`).
 *
 * Every node keeps a local database (`family -> key -> value`, the entries it owns),
 * holding at least its own `'l` entry (its listen addresses). A node that is not
 * global picks a master, the first seed whose link is up, and sends it `g_slave` with
 * its whole local database; changes follow as `g_upd`. Any node can then ask its
 * master where another node listens (`g_find` -> `g_found`), which is how a node
 * reaches any other by node ID alone.
 *
 * A node becomes global when it finds itself in its own seed list or when another
 * node sends it `g_slave`. Global nodes merge the databases of their slaves, mirror
 * them to each other (`g_set`, `g_upd`), keep links to every node in `'g`, and greet
 * every node whose link comes up with `g_global`. When a node's link drops, a global
 * node deletes everything it owned. The merge rules (a key owned by several nodes) are
 * those of Perl's `g_upd`: deleting one owner's copy brings back another owner's value.
 *
 * Two departures from Perl keep monitors from hearing of changes that did not happen:
 * - What another global node relayed is not deleted when its link drops: the owners
 *   behind it are most likely alive and about to register again with another global
 *   node (a failover). It is kept as an orphan for `monitor_timeout / 2`; whatever a
 *   live source sets or deletes meanwhile supersedes the orphan's copy, and what is
 *   left when the time is up (entries of owners that died too) is deleted then.
 * - A set that leaves a value as it was (an owner registering again after a failover)
 *   is not reported to monitors.
 */
import SuperJSON, { type SuperJSONValue } from "superjson";
import "../transport/framing.ts"; // registers bytes (Uint8Array/Buffer) with SuperJSON
import { DbUnavailableError } from "../errors.ts";
import { NODE } from "../kernel/ids.ts";
import { registerNodeRequest } from "../kernel/node-port.ts";
import { timer } from "../kernel/timers.ts";
import { debug, error as logError, info } from "../log.ts";
import type { Network } from "../node/network.ts";

type Family = Record<string, unknown>;
type Db = Record<string, Family>;

const L = "'l";
const G = "'g";

/** A watched family changed: the current content and the keys added, changed, deleted. */
export type WatchListener = (family: Family, added: string[], changed: string[], deleted: string[]) => void;

interface Watch {
  copy: Family;
  /** Listener -> whether it had its first call. */
  listeners: Map<WatchListener, boolean>;
  /** Whether the first full content has arrived. */
  loaded: boolean;
}

export type QueryKind = "g_db_family" | "g_db_keys" | "g_db_values";

/** The API function each query serves, for error messages. */
const API_NAMES: Record<QueryKind, string> = { g_db_family: "dbFamily", g_db_keys: "dbKeys", g_db_values: "dbValues" };

const pickers: Record<QueryKind, (f: Family | undefined) => unknown> = {
  g_db_family: (f) => ({ ...f }),
  g_db_keys: (f) => Object.keys(f ?? {}),
  g_db_values: (f) => Object.values(f ?? {}),
};

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Key counts of the families this service stores (its own entries, each node's and the
 * merged ones), so that "is it empty now?" after a delete costs O(1): listing the keys
 * of a large family (Object.keys, for-in) costs O(n), which made n single-key deletes
 * O(n^2). Every write to those families goes through put/remove.
 */
const sizes = new WeakMap<Family, number>();

function put(f: Family, k: string, v: unknown): void {
  if (!(k in f)) sizes.set(f, (sizes.get(f) ?? 0) + 1);
  f[k] = v;
}

function remove(f: Family, k: string): void {
  if (!(k in f)) return;
  delete f[k];
  sizes.set(f, sizes.get(f)! - 1);
}

function isEmpty(f: Family): boolean {
  return (sizes.get(f) ?? 0) === 0;
}

/** Whether a (small, transient) object has any key. */
function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

export class GlobalService {
  /** Null for a node that never called `configure`: it is its own global node. */
  private readonly net: Network | null;
  /** Entries this node owns. */
  readonly localDb: Db = Object.create(null);
  isGlobal = false;
  master: string | undefined;
  /** Node IDs of seeds whose link is up (in seed order when chosen). */
  private readonly seedNodes = new Set<string>();
  /** Known global nodes. */
  private readonly globalNodes = new Set<string>();
  /** Requests waiting for a master: re-sent when one is chosen. */
  private readonly pendingFinds = new Map<string, ((addresses: string[] | null) => void)[]>();

  // Global-node state.
  private readonly localDbs = new Map<string, Db>();
  readonly globalDb: Db = Object.create(null);
  private readonly slaves = new Map<string, Set<string>>();
  private readonly familyMonitors = new Map<string, Set<string>>();
  private readonly keepalive = new Set<string>();
  /**
   * Keys in `localDbs` of the databases of global nodes whose link dropped (see the
   * module comment). They start with '#', which no node ID contains.
   */
  private readonly orphans = new Set<string>();
  private nextOrphan = 0;

  constructor(net: Network | null) {
    this.net = net;
    this.registerRequests();
    if (net === null) {
      this.becomeGlobal();
      return;
    }
    net.onNodeEvent((nodeId, up) => (up ? this.nodeUp(nodeId) : this.nodeDown(nodeId)));
    net.setResolver((nodeId) => this.resolve(nodeId));
  }

  /** Called once the listeners are bound. */
  start(ownAddresses: string[], seedIsSelf: boolean): void {
    this.localSet(L, NODE(), ownAddresses);
    if (seedIsSelf) this.becomeGlobal();
  }

  // ---- the local database --------------------------------------------------------------

  /** Sets an entry this node owns and tells the master. */
  localSet(family: string, key: string, value: unknown): void {
    put((this.localDb[family] ??= Object.create(null)), key, value);
    this.toMaster(family, { [key]: value }, []);
  }

  /** Deletes entries this node owns and tells the master. */
  localDel(family: string, keys: string[]): void {
    const fam = this.localDb[family];
    if (fam === undefined) return;
    const gone = keys.filter((k) => k in fam);
    for (const k of gone) remove(fam, k);
    if (isEmpty(fam)) delete this.localDb[family];
    if (gone.length > 0) this.toMaster(family, {}, gone);
  }

  ownFamilies(): string[] {
    return Object.keys(this.localDb).filter((f) => !f.startsWith("'"));
  }

  private toMaster(family: string, set: Family, del: string[]): void {
    if (this.isGlobal) this.update(NODE(), family, set, del);
    else if (this.master !== undefined) this.sendNode(this.master, "g_upd", family, set, del);
  }

  // ---- master and discovery ------------------------------------------------------------

  private sendNode(nodeId: string, ...msg: unknown[]): void {
    this.net?.send(nodeId, `${nodeId}#`, msg);
  }

  /** The same request to the node port of each of `nodeIds`, encoded once (see `Network.broadcast`). */
  private sendNodes(nodeIds: Iterable<string>, ...msg: unknown[]): void {
    this.net?.broadcast(nodeIds, ["", ...msg]);
  }

  private setMaster(nodeId: string): void {
    if (this.master === nodeId) return;
    this.master = nodeId;
    info(`master is now ${nodeId}`);
    if (nodeId !== NODE()) this.sendNode(nodeId, "g_slave", this.localDb);
    for (const target of this.pendingFinds.keys()) this.askFind(target);
    for (const [id, q] of this.pendingQueries) this.sendNode(nodeId, q.kind, q.family, id);
    for (const family of this.watched.keys()) this.sendNode(nodeId, "g_mon1", family);
  }

  private chooseMaster(): void {
    if (this.isGlobal) return;
    const candidates = [...this.seedNodes, ...this.globalNodes].filter((n) => this.net?.nodes.get(n)?.isUp);
    if (candidates.length > 0) this.setMaster(candidates[0]);
    else this.master = undefined;
  }

  /** Where a node listens: from our `'l` copy (global node) or our master (`g_find`). */
  resolve(nodeId: string): Promise<string[] | null> {
    if (this.isGlobal) return Promise.resolve(addressList(this.globalDb[L]?.[nodeId]));
    // No master and no seed to get one from: nobody can tell where the node listens.
    if (this.master === undefined && this.net !== null && this.net.config.seeds.length === 0 && this.globalNodes.size === 0) {
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      const waiting = this.pendingFinds.get(nodeId);
      if (waiting !== undefined) {
        waiting.push(resolve);
        return;
      }
      this.pendingFinds.set(nodeId, [resolve]);
      // Without a master the request waits for one, but not for ever.
      timer(this.net?.config.monitorTimeout ?? 30, () => this.found(nodeId, null)).unref();
      if (this.master !== undefined) this.askFind(nodeId);
    });
  }

  private askFind(nodeId: string): void {
    if (this.master !== undefined) this.sendNode(this.master, "g_find", nodeId);
  }

  private found(nodeId: string, addresses: unknown): void {
    const waiting = this.pendingFinds.get(nodeId);
    if (waiting === undefined) return;
    this.pendingFinds.delete(nodeId);
    for (const resolve of waiting) resolve(addressList(addresses));
  }

  /** A seed link is up: remember it and make sure the seed runs the global service. */
  seedUp(nodeId: string): void {
    this.seedNodes.add(nodeId);
    this.sendNode(nodeId, "g_slave");
    if (this.master === undefined) this.chooseMaster();
  }

  private nodeUp(nodeId: string): void {
    if (this.isGlobal) this.sendNode(nodeId, "g_global");
  }

  private nodeDown(nodeId: string): void {
    if (this.isGlobal) this.disconnect(nodeId);
    if (this.master === nodeId) {
      this.master = undefined;
      this.chooseMaster();
    }
  }

  // ---- the global service --------------------------------------------------------------

  becomeGlobal(): void {
    if (this.isGlobal) return;
    info("starting global service");
    this.isGlobal = true;
    this.master = NODE();
    // A global node is its own master: its entries join the merged database as a
    // slave's would.
    this.slaves.set(NODE(), new Set());
    for (const [family, entries] of Object.entries(this.localDb)) this.update(NODE(), family, { ...entries }, []);
    this.localSet(G, NODE(), null);
    for (const nodeId of this.net?.nodes.keys() ?? []) {
      if (!this.net!.nodes.get(nodeId)!.isUp) continue;
      this.sendNode(nodeId, "g_global");
      if (this.globalNodes.has(nodeId)) this.globalConnect(nodeId);
    }
    for (const [target, waiting] of [...this.pendingFinds]) {
      this.pendingFinds.delete(target);
      for (const resolve of waiting) resolve(addressList(this.globalDb[L]?.[target]));
    }
    for (const [id, q] of [...this.pendingQueries]) {
      this.pendingQueries.delete(id);
      q.resolve(pickers[q.kind](this.globalDb[q.family]));
    }
    for (const family of this.watched.keys()) this.watchLocally(family);
  }

  // ---- database queries and family monitors (the db layer's backend) -----------------

  private nextQueryId = 0;
  private readonly pendingQueries = new Map<string, { kind: QueryKind; family: string; resolve: (v: unknown) => void }>();
  /** Families monitored on this node: our copy and the listeners. */
  private readonly watched = new Map<string, Watch>();

  /**
   * `g_db_family`/`g_db_keys`/`g_db_values`, answered by the global database (ours or
   * the master's). A query waits for a master (it is sent again to each new one), but
   * at most `monitor_timeout`: then it rejects with a `DbUnavailableError`.
   */
  query(kind: QueryKind, family: string): Promise<unknown> {
    // Answered here, the result must still be the caller's own, as a remote answer is.
    if (this.isGlobal) return Promise.resolve(ownCopy(pickers[kind](this.globalDb[family])));
    return new Promise((resolve, reject) => {
      const id = `${NODE()}/${++this.nextQueryId}`;
      const seconds = this.net?.config.monitorTimeout ?? 30;
      const error = new DbUnavailableError("global", `${API_NAMES[kind]}('${family}'): no global node answered within ${seconds} s (monitor_timeout)`);
      const deadline = timer(seconds, () => {
        const master = this.master;
        if (!this.pendingQueries.delete(id)) return;
        error.message += master === undefined ? ": no master is reachable" : `: the master is ${master}`;
        reject(error);
      });
      this.pendingQueries.set(id, {
        kind,
        family,
        resolve: (v) => {
          deadline.cancel();
          resolve(v);
        },
      });
      if (this.master !== undefined) this.sendNode(this.master, kind, family, id);
    });
  }

  /**
   * Watches a family: `listener(copy, added, changed, deleted)` is called soon with the
   * current content (all keys added, possibly none), then after every change. The
   * copy belongs to the service. Returns a function that stops watching.
   */
  watch(family: string, listener: WatchListener): () => void {
    let w = this.watched.get(family);
    if (w === undefined) {
      w = { copy: Object.create(null) as Family, listeners: new Map(), loaded: false };
      this.watched.set(family, w);
      w.listeners.set(listener, false);
      if (this.isGlobal) this.watchLocally(family);
      else if (this.master !== undefined) this.sendNode(this.master, "g_mon1", family);
    } else {
      const existing = w;
      existing.listeners.set(listener, false);
      if (existing.loaded) queueMicrotask(() => this.prime(existing, listener));
    }
    return () => (this.movedTo ?? this).unwatch(family, listener);
  }

  private unwatch(family: string, listener: WatchListener): void {
    const cur = this.watched.get(family);
    if (cur === undefined || !cur.listeners.delete(listener) || cur.listeners.size > 0) return;
    this.watched.delete(family);
    if (this.isGlobal) this.familyMonitors.get(family)?.delete(NODE());
    else if (this.master !== undefined) this.sendNode(this.master, "g_mon0", family);
  }

  /** Set once this (standalone) service handed its monitors to the networked one. */
  private movedTo: GlobalService | null = null;

  /**
   * Hands every family monitor to `target` (the networked service replacing this
   * standalone one): each keeps its copy and listeners, and the next full content from
   * the network is compared with that copy, so listeners hear only real changes.
   * Guards given out before keep working (they forward to `target`).
   */
  moveWatchesTo(target: GlobalService): void {
    this.movedTo = target;
    for (const [family, w] of this.watched) {
      w.loaded = false;
      target.watched.set(family, w);
      if (target.isGlobal) target.watchLocally(family);
      else if (target.master !== undefined) target.sendNode(target.master, "g_mon1", family);
    }
    this.watched.clear();
  }

  private watchLocally(family: string): void {
    (this.familyMonitors.get(family) ?? this.familyMonitors.set(family, new Set()).get(family)!).add(NODE());
    queueMicrotask(() => this.replaceWatched(family, this.globalDb[family] ?? null));
  }

  /** g_chg1: the whole family; compute what changed against our copy. */
  private replaceWatched(family: string, content: unknown): void {
    const w = this.watched.get(family);
    if (w === undefined) return;
    const next = isObject(content) ? content : {};
    const added: string[] = [];
    const changed: string[] = [];
    const deleted: string[] = [];
    for (const [k, v] of Object.entries(next)) {
      if (!(k in w.copy)) added.push(k);
      else if (!same(w.copy[k], v)) changed.push(k);
      w.copy[k] = v;
    }
    for (const k of Object.keys(w.copy)) {
      if (!(k in next)) {
        deleted.push(k);
        delete w.copy[k];
      }
    }
    w.loaded = true;
    this.notify(w, added, changed, deleted);
    for (const [listener, primed] of w.listeners) if (!primed) this.prime(w, listener);
  }

  /** A listener's first call: everything there is, as added. */
  private prime(w: Watch, listener: WatchListener): void {
    if (w.listeners.get(listener) !== false) return;
    w.listeners.set(listener, true);
    this.call(listener, w.copy, Object.keys(w.copy), [], []);
  }

  /** g_chg2: keys set and deleted. */
  private changeWatched(family: string, set: unknown, del: unknown): void {
    const w = this.watched.get(family);
    // Before the first full content arrives, changes are part of it.
    if (w === undefined || !w.loaded) return;
    const added: string[] = [];
    const changed: string[] = [];
    for (const [k, v] of Object.entries(isObject(set) ? set : {})) {
      (k in w.copy ? changed : added).push(k);
      w.copy[k] = v;
    }
    const deleted = Array.isArray(del) ? del.filter((k): k is string => typeof k === "string" && k in w.copy) : [];
    for (const k of deleted) delete w.copy[k];
    this.notify(w, added, changed, deleted);
  }

  /** Tells the primed listeners about a change. */
  private notify(w: Watch, added: string[], changed: string[], deleted: string[]): void {
    if (added.length + changed.length + deleted.length === 0) return;
    for (const [listener, primed] of [...w.listeners]) if (primed) this.call(listener, w.copy, added, changed, deleted);
  }

  private call(listener: WatchListener, copy: Family, added: string[], changed: string[], deleted: string[]): void {
    try {
      listener(copy, added, changed, deleted);
    } catch (err) {
      logError(`dbMon callback threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Perl's g_upd: merges one node's change into the global database. */
  private update(node: string, family: string, set: Family | null, del: string[]): void {
    set = isObject(set) ? { ...set } : {};
    if (this.orphans.size > 0 && !this.orphans.has(node)) this.supersedeOrphans(family, set, del);
    const dbs = this.localDbs.get(node) ?? (Object.create(null) as Db);
    this.localDbs.set(node, dbs);
    const ldb = (dbs[family] ??= Object.create(null) as Family);
    const gdb = (this.globalDb[family] ??= Object.create(null) as Family);
    // What monitors hear of: the keys whose merged value is new.
    const localSet: Family = {};
    let unchanged: string[] | undefined;
    for (const [k, v] of Object.entries(set)) {
      put(ldb, k, v);
      if (k in gdb && same(gdb[k], v)) (unchanged ??= []).push(k);
      else put(gdb, k, v);
    }
    const delLocal: string[] = [];
    const delGlobal: string[] = [];
    for (const k of del) {
      remove(ldb, k);
      const others = [...this.localDbs.entries()].filter(([, db]) => db[family] !== undefined && k in db[family]).map(([n]) => n);
      if (others.length > 0) {
        const slave = others.find((n) => this.slaves.has(n));
        if (slave !== undefined) {
          const v = this.localDbs.get(slave)![family][k];
          if (!same(gdb[k], v)) put(gdb, k, (set[k] = v));
        } else {
          const v = this.localDbs.get(others[0])![family][k];
          delGlobal.push(k);
          if (!same(gdb[k], v)) put(gdb, k, (localSet[k] = v));
        }
      } else {
        remove(gdb, k);
        delLocal.push(k);
        if (this.slaves.has(node)) delGlobal.push(k);
      }
    }
    if (isEmpty(gdb)) delete this.globalDb[family];
    if (isEmpty(ldb)) delete dbs[family];
    if (this.slaves.has(node) && (hasKeys(set) || delGlobal.length > 0)) {
      this.sendNodes(exceptSelf(this.globalNodes), "g_upd", family, set, delGlobal);
    }
    const changed = { ...set, ...localSet };
    if (unchanged !== undefined) for (const k of unchanged) if (!(k in localSet)) delete changed[k];
    const monitors = this.familyMonitors.get(family);
    if (monitors !== undefined && (hasKeys(changed) || delLocal.length > 0)) {
      if (monitors.has(NODE())) this.changeWatched(family, changed, delLocal);
      this.sendNodes(exceptSelf(monitors), "g_chg2", family, changed, delLocal);
    }
  }

  private setAll(node: string, db: unknown): void {
    if (!isObject(db)) return;
    for (const [family, entries] of Object.entries(db)) this.update(node, family, entries as Family, []);
  }

  /** A live source's word on these keys replaces what orphans hold of them (silently). */
  private supersedeOrphans(family: string, set: Family, del: string[]): void {
    for (const id of this.orphans) {
      const dbs = this.localDbs.get(id)!;
      const odb = dbs[family];
      if (odb === undefined) continue;
      for (const k in set) remove(odb, k);
      for (const k of del) remove(odb, k);
      if (isEmpty(odb)) delete dbs[family];
    }
  }

  /**
   * Keeps what global node `node` relayed, under a new key, for half of
   * `monitor_timeout` (see the module comment); then deletes what is left of it.
   */
  private orphan(node: string): void {
    const dbs = this.localDbs.get(node);
    this.localDbs.delete(node);
    if (dbs === undefined || !hasKeys(dbs)) return;
    const id = `#orphan/${++this.nextOrphan}/${node}`;
    this.localDbs.set(id, dbs);
    this.orphans.add(id);
    timer((this.net?.config.monitorTimeout ?? 30) / 2, () => {
      this.clear(id);
      this.orphans.delete(id);
    }).unref();
  }

  private clear(node: string): void {
    const dbs = this.localDbs.get(node);
    if (dbs === undefined) return;
    for (const [family, entries] of Object.entries(dbs)) this.update(node, family, null, Object.keys(entries));
    this.localDbs.delete(node);
  }

  private disconnect(node: string): void {
    // Its entry goes; the network keeps its addresses, for the next send to it.
    this.net?.rememberAddresses(node, addressList(this.globalDb[L]?.[node]));
    const wasGlobal = this.globalNodes.delete(node);
    this.keepalive.delete(node);
    if (wasGlobal) this.orphan(node);
    this.localDel(G, [node]);
    this.localDel(L, [node]);
    this.clear(node);
    const families = this.slaves.get(node);
    this.slaves.delete(node);
    if (families !== undefined) {
      for (const f of families) {
        const mons = this.familyMonitors.get(f);
        mons?.delete(node);
        if (mons?.size === 0) this.familyMonitors.delete(f);
      }
    }
  }

  private globalConnect(node: string): void {
    this.localSet(G, node, null);
    const db: Db = {};
    for (const [n, dbs] of this.localDbs) {
      if (!this.slaves.has(n)) continue;
      for (const [f, entries] of Object.entries(dbs)) Object.assign((db[f] ??= {}), entries);
    }
    this.sendNode(node, "g_set", db);
  }

  /** Keeps links to every global node (the `'g` family). */
  private keepGlobalsLinked(): void {
    for (const node of Object.keys(this.globalDb[G] ?? {})) {
      if (node === NODE() || this.keepalive.has(node)) continue;
      this.keepalive.add(node);
      this.net?.node(node).ensureLink();
    }
  }

  private registerRequests(): void {
    registerNodeRequest("g_slave", (from, db?: unknown) => {
      this.becomeGlobal();
      if (db === undefined) return;
      if (!this.slaves.has(from)) this.slaves.set(from, new Set());
      this.setAll(from, db);
      this.keepGlobalsLinked();
    });
    registerNodeRequest("g_set", (from, db: unknown) => {
      if (!this.isGlobal) return;
      const binds = isObject(db) && isObject(db[L]) ? (db[L] as Family)[from] : undefined;
      this.setAll(from, db);
      this.localSet(L, from, binds);
      this.keepGlobalsLinked();
    });
    registerNodeRequest("g_upd", (from, family: unknown, set: unknown, del: unknown) => {
      if (!this.isGlobal || typeof family !== "string") return;
      this.update(from, family, isObject(set) ? set : null, Array.isArray(del) ? del.filter((k): k is string => typeof k === "string") : []);
      if (family === G) this.keepGlobalsLinked();
    });
    registerNodeRequest("g_find", (from, nodeId: unknown) => {
      if (typeof nodeId !== "string") return;
      this.sendNode(from, "g_found", nodeId, this.globalDb[L]?.[nodeId] ?? null);
    });
    registerNodeRequest("g_found", (_from, nodeId: unknown, addresses: unknown) => {
      if (typeof nodeId === "string") this.found(nodeId, addresses);
    });
    registerNodeRequest("g_global", (from) => {
      if (this.isGlobal) {
        this.disconnect(from);
        this.globalNodes.add(from);
        this.globalConnect(from);
      } else {
        this.globalNodes.add(from);
        if (this.master === undefined) this.chooseMaster();
      }
    });
    registerNodeRequest("g_mon1", (from, family: unknown) => {
      if (!this.isGlobal || typeof family !== "string") return;
      (this.slaves.get(from) ?? this.slaves.set(from, new Set()).get(from)!).add(family);
      (this.familyMonitors.get(family) ?? this.familyMonitors.set(family, new Set()).get(family)!).add(from);
      this.sendNode(from, "g_chg1", family, this.globalDb[family] ?? null);
    });
    registerNodeRequest("g_mon0", (from, family: unknown) => {
      if (typeof family !== "string") return;
      const mons = this.familyMonitors.get(family);
      mons?.delete(from);
      if (mons?.size === 0) this.familyMonitors.delete(family);
      this.slaves.get(from)?.delete(family);
    });
    for (const kind of Object.keys(pickers) as QueryKind[]) {
      registerNodeRequest(kind, (from, family: unknown, id: unknown) => {
        if (typeof family !== "string") return;
        this.sendNode(from, "g_reply", id, pickers[kind](this.globalDb[family]));
      });
    }
    registerNodeRequest("g_reply", (_from, id: unknown, result: unknown) => {
      const q = typeof id === "string" ? this.pendingQueries.get(id) : undefined;
      if (q === undefined) return;
      this.pendingQueries.delete(id as string);
      q.resolve(result);
    });
    registerNodeRequest("g_chg1", (_from, family: unknown, content: unknown) => {
      if (typeof family === "string") this.replaceWatched(family, content);
    });
    registerNodeRequest("g_chg2", (_from, family: unknown, set: unknown, del: unknown) => {
      if (typeof family === "string") this.changeWatched(family, set, del);
    });
    debug("global protocol handlers registered");
  }
}

/**
 * A deep copy made the way the wire makes one (superjson), so a local answer has the
 * same types as a remote one (e.g. bytes come back as a Buffer); values superjson
 * cannot carry are shared.
 */
function ownCopy<T>(value: T): T {
  try {
    return SuperJSON.deserialize<T>(SuperJSON.serialize(value as SuperJSONValue));
  } catch {
    return value;
  }
}

/** The node IDs other than ours. */
function* exceptSelf(nodeIds: Iterable<string>): Iterable<string> {
  for (const id of nodeIds) if (id !== NODE()) yield id;
}

function addressList(v: unknown): string[] | null {
  if (!Array.isArray(v)) return null;
  const list = v.filter((a): a is string => typeof a === "string");
  return list.length > 0 ? list : null;
}
