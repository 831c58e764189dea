/**
 * The Prometheus endpoint (lib/metrics/prometheus.ts): this spec process is a node with
 * `metrics` configured, a test node in a child process talks to it, and `/metrics` is
 * scraped and parsed: the names and types are there, counters move with traffic, the
 * `peer` labels name the right node, gauges follow ports, mailboxes and links.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, configure, dbSet, get, kil, port, portAsync, rcv, shutdown, snd } from "../lib/index.ts";
import { normalizeValue, valueFromArgument } from "../lib/config/rc.ts";
import { latch, rejects, throwsSync } from "./helpers.ts";
import { SECRET, type TestNode, startNode, stopAllNodes } from "./net-helpers.ts";

interface Sample {
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  types: Map<string, string>;
  samples: Map<string, Sample[]>;
  /** The value of `name` with exactly these labels (undefined: no such sample). */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

/** Parses the Prometheus text format (what a scraper reads). */
function parse(text: string): Scrape {
  const types = new Map<string, string>();
  const samples = new Map<string, Sample[]>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1], type[2]);
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    const list = samples.get(m[1]) ?? [];
    list.push({ labels, value: Number(m[3]) });
    samples.set(m[1], list);
  }
  return {
    types,
    samples,
    value(name, labels = {}) {
      const want = JSON.stringify(Object.entries(labels).sort());
      return samples.get(name)?.find((s) => JSON.stringify(Object.entries(s.labels).sort()) === want)?.value;
    },
  };
}

let endpoint = "";
let child: TestNode;
let self = "";

async function scrape(): Promise<Scrape> {
  const r = await fetch(`http://${endpoint}/metrics`);
  assert.is(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parse(await r.text());
}

test.before(async () => {
  await rejects(configure({ norc: true, metrics: "no port here" }), { instanceOf: TypeError, message: "'metrics'" });
  const result = await configure({ norc: true, nodeid: "metrics/%u", binds: ["127.0.0.1:*"], secret: SECRET, metrics: "127.0.0.1:0" });
  self = result.nodeId;
  endpoint = result.metrics!;
  child = await startNode({ seeds: result.addresses }, { name: "peer" });
  await child.linkedTo(self);
});

test.after(async () => {
  await stopAllNodes();
  await shutdown();
});

test("metrics - the configured address is bound and reported; only /metrics is served, by GET", async () => {
  assert.match(endpoint, /^127\.0\.0\.1:\d+$/);
  assert.is((await fetch(`http://${endpoint}/`)).status, 404);
  assert.is((await fetch(`http://${endpoint}/metrics`, { method: "POST" })).status, 405);
});

test("metrics - a bad 'metrics' value is refused, from the rc file and the command line too", () => {
  for (const bad of ["9464", "host:", "127.0.0.1:99999", 9464, ""]) {
    throwsSync(() => normalizeValue("metrics", bad, "top level in rc.json"), { instanceOf: ConfigError, message: "'metrics' must be a host:port" });
  }
  assert.is(valueFromArgument("metrics", "127.0.0.1:9464"), "127.0.0.1:9464");
  assert.is(normalizeValue("metrics", "*:0", "x"), "*:0");
});

test("metrics - every metric is there with its type, aemp's and the process's", async () => {
  const s = await scrape();
  const want: Record<string, string> = {
    aemp_messages_sent_total: "counter",
    aemp_messages_received_total: "counter",
    aemp_bytes_sent_total: "counter",
    aemp_bytes_received_total: "counter",
    aemp_links: "gauge",
    aemp_link_failures_total: "counter",
    aemp_ports: "gauge",
    aemp_async_ports: "gauge",
    aemp_mailbox_messages: "gauge",
    aemp_run_queue_length: "gauge",
    aemp_db_changes_total: "counter",
    aemp_node_info: "gauge",
    process_cpu_seconds_total: "counter",
    process_resident_memory_bytes: "gauge",
    nodejs_eventloop_lag_seconds: "gauge",
    nodejs_heap_size_used_bytes: "gauge",
    process_start_time_seconds: "gauge",
    nodejs_version_info: "gauge",
  };
  for (const [name, type] of Object.entries(want)) assert.is(s.types.get(name), type, name);
  assert.is(s.value("aemp_node_info", { node: self, provider: "aemp-ts/0.2.0", version: "0.2.0" }), 1);
  assert.ok(s.value("process_resident_memory_bytes")! > 1e6);
  assert.is(s.value("aemp_links"), 1, "one link: to the child");
  assert.is(s.value("nodejs_version_info", { version: process.version }), 1);
  assert.ok(Math.abs(s.value("process_start_time_seconds")! - (Date.now() / 1000 - process.uptime())) < 2);
  assert.ok(s.samples.get("nodejs_gc_duration_seconds") === undefined, "no GC observer (see lib/metrics/prometheus.ts)");
});

test("metrics - the event-loop lag gauge shows a blocked loop, once", async () => {
  await scrape();
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      const until = performance.now() + 60;
      while (performance.now() < until);
      resolve();
    }, 20),
  );
  // The histogram's timer, overdue during the block, fires in the next loop iteration.
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  const blocked = await scrape();
  assert.ok(blocked.value("nodejs_eventloop_lag_seconds")! >= 0.04, `lag ${blocked.value("nodejs_eventloop_lag_seconds")}`);
  assert.ok(blocked.value("nodejs_eventloop_lag_mean_seconds")! <= blocked.value("nodejs_eventloop_lag_seconds")!);
  const calm = await scrape();
  assert.ok(calm.value("nodejs_eventloop_lag_seconds")! < blocked.value("nodejs_eventloop_lag_seconds")!, "since the previous scrape only");
});

