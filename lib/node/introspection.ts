/**
 * Node-port requests that let tools look inside a running network (`aemp trace`,
 * `aemp observe`), and the snapshot they answer with (also read by the metrics
 * endpoint, lib/metrics/).
 *
 * - `["", "aemp_links", ...reply]`: replies with the node IDs this node has a live
 *   link to (an array of strings).
 * - `["", "aemp_info", ...reply]`: replies with a {@link NodeInfo} object: provider
 *   and versions, uptime, memory, event-loop lag, port and mailbox counts (the deepest
 *   mailboxes first, at most {@link MAX_MAILBOXES}), the run queue, and per link its
 *   peer, framing, TLS and the packets and bytes it carried since it came up.
 *
 * Both are read-only and tell an authenticated peer (who can already send to any port)
 * nothing that changes the node. Perl nodes do not know them: ask
 * `["", "can", "aemp_info", ...reply]` first (they answer `""`).
 *
 * Nothing here runs unless asked: the links count packets with plain increments
 * (lib/transport/connection.ts), and the snapshot is built per request. The event-loop
 * delay histogram starts with the first request and reports what it saw since the
 * previous one.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import { NODE, isPortId } from "../kernel/ids.ts";
import { registerNodeRequest } from "../kernel/node-port.ts";
import { deepestMailboxes, mailboxTotals, portCount, runQueueLength, snd } from "../kernel/ports.ts";
import { PROVIDER } from "../transport/handshake.ts";
import { VERSION } from "../version.ts";
import { upNodes } from "./index.ts";
import { currentNetwork } from "./network.ts";

/** The most mailboxes an `aemp_info` answer lists. */
export const MAX_MAILBOXES = 20;

/** One live link as `aemp_info` describes it. */
export interface LinkInfo {
  peer: string;
  /** Whether this node dialled it. */
  dialled: boolean;
  /** The peer's address as this node sees it (`ip:port`). */
  address: string;
  tls: boolean;
  /** The framing this node writes on the link, and the one it reads. */
  framingOut: string;
  framingIn: string;
  /** When the link came up, seconds since the epoch. */
  since: number;
  packetsOut: number;
  packetsIn: number;
  /** Bytes on the wire after the handshake (TLS records included). */
  bytesOut: number;
  bytesIn: number;
}

/** What `aemp_info` answers. Times in seconds, sizes in bytes. */
export interface NodeInfo {
  node: string;
  /** The implementation, as in the greeting's `provider=` (`aemp-ts/VERSION`). */
  provider: string;
  version: string;
  /** The runtime's version (`process.version`). */
  runtime: string;
  pid: number;
  /** The node's clock, seconds since the epoch. */
  time: number;
  uptime: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** Event-loop delay since the previous `aemp_info` (zeros on the first). */
  eventLoopLag: EventLoopLag;
  ports: number;
  asyncPorts: number;
  /** Messages waiting in all async ports' mailboxes. */
  mailboxMessages: number;
  mailboxes: { port: string; messages: number }[];
  /** Deliveries queued and not run yet. */
  runQueue: number;
  links: LinkInfo[];
  /** Sections other layers add (see {@link addInfoSection}), e.g. `db`. */
  [section: string]: unknown;
}

/** Milliseconds between an event-loop delay histogram's samples. */
const LAG_RESOLUTION = 10;

/** Event-loop delay, in seconds. */
export interface EventLoopLag {
  mean: number;
  p99: number;
  max: number;
}

/**
 * An event-loop delay monitor that starts on creation: each `read()` gives the delay
 * seen since the previous one (zeros on the first, or when no sample was taken). Each
 * reader of lag (`aemp_info`, the metrics endpoint) has its own, so they do not reset
 * each other's figures.
 */
export function lagMonitor(): { read(): EventLoopLag } {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION });
  h.enable();
  // The histogram records the time between two samples, so an idle loop reads as the
  // resolution itself: the lag is what exceeds it.
  const seconds = (ns: number): number => Math.max(0, ns / 1e9 - LAG_RESOLUTION / 1000);
  return {
    read() {
      // A histogram that saw no sample yet reports NaN and huge numbers: report zeros.
      const out = h.count > 0 ? { mean: seconds(h.mean), p99: seconds(h.percentile(99)), max: seconds(h.max) } : { mean: 0, p99: 0, max: 0 };
      h.reset();
      return out;
    },
  };
}

/** The monitor of `aemp_info`, started by the first request. */
let lag: { read(): EventLoopLag } | undefined;

function eventLoopLag(): EventLoopLag {
  if (lag !== undefined) return lag.read();
  lag = lagMonitor();
  return { mean: 0, p99: 0, max: 0 };
}

/** The live links of this node, with their counters. */
export function linkInfos(): LinkInfo[] {
  const net = currentNetwork();
  if (net === null) return [];
  const out: LinkInfo[] = [];
  for (const node of net.nodes.values()) {
    const link = node.link;
    if (link === null) continue;
    out.push({
      peer: node.id,
      dialled: link.outbound,
      address: `${link.socket.remoteAddress ?? "?"}:${link.socket.remotePort ?? "?"}`,
      tls: link.isTls,
      framingOut: link.writeFraming,
      framingIn: link.readFraming,
      since: link.upSince,
      packetsOut: link.packetsOut,
      packetsIn: link.packetsIn,
      bytesOut: link.bytesOut,
      bytesIn: link.bytesIn,
    });
  }
  return out;
}

const sections = new Map<string, () => unknown>();

/**
 * Adds a section to every `aemp_info` answer: `fn()` is called per request and its
 * result (plain JSON values) goes under `name`. For layers above this one (the
 * database adds `db`). A name already used is replaced.
 */
export function addInfoSection(name: string, fn: () => unknown): void {
  sections.set(name, fn);
}

/** This node's snapshot, as `aemp_info` answers it. */
export function nodeInfo(): NodeInfo {
  const memory = process.memoryUsage();
  const mailboxes = mailboxTotals();
  const info: NodeInfo = {
    node: NODE(),
    provider: PROVIDER,
    version: VERSION,
    runtime: process.version,
    pid: process.pid,
    time: Date.now() / 1000,
    uptime: process.uptime(),
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    eventLoopLag: eventLoopLag(),
    ports: portCount(),
    asyncPorts: mailboxes.ports,
    mailboxMessages: mailboxes.messages,
    mailboxes: deepestMailboxes(MAX_MAILBOXES),
    runQueue: runQueueLength(),
    links: linkInfos(),
  };
  for (const [name, fn] of sections) info[name] = fn();
  return info;
}

let registered = false;

/** Registers the introspection requests on the node port (once). */
export function registerIntrospection(): void {
  if (registered) return;
  registered = true;
  registerNodeRequest("aemp_links", (_from, ...replyTo: unknown[]) => {
    if (!isPortId(replyTo[0])) return;
    snd(replyTo[0], ...replyTo.slice(1), upNodes());
  });
  registerNodeRequest("aemp_info", (_from, ...replyTo: unknown[]) => {
    if (!isPortId(replyTo[0])) return;
    snd(replyTo[0], ...replyTo.slice(1), nodeInfo());
  });
}
