/**
 * Local kernel figures (npm run bench:local), each next to a baseline from this run:
 * - snd -> tagged rcv throughput vs a plain Map lookup + call of the same messages,
 *   streamed and with all 2M messages sent before the first is delivered (a backlog;
 *   target >= 10M/s, Erlang's 10.2M/s for the same);
 * - port create+kill rate vs creating and deleting Map entries holding a closure;
 * - heap bytes per idle callback port, and per port with one tagged receiver
 *   (`rcv(port(), tag, cb)`), vs one Map entry (id -> function);
 * - the first two again with metrics and introspection on (`configure({ metrics })`,
 *   /metrics scraped by another process, as Prometheus would, and `aemp_info` asked of
 *   this node's own node port, both every 0.1 s: ten times as often as `aemp observe` asks, since one run
 *   lasts well under a second), against the same figures measured just before
 *   configuring; per CPU second, which a shared machine disturbs less than the wall
 *   clock. Target: >= 0.97x.
 */
import { spawn } from "node:child_process";
import { NODE, configure, kil, port, rcv, shutdown, snd } from "aemp";
import { best, fmt, gc, now, rate, row, runtime } from "./util.ts";

const N = 2_000_000;

function baselineDelivery(): number {
  const tags = new Map<string, (x: number) => void>();
  let sum = 0;
  tags.set("tick", (x) => {
    sum += x;
  });
  const ports = new Map<string, Map<string, (x: number) => void>>([["anon/x#p.1", tags]]);
  const target = "anon/x#p.1";
  const t0 = now();
  for (let i = 0; i < N; i++) {
    const msg = ["tick", i];
    ports.get(target)!.get(msg[0] as string)!(msg[1] as number);
  }
  const ms = now() - t0;
  if (sum !== (N * (N - 1)) / 2) throw new Error("baseline miscounted");
  return rate(N, ms);
}

/**
 * A producer port streams N messages in chunks of `chunk` (one chunk per run-queue
 * turn, as a port answering a stream of requests would); a consumer with a tag
 * callback counts them. chunk = N sends everything up front, so the whole backlog is
 * alive at once: that shows the cost of a 2M-message queue (mostly GC), not delivery.
 */
function kernelDelivery(chunk: number): Promise<number> {
  return new Promise((resolve) => {
    let count = 0;
    let sent = 0;
    const t0 = now();
    // Typed ports: the types are gone at run time, so the figures are those of plain ports.
    const consumer = rcv(port<["tick", number]>(), "tick", () => {
      if (++count === N) {
        kil(consumer);
        resolve(rate(N, now() - t0));
      }
    });
    const producer = rcv(port<["go"]>(), "go", () => {
      for (let i = 0; i < chunk && sent < N; i++, sent++) snd(consumer, "tick", sent);
      if (sent < N) snd(producer, "go");
      else kil(producer);
    });
    snd(producer, "go");
  });
}

function baselineCreateKill(): number {
  const map = new Map<string, () => void>();
  const t0 = now();
  for (let i = 0; i < 1_000_000; i++) {
    const id = `anon/x#p.${i.toString(36)}`;
    map.set(id, () => {});
    map.delete(id);
  }
  return rate(1_000_000, now() - t0);
}

function kernelCreateKill(): number {
  const cb = () => {};
  const t0 = now();
  for (let i = 0; i < 1_000_000; i++) kil(port(cb));
  return rate(1_000_000, now() - t0);
}

function heapPerEntry(make: (i: number) => unknown): number {
  const M = 1_000_000;
  gc();
  const before = process.memoryUsage().heapUsed;
  const keep = make(M);
  gc();
  const after = process.memoryUsage().heapUsed;
  if (keep === undefined) throw new Error("unreachable");
  return (after - before) / M;
}

console.log(`aemp bench:local (${runtime()}, ${N.toLocaleString()} messages)`);
const base = await best(3, baselineDelivery);
const ours = await best(3, () => kernelDelivery(1000));
row("snd -> tagged rcv, streamed (msgs/s)", fmt(ours), fmt(base), ours / base, "target >= 0.25x, > 9.7M/s (Erlang)");
const bulk = await best(3, () => kernelDelivery(N));
row("  same, all 2M queued up front (msgs/s)", fmt(bulk), fmt(base), bulk / base, `target >= 10M/s (Erlang: 10.2M/s): ${bulk >= 10e6 ? "met" : "MISSED"}`);

