/**
 * The log catcher (AnyEvent::MP::LogCatcher): the log records of every node, present
 * and joining later, delivered to one callback, each with the node it came from.
 *
 * `catchLogs(level, cb)` watches the `'l` family of the database (every node
 * that joined the network has an entry) and subscribes to each node in it, including
 * nodes that join later; a node that leaves `'l` is dropped. It returns a
 * `LogCatcher`: a guard whose `cancel()` stops everything, plus `nodes()` and
 * `settled()` (see below).
 *
 * The protocol is Perl's, so a Perl catcher sees our nodes' logs and ours sees a Perl
 * node's:
 * - For node N the catcher creates a port R and sends N's node port
 *   `["AnyEvent::MP::LogCatcher::connect", 0, R, level, options]`; a failure of the
 *   link to N kills R (and the catcher subscribes again a second later while N is
 *   still in `'l`).
 * - N then sends every log record at or under `level` to R as
 *   `[time, context, level, text]` (time in seconds since the epoch, fractional;
 *   context `"aemp"` for aemp's own records, the logger's for an application's, as
 *   Perl sends the package name; levels numbered as AnyEvent::Log numbers them),
 *   until R dies: N monitors R, so cancelling the catcher (which kills R) or losing
 *   the catcher's node stops it. Records above N's printed level are built only
 *   while somebody asked for them; a node nobody subscribed to pays nothing.
 * - `options` is ours (Perl ignores a fifth element): `{backlog, ready}`. With
 *   `backlog`, N first sends its recent printed records (lib/log.ts `recentLogs`, at
 *   or under `level`); with `ready`, it then sends `["aemp_logs_ready"]`, which tells
 *   the catcher that the subscription is live (`settled()` waits for it).
 * - Our own node is subscribed to directly, without a message (unless `self: false`).
 *
 * Perl's service `AnyEvent::MP::LogCatcher::catch` exists here too, so the LogCatcher
 * manual's `aemp run ... services '[["AnyEvent::MP::LogCatcher::catch", 9]]'` starts a
 * node that prints every node's records up to level 9 on its stderr.
 */
import type { Guard } from "./kernel/guard.ts";
import { NODE, isPortId } from "./kernel/ids.ts";
import { monitor } from "./kernel/mon.ts";
import { registerNodeRequest } from "./kernel/node-port.ts";
import { kil, port, rcv, snd } from "./kernel/ports.ts";
import { type Timer, timer } from "./kernel/timers.ts";
import { currentRouter } from "./kernel/remote.ts";
import { registerService } from "./config/services.ts";
import { dbBackend } from "./db/backend.ts";
import { type Level, type LogRecord, debug, levelNumber, onLog, recentLogs, withContext } from "./log.ts";

/** The node request a catcher sends (Perl's function name). */
export const LOGCATCHER_CONNECT = "AnyEvent::MP::LogCatcher::connect";
const READY = "aemp_logs_ready";
/** Seconds before subscribing again to a node whose link failed. */
const RESUBSCRIBE_DELAY = 1;

/** One log record as a catcher receives it. */
export interface CaughtLog {
  /** The node that logged it. */
  node: string;
  /** 1 fatal, 2 alert, 3 critical, 4 error, 5 warn, 6 note, 7 info, 8 debug, 9 trace. */
  level: number;
  /** Who logged it on that node: "aemp" for aemp itself, else a logger's context (a Perl package name). */
  context: string;
  /** When it was logged, in seconds since the epoch (the node's clock). */
  time: number;
  text: string;
  /** Whether it was logged before the catcher subscribed (sent as backlog). */
  backlog: boolean;
}

export interface CatchLogsOptions {
  /** Include this node's own records. Default true. */
  self?: boolean;
  /** Ask each node first for its recent printed records (`recentLogs`). Default false. */
  backlog?: boolean;
}

