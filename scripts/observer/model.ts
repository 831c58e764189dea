/**
 * What `aemp observe` knows about the network, kept up to date and told to listeners
 * (the web page's event streams, scripts/observer/server.ts).
 *
 * Where each piece comes from:
 * - the nodes: the `'l` family (every node that joined, with its listen addresses) and
 *   `'g` (the global nodes), both watched;
 * - up or down: a node is down at once when this process's link to it fails, when it
 *   leaves `'l` (its global node saw its link end), or when asking it fails; up again
 *   when it answers or is back in `'l`. Down nodes stay on view for
 *   {@link DOWN_KEEP} seconds;
 * - the details: every {@link POLL_INTERVAL} seconds each node with a listener is asked
 *   `aemp_info` (lib/node/introspection.ts), after asking once with `can` whether it
 *   knows it. Perl nodes answer `can` with "": they are shown with what the database
 *   and their peers know (their links are the ones peers report);
 * - message rates: the difference of two `aemp_info` answers' link counters over the
 *   node's own clock;
 * - the database: every family some node reports owning (`db.families` in its answer)
 *   is watched, so a change shows at once; a new family shows within a poll;
 * - the logs: `catchLogs` at the level asked for, the last {@link LOG_KEEP} records kept.
 *
 * This process (the observer's own node) is left out of the view, and so are its links.
 */
import { dbBackend } from "../../lib/db/backend.ts";
import { NODE } from "../../lib/kernel/ids.ts";
import { LEVELS, withContext } from "../../lib/log.ts";
import { type CaughtLog, type LogCatcher, catchLogs } from "../../lib/log-catcher.ts";
import { monNodes } from "../../lib/node/index.ts";
import type { LinkInfo, NodeInfo } from "../../lib/node/introspection.ts";
import { currentNetwork } from "../../lib/node/network.ts";
import { toJson } from "../cli/command.ts";
import { nodeRequest } from "../cli/network.ts";

/** Seconds between two `aemp_info` requests to a node. */
export const POLL_INTERVAL = 1;
/** Seconds a down node stays on view. */
export const DOWN_KEEP = 300;
/** Log records kept for pages that open later. */
export const LOG_KEEP = 1000;
/** Longest value text sent to the page; longer ones are cut. */
const VALUE_TEXT_MAX = 2000;

/** A node as the page shows it. */
export interface NodeView {
  id: string;
  addresses: string[];
  global: boolean;
  up: boolean;
  /** Why it is down, and since when (seconds since the epoch). */
  downReason?: string;
  downSince?: number;
  /** `provider=` of its greeting (`aemp-ts/...`, Perl's `AE-2.01`), once linked. */
  provider?: string;
  perl: boolean;
  /** Whether it answers `aemp_info`: "unknown" until asked. */
  introspection: "yes" | "no" | "unknown";
  info?: NodeInfo;
  /** Messages and bytes per second on each of its links, by peer. */
  rates?: Record<string, LinkRate>;
  /** The last failure asking it, if the last request failed. */
  problem?: string;
}

/** Per second, each way, on one link. */
export interface LinkRate {
  out: number;
  in: number;
  bytesOut: number;
  bytesIn: number;
}

/** A link between two nodes, as the page draws it. */
export interface EdgeView {
  a: string;
  b: string;
  /** Messages per second, both ways together. */
  rate: number;
  /** Bytes per second, both ways together. */
  byteRate: number;
  /** The framing(s) used: "superjson", or "json / superjson" when the two ways differ. */
  framing: string;
  tls: boolean;
}

export interface GraphView {
  observer: string;
  time: number;
  nodes: NodeView[];
  edges: EdgeView[];
}

export interface LogLine {
  node: string;
  level: number;
  time: number;
  /** The record's text, behind its context unless that is aemp's own ("Chat::Server: ..."). */
  text: string;
}

/** A database change: keys set (value as JSON text) and keys deleted. */
export interface DbChange {
  family: string;
  set: Record<string, string>;
  deleted: string[];
}

export type ModelEvent = { type: "graph"; graph: GraphView } | { type: "db"; change: DbChange } | { type: "log"; log: LogLine };

export interface Snapshot {
  graph: GraphView;
  db: Record<string, Record<string, string>>;
  logs: LogLine[];
  logLevel: number;
  /** The log levels' names, by number (lib/log.ts). */
  levels: string[];
}

interface NodeState extends NodeView {
  inDb: boolean;
  asking: boolean;
  /** Link counters of the previous answer, by peer, to compute rates. */
  previous?: { time: number; links: Map<string, LinkInfo> };
}

function valueText(value: unknown): string {
  const text = toJson(value);
  return text.length > VALUE_TEXT_MAX ? `${text.slice(0, VALUE_TEXT_MAX)}...` : text;
}

