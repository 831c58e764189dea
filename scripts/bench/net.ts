/**
 * Network figures (npm run bench:net), each next to a baseline from the same run. Every
 * node is its own process (scripts/bench/net-worker.ts); this one only directs them.
 * - One-way stream of small messages `["m", i]` from a sender node to a counting port on
 *   a receiver node, `CHUNK` sends per event-loop turn and at most `WINDOW` messages not
 *   yet acknowledged by the receiver (it acknowledges every 10,000: without such flow
 *   control the sender outruns the receiver and the run measures buffering and GC of
 *   the backlog), timed from the first send to the receiver's report of the last: once with json framing (the receiver reads only
 *   json), once with cbor (the receiver reads cbor first, as a Perl node does), once with superjson (the default
 *   between our nodes, as superjson-bin: the same text for these packets). Baseline: a bare Node
 *   TCP socket pair in two processes writing the same packets as newline-separated
 *   JSON, `CHUNK` lines per write. Targets: >= 1,000,000 msgs/s with json and >= 0.4x of
 *   the baseline.
 * - Large messages: the same stream with a string payload, `["m", i, text]`, of 1 KB, 10 KB,
 *   100 KB and 1 MB (BENCH_NET_LARGE_MB megabytes per run, default 64; 8 MB at most in
 *   flight), json and superjson framing, against the bare socket writing the same
 *   packets as JSON lines (target >= 0.85x at every size); and 1 MB `Uint8Array`
 *   payloads between our nodes (default framing) against a bare socket writing
 *   length-prefixed binary frames (target >= 0.5x).
 * - cal round trip p50/p99 (sequential, with a timeout as usual) against a bare TCP
 *   request/reply of the same packet, the contenders taking turns in 5 rounds. Targets:
 *   p50 within 1.2x, p99 < 250 us.
 * - Remote monitor latency: `kil` on one node to the `mon` callback on the other, with
 *   a clock both processes share; baselines: a one-way `snd` between the same nodes and
 *   a one-way bare TCP line, timed the same way.
 * - Validation: what a small zod schema (the stream's two messages) costs per message
 *   from another node: in one process, messages relayed by the node port (validated as
 *   remote ones are) to a port with
 *   the schema against one without; and the superjson stream to a counting port with
 *   the schema against the same stream to one without.
 *
 * - The same streams with metrics and introspection on: a second sender/receiver pair
 *   configured with `metrics`, watched during its runs (its /metrics scraped and each
 *   of its nodes asked `aemp_info` by a fourth node, as `aemp observe` does, every
 *   BENCH_NET_POLL seconds), the runs taking turns with the plain pair's. Target:
 *   >= 0.97x of the plain pair (at most 3% slower), in rate and in CPU per message.
 *   The metrics pair also runs unwatched, which shows what watching alone costs.
 *
 * Environment: BENCH_NET_N (messages per stream run, default 2,000,000), BENCH_NET_CHUNK
 * (default 1000), BENCH_NET_WINDOW (default 100,000; 0 = no limit), BENCH_NET_K (round trips, default 20,000), BENCH_NET_PROF=DIR (write
 * --cpu-prof profiles of every worker into DIR), BENCH_NET_ONLY=stream|large|bytes|metrics|cal|monitor|validate
 * (run one part, e.g. to profile it), BENCH_NET_POLL (seconds between scrapes and
 * aemp_info requests in the metrics part, default 0.1), BENCH_NET_FRAMING=json|cbor|superjson (stream with that
 * framing only).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { createInterface } from "node:readline";
import { fmt, row, runtime, workerArgs } from "./util.ts";

const N = Number(process.env.BENCH_NET_N ?? 2_000_000);
const CHUNK = Number(process.env.BENCH_NET_CHUNK ?? 1000);
const WINDOW = Number(process.env.BENCH_NET_WINDOW ?? 100_000);
const K = Number(process.env.BENCH_NET_K ?? 20_000);
const MON_K = Math.max(500, Math.floor(K / 4));
const RUNS = 3;
const PROF = process.env.BENCH_NET_PROF;
const ONLY = process.env.BENCH_NET_ONLY;
const part = (name: string): boolean => ONLY === undefined || ONLY === name;
const FRAMING = process.env.BENCH_NET_FRAMING;
// Ten times as often as `aemp observe` asks: a stream run lasts about a second.
const POLL = Number(process.env.BENCH_NET_POLL ?? 0.1);
const SECRET = "aemp-bench-net";
/** Payload sizes of the large-message streams, and megabytes per run. */
const LARGE_SIZES = [1 << 10, 10 << 10, 100 << 10, 1 << 20];
const LARGE_MB = Number(process.env.BENCH_NET_LARGE_MB ?? 64);