test("metrics - message and byte counters move with traffic each way, labelled with the peer", async () => {
  const before = await scrape();
  const peer = { peer: child.nodeId };
  // 500 messages from the child to a port here, 300 from here to a port there.
  const got = latch(501, 5000, "the child's messages");
  const p = port(() => got.countDown());
  await child.call("burst", { to: p, n: 500 });
  await got.wait();
  const there = await child.port("counter");
  for (let i = 0; i < 300; i++) snd(there, "n", i);
  snd(there, "end", 300);
  const counted = await child.event((e) => e.ev === "count" && e.port === there, 5000, "the child's count");
  assert.is(counted.count, 300);
  const after = await scrape();
  const moved = (name: string): number => after.value(name, peer)! - (before.value(name, peer) ?? 0);
  assert.ok(moved("aemp_messages_received_total") >= 501, `received ${moved("aemp_messages_received_total")}`);
  assert.ok(moved("aemp_messages_sent_total") >= 301, `sent ${moved("aemp_messages_sent_total")}`);
  // ["n", i] in superjson framing is at least 15 bytes on the wire.
  assert.ok(moved("aemp_bytes_received_total") >= 500 * 15, `bytes received ${moved("aemp_bytes_received_total")}`);
  assert.ok(moved("aemp_bytes_sent_total") >= 300 * 15, `bytes sent ${moved("aemp_bytes_sent_total")}`);
  for (const name of ["aemp_messages_sent_total", "aemp_messages_received_total"]) {
    assert.equal(after.samples.get(name)!.map((x) => x.labels), [peer], `${name}: one series, for the child`);
  }
  kil(p);
});

test("metrics - ports, async mailboxes and database changes are counted", async () => {
  const before = await scrape();
  const waiting = portAsync(async () => {
    await get("never");
  });
  const plain = rcv(port(), "x", () => {});
  for (let i = 0; i < 7; i++) snd(waiting, "other", i);
  const g = dbSet("metricsspec", "k", 1);
  g.cancel();
  // Let the deliveries reach the mailbox.
  await new Promise<void>((r) => setImmediate(r));
  const after = await scrape();
  assert.is(after.value("aemp_ports")! - before.value("aemp_ports")!, 2);
  assert.is(after.value("aemp_async_ports")! - before.value("aemp_async_ports")!, 1);
  assert.is(after.value("aemp_mailbox_messages")! - before.value("aemp_mailbox_messages")!, 7);
  assert.is(after.value("aemp_db_changes_total")! - before.value("aemp_db_changes_total")!, 2, "a set and its delete");
  kil(waiting);
  kil(plain);
  const gone = await scrape();
  assert.is(gone.value("aemp_mailbox_messages"), before.value("aemp_mailbox_messages"));
});

test("metrics - a lost link counts as a failure; the peer's counters stay", async () => {
  const before = await scrape();
  const sent = before.value("aemp_messages_sent_total", { peer: child.nodeId })!;
  child.child.kill("SIGKILL");
  await child.exited;
  // The link ends when the socket does: scrape until it shows (each scrape is a round trip).
  let after = await scrape();
  for (let i = 0; i < 200 && after.value("aemp_links") !== 0; i++) after = await scrape();
  assert.is(after.value("aemp_links"), 0);
  assert.is(after.value("aemp_link_failures_total")! - before.value("aemp_link_failures_total")!, 1);
  assert.is(after.value("aemp_messages_sent_total", { peer: child.nodeId }), sent, "still reported, unchanged");
});

test.run();
