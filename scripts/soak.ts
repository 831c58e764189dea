/**
 * `npm run soak -- [--seconds 60] [--rate 100000] [--every 10]`: a long steady stream
 * between two node processes, to see what a node does over time rather than in a
 * burst. A sender node sends numbered messages `["m", i]` to a port on a receiver node
 * at `rate` per second, paced every 10 ms, for `seconds`; the receiver checks that
 * each number is the next one. Every `every` seconds, and at the end, it prints:
 * messages sent and received, lost (gaps in the numbering; at the end, also what never
 * arrived), reordered (a number lower than one already seen), each process's RSS and
 * heap, and its event-loop lag (p99 and max over the interval: how late a 5 ms
 * `monitorEventLoopDelay` sample ran). Exits 1 if anything was lost or reordered.
 *
 * The same file is the worker: `soak.ts worker sender|receiver` (started by the
 * director, one JSON line per command on stdin and per answer on stdout).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const SECRET = "aemp-soak";
const file = new URL(import.meta.url).pathname;

interface Stats {
  rssMiB: number;
  heapMiB: number;
  /** Over the interval since the last report. */
  lagP99Ms: number;
  lagMaxMs: number;
  /** Over the whole run. */
  worstLagMs: number;
}

// ---- worker --------------------------------------------------------------------------------

async function worker(role: string, seed: string | undefined): Promise<void> {
  const { configure, port, rcv, snd } = await import("../lib/index.ts");
  const out = (o: Record<string, unknown>): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  // The histogram holds the intervals between its samples: lag is what exceeds the resolution.
  const RESOLUTION_MS = 5;
  const lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  lag.enable();
  const lagMs = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  let worstLagMs = 0;
  const stats = (): Stats => {
    const s = {
      rssMiB: process.memoryUsage().rss / 2 ** 20,
      heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
      lagP99Ms: lagMs(lag.percentile(99)),
      lagMaxMs: lagMs(lag.max),
      worstLagMs: (worstLagMs = Math.max(worstLagMs, lagMs(lag.max))),
    };
    lag.reset();
    return s;
  };
  const { nodeId, addresses } = await configure({
    nodeid: `soak-${role}/%u`,
    binds: ["127.0.0.1:*"],
    seeds: seed === undefined ? [] : [seed],
    secret: SECRET,
    norc: true,
  });
  let received = 0;
  let next = 0;
  let lost = 0;
  let reordered = 0;
  const sink = rcv(port(), "m", (i: number) => {
    received++;
    if (i === next) next++;
    else if (i > next) {
      lost += i - next;
      next = i + 1;
    } else reordered++;
  });
  let sent = 0;
  out({ ready: true, nodeId, address: addresses[0], sink });
  createInterface({ input: process.stdin }).on("line", (line) => {
    const c = JSON.parse(line) as { id: number; cmd: string; to?: string; rate?: number; seconds?: number };
    if (c.cmd === "stats") out({ re: c.id, sent, received, lost, reordered, ...stats() });
    else if (c.cmd === "run") {
      const { to, rate, seconds } = c as { to: string; rate: number; seconds: number };
      const t0 = performance.now();
      const pace = setInterval(() => {
        const elapsed = (performance.now() - t0) / 1000;
        const due = Math.floor(Math.min(elapsed, seconds) * rate);
        while (sent < due) snd(to, "m", sent++);
        if (elapsed >= seconds) {
          clearInterval(pace);
          out({ re: c.id, sent });
        }
      }, 10);
    }
  });
  process.stdin.on("end", () => process.exit(0));
}

// ---- director ------------------------------------------------------------------------------

class Worker {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, (a: Record<string, any>) => void>();
  readonly ready: Promise<Record<string, any>>;

  constructor(role: string, seed?: string) {
    this.child = spawn(process.execPath, ["--import", "tsx", file, "worker", role, ...(seed === undefined ? [] : [seed])], { stdio: ["pipe", "pipe", "inherit"] });
    let resolveReady!: (a: Record<string, any>) => void;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      this.child.once("exit", (code) => reject(new Error(`soak ${role} exited with ${code}`)));
    });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      const a = JSON.parse(line) as Record<string, any>;
      if (a.ready) resolveReady(a);
      else this.pending.get(a.re)?.(a);
    });
  }

  call(cmd: string, args: Record<string, unknown> = {}): Promise<Record<string, any>> {
    const id = this.nextId++;
    this.child.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    return new Promise((resolve) => this.pending.set(id, resolve));
  }
}

async function director(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: "string", default: "60" }, rate: { type: "string", default: "100000" }, every: { type: "string", default: "10" } } });
  const seconds = Number(values.seconds);
  const rate = Number(values.rate);
  const every = Number(values.every);
  if (![seconds, rate, every].every((n) => Number.isFinite(n) && n > 0)) {
    console.error("usage: npm run soak -- [--seconds S] [--rate MSGS_PER_S] [--every S]");
    process.exit(2);
  }
  const receiver = new Worker("receiver");
  const { address, sink } = await receiver.ready;
  const sender = new Worker("sender", address);
  await sender.ready;
  console.log(`aemp soak (node ${process.version}): ${rate} msgs/s for ${seconds} s, sender -> receiver over 127.0.0.1, report every ${every} s`);
  const line = (t: string, s: Record<string, any>, r: Record<string, any>): void => {
    const proc = (x: Record<string, any>): string => `RSS ${x.rssMiB.toFixed(0)} MiB, heap ${x.heapMiB.toFixed(0)} MiB, lag p99 ${x.lagP99Ms.toFixed(1)} ms max ${x.lagMaxMs.toFixed(1)} ms`;
    console.log(`${t.padStart(6)}  sent ${s.sent}  received ${r.received}  lost ${r.lost}  reordered ${r.reordered}  | sender ${proc(s)} | receiver ${proc(r)}`);
  };
  const t0 = Date.now();
  const run = sender.call("run", { to: sink, rate, seconds });
  const report = setInterval(async () => {
    // The receiver first: what it has received was sent before the sender is asked.
    const r = await receiver.call("stats");
    const s = await sender.call("stats");
    line(`${Math.round((Date.now() - t0) / 1000)} s`, s, r);
  }, every * 1000);
  const { sent } = await run;
  clearInterval(report);
  // Let the last messages arrive (at most 10 s).
  let r = await receiver.call("stats");
  for (let waited = 0; r.received + r.lost < sent && waited < 10_000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    r = await receiver.call("stats");
  }
  const s = await sender.call("stats");
  const neverArrived = sent - r.received - r.lost;
  line("end", s, r);
  const lost = r.lost + Math.max(0, neverArrived);
  console.log(`result: ${sent} sent, ${r.received} received, ${lost} lost, ${r.reordered} reordered; worst event-loop lag: sender ${s.worstLagMs.toFixed(1)} ms, receiver ${r.worstLagMs.toFixed(1)} ms`);
  for (const w of [sender, receiver]) w.child.stdin!.end();
  process.exit(lost > 0 || r.reordered > 0 ? 1 : 0);
}

if (process.argv[2] === "worker") await worker(process.argv[3], process.argv[4]);
else await director();