/** What `catchLogs` returns: a guard that stops catching, and its progress. */
export interface LogCatcher extends Guard {
  /** The nodes subscribed to now. */
  nodes(): string[];
  /**
   * Resolves once every node known when the catcher started (and any joined since)
   * has confirmed its subscription, backlog included; or after `timeout` seconds
   * (default 5), since a node may be unreachable or a Perl node that sends no
   * confirmation. Resolves with the nodes that have not confirmed.
   */
  settled(timeout?: number): Promise<string[]>;
}

// ---- the node side: sending our records to subscribers ------------------------------------

interface Subscriber {
  level: number;
  stop: Guard;
}

/** Subscriber port -> its level. */
const subscribers = new Map<string, Subscriber>();
let removeSink: (() => void) | null = null;
let forwarding = false;

function forward(record: LogRecord): void {
  // Sending may log (a message that cannot be encoded...): never forward those.
  if (forwarding) return;
  forwarding = true;
  try {
    for (const [to, s] of subscribers) if (record.level <= s.level) sendRecord(to, record);
  } finally {
    forwarding = false;
  }
}

function sendRecord(to: string, r: LogRecord): void {
  snd(to, r.time / 1000, r.context, r.level, r.text);
}

function updateSink(): void {
  removeSink?.();
  removeSink = null;
  if (subscribers.size === 0) return;
  let max = 0;
  for (const s of subscribers.values()) max = Math.max(max, s.level);
  removeSink = onLog(forward, max);
}

function subscribe(to: string, level: number, options: { backlog?: unknown; ready?: unknown }): void {
  subscribers.get(to)?.stop.cancel();
  const stop = monitor(to, () => {
    if (subscribers.get(to)?.stop !== stop) return;
    subscribers.delete(to);
    updateSink();
  });
  subscribers.set(to, { level, stop });
  if (options.backlog) for (const r of recentLogs(level)) sendRecord(to, r);
  if (options.ready) snd(to, READY);
  updateSink();
  debug(`sending log records up to level ${level} to ${to}`);
}

registerNodeRequest(LOGCATCHER_CONNECT, (_from, _version: unknown, to: unknown, level: unknown, options: unknown) => {
  // A port ID with a node part: records to "#b" would fail in snd, for every record.
  if (!isPortId(to)) return;
  // Perl sends a number (AnyEvent::Log's, as ours); a name or a numeric string is read too.
  const n = typeof level === "number" && Number.isFinite(level) ? Math.max(0, Math.min(9, Math.trunc(level))) : levelNumber(level);
  const opts = options !== null && typeof options === "object" ? (options as Record<string, unknown>) : {};
  subscribe(to, n ?? 9, opts);
});

/** How many ports receive this node's records (for specs and introspection). */
export function logSubscriberCount(): number {
  return subscribers.size;
}

// ---- the catcher side -----------------------------------------------------------------------

interface NodeState {
  port: string;
  ready: boolean;
  watch: Guard | undefined;
  retry: Timer | undefined;
}

/**
 * Collects the log records at or under `level` (1..9 or a name such as `"info"`) of
 * every node in the network,
 * present and joining later, and calls `cb` with each (see the module comment).
 * Nodes are found in the `'l` family, so a process that never calls `configure` (and
 * so is in no network, and not in `'l` either) catches nothing.
 *
 * ```ts
 * using catcher = catchLogs(7, (r) => console.log(`${r.node} <${r.level}> ${r.text}`));
 * ```
 */