type Answer = Record<string, any>;

class Worker {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, (a: Answer) => void>();
  readonly ready: Promise<Answer>;

  constructor(name: string, args: string[]) {
    // One directory per worker: tsx runs its loader in a thread, which writes a profile too.
    const prof = PROF === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${PROF}/${name}`];
    this.child = spawn(process.execPath, [...prof, ...workerArgs("net-worker"), ...args], { stdio: ["pipe", "pipe", "inherit"] });
    let readyResolve!: (a: Answer) => void;
    this.ready = new Promise((resolve, reject) => {
      readyResolve = resolve;
      this.child.once("exit", (code) => reject(new Error(`worker ${name} exited with ${code}`)));
    });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      const a = JSON.parse(line) as Answer;
      if (a.ready) readyResolve(a);
      else this.pending.get(a.re)?.(a);
    });
  }

  async call(cmd: string, args: Record<string, unknown> = {}): Promise<Answer> {
    const id = this.nextId++;
    const answer = new Promise<Answer>((resolve) => this.pending.set(id, resolve));
    this.child.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    const a = await answer;
    this.pending.delete(id);
    if (a.error !== undefined) throw new Error(`${cmd}: ${a.error}`);
    return a;
  }

  stop(): void {
    this.child.stdin!.end();
  }
}

function node(name: string, config: Record<string, unknown>): Worker {
  return new Worker(name, ["node", JSON.stringify({ nodeid: `${name}/%u`, binds: ["127.0.0.1:*"], secret: SECRET, norc: true, ...config })]);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function stats(us: number[]): { p50: number; p99: number } {
  const s = [...us].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99) };
}

const usText = (x: number): string => `${x.toFixed(1)} us`;

/** Latency runs are split in this many rounds, the contenders taking turns. */
const ROUNDS = 5;

/** Runs each contender ROUNDS times in turn; pools their samples (`us`) and CPU (`cpuUs`). */
async function rounds(contenders: (() => Promise<Answer>)[]): Promise<{ us: number[]; cpuUs: number }[]> {
  const pooled = contenders.map(() => ({ us: [] as number[], cpuUs: 0 }));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, run] of contenders.entries()) {
      const a = await run();
      pooled[i].us.push(...(a.us as number[]));
      pooled[i].cpuUs += (a.cpuUs ?? 0) / ROUNDS;
    }
  }
  return pooled;
}

interface StreamResult {
  /** Best rate of the runs, messages per second (wall clock). */
  rate: number;
  /** CPU time per message in the sending and the receiving process (least of the runs), ns. */
  senderNs: number;
  receiverNs: number;
}

/**
 * Best of RUNS stream runs, after a short warm-up. The CPU time per message is shown
 * too: on a busy machine the wall-clock rate swings with the load, the CPU cost much less.
 */
async function stream(run: (n: number) => Promise<Answer>): Promise<StreamResult> {
  return (await streamRounds([{ run }]))[0];
}

/** A stream contender: how to run n messages, and what to do around each run. */
interface Contender {
  run: (n: number) => Promise<Answer>;
  before?: () => Promise<void>;
  after?: () => Promise<void>;
}

/**
 * Contenders' streams taking turns (after a warm-up of each), best of RUNS each: all
 * see the same drift of a shared machine.
 */
async function streamRounds(contenders: Contender[], n = N): Promise<StreamResult[]> {
  const results = contenders.map((): StreamResult => ({ rate: 0, senderNs: Infinity, receiverNs: Infinity }));
  for (const c of contenders) await c.run(Math.max(1, Math.min(n, Math.floor(n / 10), 200_000)));
  for (let i = 0; i < RUNS; i++) {
    for (const [j, c] of contenders.entries()) {
      await c.before?.();
      const r = await c.run(n);
      await c.after?.();
      if (r.count !== n || r.inOrder !== true) throw new Error(`stream lost or reordered messages: ${JSON.stringify(r)}`);
      const best = results[j];
      best.rate = Math.max(best.rate, (n / r.ms) * 1000);
      best.senderNs = Math.min(best.senderNs, (r.senderCpu * 1000) / n);
      best.receiverNs = Math.min(best.receiverNs, (r.receiverCpu * 1000) / n);
    }
  }
  return results;
}

const cpuText = (r: StreamResult): string => `${r.senderNs.toFixed(0)} + ${r.receiverNs.toFixed(0)} ns`;
const cpuUsText = (r: StreamResult): string => `${(r.senderNs / 1000).toFixed(1)} + ${(r.receiverNs / 1000).toFixed(1)} us`;
const mbText = (bytesPerSecond: number): string => (bytesPerSecond / 1e6).toFixed(1);
const sizeText = (size: number): string => (size >= 1 << 20 ? `${size >> 20} MB` : `${size >> 10} KB`);

/**
 * Messages per run, per turn, in flight and per acknowledgement for a stream of `size`
 * byte payloads: LARGE_MB megabytes per run, 8 MB at most in flight, about 256 KB
 * written per event-loop turn.
 */
function largeShape(size: number): { n: number; size: number; chunk: number; window: number; ackEvery: number } {
  const n = Math.max(16, Math.floor((LARGE_MB << 20) / size));
  const window = Math.max(4, Math.floor((8 << 20) / size));
  return { n, size, chunk: Math.max(1, Math.floor((256 << 10) / size)), window, ackEvery: Math.max(1, window >> 2) };
}

const workers: Worker[] = [];
try {
  const recvJson = node("recv-json", { framing_format: ["json"] });
  const recvCbor = node("recv-cbor", { framing_format: ["cbor"] });
  const recvSuper = node("recv-superjson", {});
  const bareServer = new Worker("bare-server", ["bare"]);
  const bareClient = new Worker("bare-client", ["bare"]);
  workers.push(recvJson, recvCbor, recvSuper, bareServer, bareClient);
  const [rj, rc, rs, bs] = await Promise.all([recvJson.ready, recvCbor.ready, recvSuper.ready, bareServer.ready, bareClient.ready]);
  // The sender's seed links are its links to the receivers: no lookup in the timings.
  const sender = node("sender", { seeds: [rj.addresses[0], rc.addresses[0], rs.addresses[0]] });
  workers.push(sender);
  await sender.ready;

  const load = loadavg()[0].toFixed(1);
  console.log(`aemp bench:net (${runtime()}, ${cpus().length} CPUs, load ${load}; ${N.toLocaleString()} messages per stream run, ${CHUNK} per turn, ${WINDOW > 0 ? `at most ${WINDOW.toLocaleString()} in flight` : "no flow control"}; ${K.toLocaleString()} round trips)`);

  // ---- stream ------------------------------------------------------------------------
  if (part("stream")) {
  const bare = await stream((n) => bareClient.call("stream", { port: bs.port, n, chunk: CHUNK, window: WINDOW }));
  const framings: [string, Worker, (r: StreamResult) => string][] = [
    ["json", recvJson, (r) => `target >= 1M/s and >= 0.4x: ${r.rate >= 1e6 && r.rate / bare.rate >= 0.4 ? "met" : "MISSED"}`],
    ["cbor", recvCbor, () => "(towards Perl nodes)"],
    ["superjson", recvSuper, () => "(the default between our nodes, superjson-bin: the same text)"],
  ];
  for (const [framing, receiver, note] of framings) {
    if (FRAMING !== undefined && FRAMING !== framing) continue;
    const counter = (await receiver.call("counter")).port as string;
    const r = await stream((n) => sender.call("stream", { to: counter, n, chunk: CHUNK, window: WINDOW }));
    row(`stream ['m', i], ${framing} framing (msgs/s)`, fmt(r.rate), fmt(bare.rate), r.rate / bare.rate, note(r));
    row("  CPU per message, sender + receiver", cpuText(r), cpuText(bare), (r.senderNs + r.receiverNs) / (bare.senderNs + bare.receiverNs), "");
  }
  }

  // ---- large messages and bytes --------------------------------------------------------
  if (part("large")) {
    const counters = {
      json: (await recvJson.call("counter")).port as string,
      superjson: (await recvSuper.call("counter")).port as string,
    };
    for (const size of LARGE_SIZES) {
      const shape = largeShape(size);
      const [bare, json, superjson] = await streamRounds([
        { run: (n) => bareClient.call("stream", { port: bs.port, ...shape, n }) },
        { run: (n) => sender.call("stream", { to: counters.json, ...shape, n }) },
        { run: (n) => sender.call("stream", { to: counters.superjson, ...shape, n }) },
      ], shape.n);
      for (const [framing, r] of [["json", json], ["superjson", superjson]] as const) {
        const ratio = r.rate / bare.rate;
        row(`stream ${sizeText(size)} strings, ${framing} (MB/s)`, mbText(r.rate * size), mbText(bare.rate * size), ratio, `target >= 0.85x: ${ratio >= 0.85 ? "met" : "MISSED"}`);
      }
      row("  CPU per message (superjson), sender + receiver", cpuUsText(superjson), cpuUsText(bare), (superjson.senderNs + superjson.receiverNs) / (bare.senderNs + bare.receiverNs), "");
    }
  }
  if (part("bytes")) {
    const counter = (await recvSuper.call("counter")).port as string;
    const size = 1 << 20;
    const shape = { ...largeShape(size), kind: "bytes" };
    const [bare, ours] = await streamRounds([
      { run: (n) => bareClient.call("stream", { port: bs.bytesPort, ...shape, n }) },
      { run: (n) => sender.call("stream", { to: counter, ...shape, n }) },
    ], shape.n);
    const ratio = ours.rate / bare.rate;
    row("stream 1 MB Uint8Arrays, default framing (MB/s)", mbText(ours.rate * size), mbText(bare.rate * size), ratio, `target >= 0.5x of a bare socket: ${ratio >= 0.5 ? "met" : "MISSED"}`);
    row("  CPU per message, sender + receiver", cpuUsText(ours), cpuUsText(bare), (ours.senderNs + ours.receiverNs) / (bare.senderNs + bare.receiverNs), "(bare: length-prefixed binary frames)");
  }

  // ---- the same streams, metrics and introspection on -------------------------------
  if (part("metrics")) {
  const metrics = { metrics: "127.0.0.1:0" };
  const mRecvJson = node("recv-json-metrics", { framing_format: ["json"], ...metrics });
  const mRecvSuper = node("recv-superjson-metrics", metrics);
  workers.push(mRecvJson, mRecvSuper);
  const [mj, ms] = await Promise.all([mRecvJson.ready, mRecvSuper.ready]);
  const mSender = node("sender-metrics", { seeds: [mj.addresses[0], ms.addresses[0]], ...metrics });
  const observer = node("observer", { seeds: [mj.addresses[0]] });
  workers.push(mSender, observer);
  const [msd] = await Promise.all([mSender.ready, observer.ready]);
  const endpoints = [msd.metrics, mj.metrics, ms.metrics] as string[];
  let scrapes = 0;
  let scraper: NodeJS.Timeout | undefined;
  // Watching: /metrics of the three scraped and aemp_info asked of them, every POLL s.
  const watch = async (): Promise<void> => {
    await observer.call("poll", { targets: [msd.nodeId, mj.nodeId, ms.nodeId], interval: POLL });
    const scrape = (): void => {
      for (const e of endpoints) fetch(`http://${e}/metrics`).then((r) => r.text()).then(() => scrapes++, () => {});
    };
    scrape();
    scraper = setInterval(scrape, POLL * 1000);
  };
  const unwatch = async (): Promise<void> => {
    clearInterval(scraper);
    await observer.call("unpoll");
  };
  const plainJson = (await recvJson.call("counter")).port as string;
  const plainSuper = (await recvSuper.call("counter")).port as string;
  const onJson = (await mRecvJson.call("counter")).port as string;
  const onSuper = (await mRecvSuper.call("counter")).port as string;
  const pairs: [string, string, string][] = [];
  if (FRAMING !== "superjson") pairs.push(["json", plainJson, onJson]);
  if (FRAMING !== "json") pairs.push(["superjson", plainSuper, onSuper]);
  for (const [framing, plain, on] of pairs) {
    const viaPlain = (n: number) => sender.call("stream", { to: plain, n, chunk: CHUNK, window: WINDOW });
    const viaMetrics = (n: number) => mSender.call("stream", { to: on, n, chunk: CHUNK, window: WINDOW });
    // The metrics pair runs twice per round: watched, and left alone (which tells the
    // cost of being watched apart from any difference between the two pairs).
    const [off, watched, idle] = await streamRounds([{ run: viaPlain }, { run: viaMetrics, before: watch, after: unwatch }, { run: viaMetrics }]);
    const cpu = (r: StreamResult): number => r.senderNs + r.receiverNs;
    const rate = watched.rate / off.rate;
    row(`stream ${framing}, metrics on, watched every ${POLL} s (msgs/s)`, fmt(watched.rate), fmt(off.rate), rate, `target >= 0.97x: ${rate >= 0.97 ? "met" : "MISSED"}`);
    row("  CPU per message, sender + receiver", cpuText(watched), cpuText(off), cpu(watched) / cpu(off), `target <= 1.03x: ${cpu(watched) / cpu(off) <= 1.03 ? "met" : "MISSED"}`);
    row("  the same pair, not watched: CPU per message", cpuText(watched), cpuText(idle), cpu(watched) / cpu(idle), "(the cost of scrapes and aemp_info alone)");
  }
  console.log(`  (watched: /metrics of the sender and both receivers scraped, ${scrapes} scrapes in all, and aemp_info asked of them)`);
  }

  // ---- cal round trip ---------------------------------------------------------------------
  if (part("cal")) {
  const echoSuper = (await recvSuper.call("echo")).port as string;
  const echoJson = (await recvJson.call("echo")).port as string;
  await bareClient.call("cal", { port: bs.port, k: Math.min(K, 2000) });
  await sender.call("cal", { to: echoSuper, k: Math.min(K, 2000) });
  await sender.call("cal", { to: echoJson, k: Math.min(K, 2000) });
  // Interleaved in rounds: round-trip times drift with the machine's state (CPU clocks,
  // other load), and each contender should see the same drift.
  const [bareRun, superRun, jsonRun] = await rounds([
    () => bareClient.call("cal", { port: bs.port, k: K / ROUNDS }),
    () => sender.call("cal", { to: echoSuper, k: K / ROUNDS }),
    () => sender.call("cal", { to: echoJson, k: K / ROUNDS }),
  ]);
  const [bareRt, calSuper, calJson] = [bareRun, superRun, jsonRun].map((r) => stats(r.us));
  row("cal round trip p50 (superjson)", usText(calSuper.p50), usText(bareRt.p50), calSuper.p50 / bareRt.p50, `target <= 1.2x: ${calSuper.p50 <= 1.2 * bareRt.p50 ? "met" : "MISSED"}`);
  row("cal round trip p99 (superjson)", usText(calSuper.p99), usText(bareRt.p99), calSuper.p99 / bareRt.p99, `target < 250 us: ${calSuper.p99 < 250 ? "met" : "MISSED"}`);
  row("cal round trip p50 (json one way)", usText(calJson.p50), usText(bareRt.p50), calJson.p50 / bareRt.p50, "");
  row("cal round trip p99 (json one way)", usText(calJson.p99), usText(bareRt.p99), calJson.p99 / bareRt.p99, "");
  row("  caller CPU per round trip (superjson)", usText(superRun.cpuUs), usText(bareRun.cpuUs), superRun.cpuUs / bareRun.cpuUs, "(user + system, incl. the socket calls)");
  }

  // ---- monitor latency ----------------------------------------------------------------------
  if (part("monitor")) {
  const watcher = (await recvSuper.call("watcher")).port as string;
  const stamper = (await recvSuper.call("stamper")).port as string;
  await sender.call("monitor", { watcher, k: 200 });
  await sender.call("oneway", { to: stamper, k: 200 });
  await bareClient.call("oneway", { port: bs.port, k: 200 });
  const [monLat, sndLat, bareLat] = (await rounds([
    () => sender.call("monitor", { watcher, k: MON_K / ROUNDS }),
    () => sender.call("oneway", { to: stamper, k: MON_K / ROUNDS }),
    () => bareClient.call("oneway", { port: bs.port, k: MON_K / ROUNDS }),
  ])).map((r) => stats(r.us));
  row("kil -> remote mon callback p50", usText(monLat.p50), usText(bareLat.p50), monLat.p50 / bareLat.p50, `(aemp one-way snd: ${usText(sndLat.p50)})`);
  row("kil -> remote mon callback p99", usText(monLat.p99), usText(bareLat.p99), monLat.p99 / bareLat.p99, `(aemp one-way snd: ${usText(sndLat.p99)})`);
  }

  // ---- validation ---------------------------------------------------------------------------
  if (part("validate")) {
  const inProcess = await recvSuper.call("validation", { n: 1_000_000 });
  row("remote delivery, port with a small zod schema (ns/msg)", (inProcess.zodNs as number).toFixed(0), (inProcess.plainNs as number).toFixed(0), inProcess.zodNs / inProcess.plainNs, `(validation: +${(inProcess.zodNs - inProcess.plainNs).toFixed(0)} ns per message)`);
  const plain = (await recvSuper.call("counter")).port as string;
  const validated = (await recvSuper.call("counter", { validated: true })).port as string;
  const plainRun = await stream((n) => sender.call("stream", { to: plain, n, chunk: CHUNK, window: WINDOW }));
  const zodRun = await stream((n) => sender.call("stream", { to: validated, n, chunk: CHUNK, window: WINDOW }));
  row("stream ['m', i] to a port with the zod schema (msgs/s)", fmt(zodRun.rate), fmt(plainRun.rate), zodRun.rate / plainRun.rate, "(superjson; baseline: the same port without a schema)");
  row("  receiver CPU per message", `${zodRun.receiverNs.toFixed(0)} ns`, `${plainRun.receiverNs.toFixed(0)} ns`, zodRun.receiverNs / plainRun.receiverNs, `(+${(zodRun.receiverNs - plainRun.receiverNs).toFixed(0)} ns per message)`);
  }

} finally {
  for (const w of workers) w.stop();
}