const isYes = (v: unknown): boolean => v === "1" || v === 1 || v === true;

export class NetworkModel {
  private readonly nodes = new Map<string, NodeState>();
  private readonly families = new Map<string, { content: Record<string, string>; stop: () => void }>();
  private readonly logs: LogLine[] = [];
  private readonly listeners = new Set<(e: ModelEvent) => void>();
  private readonly stops: ((() => void) | { cancel(): void })[] = [];
  private catcher: LogCatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private graphQueued = false;
  private stopped = false;

  constructor(
    readonly logLevel: number,
    private readonly requestTimeout = 3,
  ) {}

  /** Starts watching (the process must have joined the network). */
  start(): void {
    const db = dbBackend();
    this.stops.push(
      db.watch("'l", (content, added, changed, deleted) => {
        for (const id of [...added, ...changed]) {
          if (id === NODE()) continue;
          const n = this.node(id);
          n.inDb = true;
          n.addresses = Array.isArray(content[id]) ? (content[id] as unknown[]).filter((a): a is string => typeof a === "string") : [];
          this.markUp(n);
        }
        for (const id of deleted) {
          const n = this.nodes.get(id);
          if (n === undefined) continue;
          n.inDb = false;
          this.markDown(n, "left the network (its global node lost its link)");
        }
        this.graphChanged();
      }),
      db.watch("'g", (content) => {
        for (const n of this.nodes.values()) n.global = n.id in content;
        this.graphChanged();
      }),
      monNodes((id, up, text) => {
        const n = this.nodes.get(id);
        if (n === undefined) return;
        if (up) {
          n.provider = currentNetwork()?.nodes.get(id)?.link?.peer?.keys.provider ?? n.provider;
          n.perl = n.provider?.startsWith("AE-") ?? false;
          this.markUp(n);
        } else this.markDown(n, text ?? "link lost");
        this.graphChanged();
      }),
    );
    this.catcher = catchLogs(this.logLevel, (r) => this.addLog(r), { self: false, backlog: true });
    this.timer = setInterval(() => this.poll(), POLL_INTERVAL * 1000);
    this.poll();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const stop of this.stops) typeof stop === "function" ? stop() : stop.cancel();
    for (const f of this.families.values()) f.stop();
    this.catcher?.cancel();
    this.listeners.clear();
  }

  /** Calls `listener` with every change from now on; returns a remover. */
  subscribe(listener: (e: ModelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): Snapshot {
    const db: Snapshot["db"] = {};
    for (const [family, f] of this.families) db[family] = { ...f.content };
    return { graph: this.graph(), db, logs: [...this.logs], logLevel: this.logLevel, levels: [...LEVELS] };
  }

  private emit(e: ModelEvent): void {
    for (const l of this.listeners) l(e);
  }

  private node(id: string): NodeState {
    let n = this.nodes.get(id);
    if (n === undefined) {
      n = { id, addresses: [], global: false, up: true, perl: false, introspection: "unknown", inDb: false, asking: false };
      this.nodes.set(id, n);
    }
    return n;
  }

  private markUp(n: NodeState): void {
    n.up = true;
    n.downReason = n.downSince = undefined;
  }

  private markDown(n: NodeState, reason: string): void {
    if (!n.up) return;
    n.up = false;
    n.downReason = reason;
    n.downSince = Date.now() / 1000;
    n.rates = undefined;
    n.previous = undefined;
  }

  /** Sends the graph soon, once for everything that changed in this turn. */
  private graphChanged(): void {
    if (this.graphQueued || this.stopped) return;
    this.graphQueued = true;
    setImmediate(() => {
      this.graphQueued = false;
      this.emit({ type: "graph", graph: this.graph() });
    });
  }

  private poll(): void {
    const now = Date.now() / 1000;
    for (const n of this.nodes.values()) {
      if (!n.up && n.downSince !== undefined && now - n.downSince > DOWN_KEEP && !n.inDb) {
        this.nodes.delete(n.id);
        this.graphChanged();
        continue;
      }
      // A node without a listener cannot be dialled. A down node still in 'l is asked
      // too: the link that failed may have been ours only.
      if (n.asking || n.addresses.length === 0 || (!n.up && !n.inDb) || n.introspection === "no") continue;
      n.asking = true;
      this.ask(n).finally(() => {
        n.asking = false;
        this.graphChanged();
      });
    }
  }

  private async ask(n: NodeState): Promise<void> {
    try {
      if (n.introspection === "unknown") {
        const [can] = await nodeRequest(n.id, this.requestTimeout, "can", "aemp_info");
        n.introspection = isYes(can) ? "yes" : "no";
        n.provider = currentNetwork()?.nodes.get(n.id)?.link?.peer?.keys.provider ?? n.provider;
        n.perl = n.provider?.startsWith("AE-") ?? false;
        if (n.introspection === "no") return;
      }
      const [info] = await nodeRequest(n.id, this.requestTimeout, "aemp_info");
      if (info === null || typeof info !== "object" || !Array.isArray((info as NodeInfo).links)) throw new Error("unexpected answer to aemp_info");
      this.took(n, info as NodeInfo);
    } catch (err) {
      n.problem = (err as Error).message;
      if (/cannot reach node/.test(n.problem)) this.markDown(n, n.problem.replace(/^cannot reach node \S+: /, ""));
    }
  }

  /** A node answered `aemp_info`: keep it, compute its link rates, watch its families. */
  private took(n: NodeState, info: NodeInfo): void {
    if (this.stopped || !this.nodes.has(n.id)) return;
    n.problem = undefined;
    this.markUp(n);
    const links = info.links.filter((l) => l.peer !== NODE());
    const rates: Record<string, LinkRate> = {};
    const prev = n.previous;
    for (const l of links) {
      // Since the previous answer, or since the link came up if it is new.
      const before = prev?.links.get(l.peer);
      const base = before !== undefined && before.since === l.since ? before : undefined;
      const dt = info.time - (base === undefined ? l.since : prev!.time);
      const per = (now: number, then = 0): number => (dt > 0 ? Math.max(0, (now - then) / dt) : 0);
      rates[l.peer] = {
        out: per(l.packetsOut, base?.packetsOut),
        in: per(l.packetsIn, base?.packetsIn),
        bytesOut: per(l.bytesOut, base?.bytesOut),
        bytesIn: per(l.bytesIn, base?.bytesIn),
      };
    }
    n.previous = { time: info.time, links: new Map(links.map((l) => [l.peer, l])) };
    n.rates = rates;
    n.info = { ...info, links };
    const db = info.db as { families?: unknown } | undefined;
    if (Array.isArray(db?.families)) for (const f of db.families) if (typeof f === "string") this.watchFamily(f);
  }

  private watchFamily(family: string): void {
    if (this.families.has(family) || this.stopped) return;
    const entry = { content: {} as Record<string, string>, stop: () => {} };
    this.families.set(family, entry);
    entry.stop = dbBackend().watch(family, (content, added, changed, deleted) => {
      const set: Record<string, string> = {};
      for (const k of [...added, ...changed]) set[k] = entry.content[k] = valueText(content[k]);
      for (const k of deleted) delete entry.content[k];
      if (added.length + changed.length + deleted.length > 0) this.emit({ type: "db", change: { family, set, deleted } });
    });
  }

  private addLog(r: CaughtLog): void {
    const line: LogLine = { node: r.node, level: r.level, time: r.time, text: withContext(r.context, r.text) };
    this.logs.push(line);
    if (this.logs.length > LOG_KEEP) this.logs.splice(0, this.logs.length - LOG_KEEP);
    this.emit({ type: "log", log: line });
  }

  /** The view: nodes (without internals) and the links between nodes on view. */
  graph(): GraphView {
    const nodes: NodeView[] = [];
    const edges = new Map<string, EdgeView>();
    for (const n of this.nodes.values()) {
      const { inDb: _inDb, asking: _asking, previous: _previous, ...view } = n;
      nodes.push(view);
      if (!n.up || n.info === undefined) continue;
      for (const l of n.info.links) {
        const peer = this.nodes.get(l.peer);
        if (peer === undefined || !peer.up) continue;
        const [a, b] = n.id < l.peer ? [n.id, l.peer] : [l.peer, n.id];
        const key = `${a}\u0000${b}`;
        const r = n.rates?.[l.peer] ?? { out: 0, in: 0, bytesOut: 0, bytesIn: 0 };
        const framing = l.framingOut === l.framingIn ? l.framingOut : `${l.framingOut} / ${l.framingIn}`;
        // One end's counters tell both ways; when both ends answer, each tells what it
        // sent (which is what the other received), so nothing counts twice.
        const peerTells = peer.info !== undefined && peer.info.links.some((pl) => pl.peer === n.id);
        const rate = peerTells ? r.out : r.out + r.in;
        const byteRate = peerTells ? r.bytesOut : r.bytesOut + r.bytesIn;
        const edge = edges.get(key);
        if (edge === undefined) edges.set(key, { a, b, rate, byteRate, framing, tls: l.tls });
        else {
          edge.rate += rate;
          edge.byteRate += byteRate;
        }
      }
    }
    for (const e of edges.values()) {
      e.rate = Math.round(e.rate * 10) / 10;
      e.byteRate = Math.round(e.byteRate);
    }
    nodes.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    return { observer: NODE(), time: Date.now() / 1000, nodes, edges: [...edges.values()] };
  }
}