const baseCk = await best(3, baselineCreateKill);
const oursCk = await best(3, kernelCreateKill);
row("port create+kill (ports/s)", fmt(oursCk), fmt(baseCk), oursCk / baseCk, "target >= 1M/s");

const baseMem = heapPerEntry((m) => {
  const map = new Map<string, () => void>();
  const cb = () => {};
  for (let i = 0; i < m; i++) map.set(`anon/xxxxxxxxxx#abcd.${i.toString(36)}`, cb);
  return map;
});
const cb = () => {};
// The ports stay alive (in the port table) for the rest of the run.
const oursMem = heapPerEntry((m) => {
  for (let i = 0; i < m; i++) port(cb);
  return m;
});
row("heap per idle callback port (bytes)", oursMem.toFixed(0), baseMem.toFixed(0), oursMem / baseMem, "target <= 200 bytes");
const tagged = heapPerEntry((m) => {
  for (let i = 0; i < m; i++) rcv(port(), "tick", cb);
  return m;
});
row("heap per port with a tagged rcv (bytes)", tagged.toFixed(0), baseMem.toFixed(0), tagged / baseMem, `target <= 200 bytes: ${tagged <= 200 ? "met" : "MISSED"}`);

// Metrics and introspection on: the figures just before configuring are the baseline.
// The scraper is another process, started (and idle) before the baseline runs, told the
// address once metrics are on; it says how many scrapes it made when its stdin ends.
const scraperCode = `
  const lines = require("node:readline").createInterface({ input: process.stdin });
  let n = 0, timer;
  lines.on("line", (url) => { timer = setInterval(() => fetch(url).then((r) => r.text()).then(() => n++, () => {}), 100); });
  lines.on("close", () => { clearInterval(timer); console.log(n); });`;
const scraper = spawn(process.execPath, ["-e", scraperCode], { stdio: ["pipe", "pipe", "inherit"] });
let scraped = "";
scraper.stdout.setEncoding("utf8").on("data", (d: string) => (scraped += d));
const scraperDone = new Promise((resolve) => scraper.on("close", resolve));
// Per CPU second of this process: on a shared machine the wall clock swings with the
// other load far more than by 3%, the CPU time a run takes much less.
const perCpuSecond = async (count: number, run: () => unknown): Promise<number> => {
  const before = process.cpuUsage();
  await run();
  const used = process.cpuUsage(before);
  return count / ((used.user + used.system) / 1e6);
};
const onCpu = (): Promise<number> => perCpuSecond(N, () => kernelDelivery(1000));
const ckOnCpu = (): Promise<number> => perCpuSecond(1_000_000, kernelCreateKill);
const offDelivery = await best(5, onCpu);
const offCk = await best(5, ckOnCpu);
const { metrics } = await configure({ norc: true, nodeid: "bench/%u", binds: [], metrics: "127.0.0.1:0" });
scraper.stdin.write(`http://${metrics}/metrics\n`);
let snapshots = 0;
const answers = port(() => {});
const watch = setInterval(() => {
  snd(NODE(), "aemp_info", answers);
  snapshots++;
}, 100);
const onDelivery = await best(5, onCpu);
const onCk = await best(5, ckOnCpu);
clearInterval(watch);
kil(answers);
scraper.stdin.end();
await scraperDone;
const met = (ratio: number): string => `target >= 0.97x: ${ratio >= 0.97 ? "met" : "MISSED"}`;
row("snd -> tagged rcv, metrics on (msgs/CPU-s)", fmt(onDelivery), fmt(offDelivery), onDelivery / offDelivery, met(onDelivery / offDelivery));
row("port create+kill, metrics on (ports/CPU-s)", fmt(onCk), fmt(offCk), onCk / offCk, met(onCk / offCk));
console.log(`  (baseline: the same, just before configure; ${scraped.trim()} scrapes of /metrics and ${snapshots} aemp_info snapshots during the runs)`);
await shutdown();
