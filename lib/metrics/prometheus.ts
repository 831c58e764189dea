/**
 * The Prometheus endpoint: `configure({ metrics: "127.0.0.1:9464" })` (or the rc key
 * `metrics`) serves this node's figures in the Prometheus text format at `/metrics`.
 *
 * Loaded only when metrics are configured (configure imports it on demand): prom-client
 * costs about 30 ms and 13 MB of RSS to load, which a node without metrics should not
 * pay. The figures are read at scrape time from the counters the links, the kernel and
 * the database keep anyway (see lib/node/introspection.ts); nothing is counted for the
 * metrics themselves.
 *
 * Served: `aemp_messages_sent_total{peer}`, `aemp_messages_received_total{peer}`,
 * `aemp_bytes_sent_total{peer}`, `aemp_bytes_received_total{peer}` (every node this one
 * ever had a link with, the traffic of its earlier links included),
 * `aemp_links`, `aemp_link_failures_total`, `aemp_ports`, `aemp_async_ports`,
 * `aemp_mailbox_messages` (summed over async ports), `aemp_run_queue_length`,
 * `aemp_db_changes_total` (keys this node set or deleted), `aemp_node_info{node,
 * provider, version}` (always 1), and the process metrics, named as prom-client names
 * its defaults so that the usual dashboards work: `process_cpu_user_seconds_total`,
 * `process_cpu_system_seconds_total`, `process_cpu_seconds_total`,
 * `process_start_time_seconds`, `process_resident_memory_bytes`,
 * `nodejs_heap_size_total_bytes`, `nodejs_heap_size_used_bytes`,
 * `nodejs_external_memory_bytes`, `nodejs_eventloop_lag_seconds` (the largest delay since
 * the previous scrape) with `_mean_` and `_p99_` variants, `nodejs_version_info`.
 *
 * prom-client's `collectDefaultMetrics` is not used: its GC-duration histogram observes
 * every garbage collection, a cost that grows with the message rate (about 1.5% of a
 * small-message stream here), while everything above is read only at scrape time (the
 * lag histogram aside, a timer every 10 ms). The registry is aemp's own, so an
 * application's prom-client registry is not touched.
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import promClient from "prom-client";
import { dbWriteCount } from "../db/db.ts";
import { NODE } from "../kernel/ids.ts";
import { mailboxTotals, portCount, runQueueLength } from "../kernel/ports.ts";
import { lagMonitor } from "../node/introspection.ts";
import { currentNetwork } from "../node/network.ts";
import type { Traffic } from "../node/remote-node.ts";
import { linkFailureCount } from "../node/remote-node.ts";
import { PROVIDER } from "../transport/handshake.ts";
import { parseHostPort } from "../transport/tcp.ts";
import { VERSION } from "../version.ts";

const { Counter, Gauge, Registry } = promClient;

/** A running endpoint. */
export interface MetricsServer {
  /** The address bound, `host:port` (the port resolved). */
  readonly address: string;
  close(): Promise<void>;
}

/** The traffic per peer: every node this one had a link with. */
function trafficByPeer(): [string, Traffic][] {
  return currentNetwork()?.trafficByPeer() ?? [];
}

/** A registry holding aemp's metrics and the process metrics. */
export function createRegistry(): promClient.Registry {
  const registry = new Registry();
  const perPeer = (name: string, help: string, pick: (t: Traffic) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ["peer"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [peer, t] of trafficByPeer()) this.inc({ peer }, pick(t));
      },
    });
  };
  perPeer("aemp_messages_sent_total", "Packets sent to a peer node", (t) => t.packetsOut);
  perPeer("aemp_messages_received_total", "Packets received from a peer node", (t) => t.packetsIn);
  perPeer("aemp_bytes_sent_total", "Bytes sent to a peer node after the handshake, as on the wire", (t) => t.bytesOut);
  perPeer("aemp_bytes_received_total", "Bytes received from a peer node after the handshake, as on the wire", (t) => t.bytesIn);
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  gauge("aemp_links", "Live links to other nodes", () => {
    let n = 0;
    for (const node of currentNetwork()?.nodes.values() ?? []) if (node.link !== null) n++;
    return n;
  });
  counter("aemp_link_failures_total", "Links lost and connections to nodes that could not be made", linkFailureCount);
  gauge("aemp_ports", "Live local ports", portCount);
  gauge("aemp_async_ports", "Live local ports with an async mailbox", () => mailboxTotals().ports);
  gauge("aemp_mailbox_messages", "Messages waiting in the mailboxes of all async ports", () => mailboxTotals().messages);
  gauge("aemp_run_queue_length", "Deliveries queued on the run queue and not run yet", runQueueLength);
  counter("aemp_db_changes_total", "Database keys this node set or deleted", dbWriteCount);
  addProcessMetrics(registry, gauge, counter);
  new Gauge({
    name: "aemp_node_info",
    help: "This node: its ID, implementation and version (always 1)",
    labelNames: ["node", "provider", "version"],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ node: NODE(), provider: PROVIDER, version: VERSION }, 1);
    },
  });
  return registry;
}

type Reader = (name: string, help: string, read: () => number) => void;

/** CPU, memory, heap and event-loop lag of this process, read at scrape time. */
function addProcessMetrics(registry: promClient.Registry, gauge: Reader, counter: Reader): void {
  counter("process_cpu_user_seconds_total", "User CPU time spent in seconds", () => process.cpuUsage().user / 1e6);
  counter("process_cpu_system_seconds_total", "System CPU time spent in seconds", () => process.cpuUsage().system / 1e6);
  counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds", () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
  const started = Math.round(Date.now() / 1000 - process.uptime());
  gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds", () => started);
  gauge("process_resident_memory_bytes", "Resident memory size in bytes", () => process.memoryUsage.rss());
  gauge("nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes", () => process.memoryUsage().heapTotal);
  gauge("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes", () => process.memoryUsage().heapUsed);
  gauge("nodejs_external_memory_bytes", "Node.js external memory size in bytes", () => process.memoryUsage().external);
  // One reading per scrape, shared by the three gauges (collected in this order).
  const lag = lagMonitor();
  let last = { mean: 0, p99: 0, max: 0 };
  gauge("nodejs_eventloop_lag_seconds", "Largest event-loop delay since the previous scrape, in seconds", () => (last = lag.read()).max);
  gauge("nodejs_eventloop_lag_mean_seconds", "Mean event-loop delay since the previous scrape, in seconds", () => last.mean);
  gauge("nodejs_eventloop_lag_p99_seconds", "99th percentile of the event-loop delay since the previous scrape, in seconds", () => last.p99);
  new Gauge({
    name: "nodejs_version_info",
    help: "Node.js version info",
    labelNames: ["version"],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ version: process.version }, 1);
    },
  });
}

/**
 * Serves `/metrics` on `address` (`host:port`; host `*` = every interface, port `*`
 * or 0 = a free one). Rejects if the address cannot be bound.
 */
export async function startMetrics(address: string): Promise<MetricsServer> {
  const { host, port } = parseHostPort(address, "metrics");
  const registry = createRegistry();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the metrics are at /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? undefined : text),
      (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  // A scraper that keeps its connection open must not keep the process alive.
  server.on("connection", (socket) => socket.unref());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port === "*" ? 0 : Number(port), host === "*" ? undefined : host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.unref();
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    address: `${shownHost}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