export function catchLogs(catchLevel: Level, cb: (record: CaughtLog) => void, options: CatchLogsOptions = {}): LogCatcher {
  const level = levelNumber(catchLevel) ?? 0;
  if (level < 1) throw new TypeError(`catchLogs: 'level' must be a level 1..9 or a name (fatal .. trace), received ${JSON.stringify(catchLevel) ?? String(catchLevel)}`);
  if (typeof cb !== "function") throw new TypeError("catchLogs: 'cb' must be a function");
  const includeSelf = options.self ?? true;
  const nodes = new Map<string, NodeState>();
  /** Nodes whose subscription is not confirmed yet; settled() waits for them. */
  const unconfirmed = new Set<string>();
  const settleWaiters = new Set<() => void>();
  let loaded = false;
  let stopped = false;

  const checkSettled = (): void => {
    if (!loaded || unconfirmed.size > 0) return;
    for (const w of settleWaiters) w();
  };

  const start = (node: string, backlog: boolean): void => {
    if (stopped || (node === NODE() && !includeSelf)) return;
    const existing = nodes.get(node);
    if (existing !== undefined) {
      if (existing.port !== "") return;
      existing.retry?.cancel(); // a resubscription was planned: now is as good
    }
    const state: NodeState = { port: "", ready: false, watch: undefined, retry: undefined };
    const r = port((time: unknown, context: unknown, lvl: unknown, text: unknown) => {
      cb({ node, level: Number(lvl), context: String(context), time: Number(time), text: String(text), backlog: !state.ready });
    });
    rcv(r, READY, () => {
      state.ready = true;
      unconfirmed.delete(node);
      checkSettled();
    });
    state.port = r;
    nodes.set(node, state);
    unconfirmed.add(node);
    monitor(r, (reason) => {
      state.watch?.cancel();
      if (stopped || nodes.get(node) !== state) return;
      nodes.delete(node);
      unconfirmed.delete(node);
      checkSettled();
      if (reason.length === 0) return;
      debug(`log catcher lost ${node}: ${reason.map(String).join(" ")}`);
      // Still in 'l: subscribe again (no second backlog).
      const retry = timer(RESUBSCRIBE_DELAY, () => start(node, false)).unref();
      nodes.set(node, { port: "", ready: false, watch: undefined, retry });
    });
    const opts = { backlog, ready: true };
    if (node === NODE()) {
      subscribe(r, level, opts);
      return;
    }
    state.watch = monitor(node, (reason) => kil(r, ...reason));
    currentRouter().send(node, `${node}#`, [LOGCATCHER_CONNECT, 0, r, level, opts]);
  };

  const stop = (node: string): void => {
    const state = nodes.get(node);
    nodes.delete(node);
    unconfirmed.delete(node);
    if (state === undefined) return;
    state.retry?.cancel();
    state.watch?.cancel();
    if (state.port !== "") kil(state.port);
  };

  // The database that lists the nodes: the global nodes', or Redis when configured.
  const unwatch = dbBackend().watch("'l", (_family, added, _changed, deleted) => {
    for (const node of added) start(node, options.backlog ?? false);
    for (const node of deleted) stop(node);
    if (!loaded) {
      loaded = true;
      checkSettled();
    }
  });

  const cancel = (): void => {
    if (stopped) return;
    unwatch();
    const all = [...nodes.keys()];
    stopped = true;
    for (const node of all) stop(node);
    for (const w of settleWaiters) w();
  };

  return {
    cancel,
    [Symbol.dispose]: cancel,
    nodes: () => [...nodes.entries()].filter(([, s]) => s.port !== "").map(([n]) => n),
    settled(timeout = 5) {
      return new Promise<string[]>((resolve) => {
        const done = (): void => {
          deadline.cancel();
          settleWaiters.delete(done);
          resolve([...unconfirmed]);
        };
        const deadline = timer(timeout, done);
        settleWaiters.add(done);
        checkSettled();
      });
    },
  };
}

// ---- Perl's catch service --------------------------------------------------------------------

let printing: LogCatcher | null = null;

/**
 * `AnyEvent::MP::LogCatcher::catch(level)`: prints the records of every node up to
 * `level` on stderr, one line each with the node ID; called again it replaces the
 * catcher, with no level (or null) it stops, as Perl's does.
 */
function catchService(level?: unknown): void {
  printing?.cancel();
  printing = null;
  if (level === undefined || level === null) return;
  printing = catchLogs(level as Level, (r) => {
    process.stderr.write(`${new Date(r.time * 1000).toISOString()} [${r.node}] <${r.level}> ${withContext(r.context, r.text)}\n`);
  }, { self: false });
}
registerService(LOGCATCHER_CONNECT.replace(/connect$/, "catch"), catchService);
