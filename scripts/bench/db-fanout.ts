/**
 * A global node's fan-out (part of npm run bench:db; scripts/bench/db.ts calls
 * `fanoutFigures()`; also runnable alone): one global node and plain node processes
 * running the built package (scripts/bench/cluster.ts), the same network on Erlang/OTP
 * with `pg` when `erl` is installed (the change is a pg join; Erlang needs no global
 * node, so the changing node's own CPU is what the global node's is compared with).
 * Each network first runs a few thousand changes (`warmUp`: the JIT), then:
 * - CPU per changed key with 20 subscribed nodes: a setter node changes the family 1,000
 *   times, one change every 5 ms (each change goes out alone) and then in one loop
 *   (changes pile up and leave together); the global node's CPU time (every thread,
 *   from /proc) divided by the changes, less what it spends idle in as long a time;
 * - dbSet -> dbMon latency with 10 monitoring nodes, one change every 5 ms: p50/p99 over
 *   every monitor (setter -> global node -> monitor, two hops), three runs of 1,000
 *   changes in one network; the run with the median p99 is shown, and every run's p99.
 */
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { type BenchNetwork, type LatencyRun, aempNetwork, erlangNetwork, haveErlang, otpRelease, percentile, warmUp } from "./cluster.ts";

const CHANGES = 1000;
const LATENCY_CHANGES = 1000;
const LATENCY_RUNS = 3;
const INTERVAL = 5;

const us = (ns: number): string => `${(ns / 1000).toFixed(1)} us`;

function row(name: string, value: string, note = ""): void {
  console.log(`${name.padEnd(52)} ${value.padStart(24)}   ${note}`);
}

/** The global node's (or Erlang's changing node's) CPU per change, idle time taken off. */
function perChange(run: LatencyRun, erlang: boolean, count: number): number {
  return erlang ? (run.setterCpuNs - run.setterIdleNs) / count : (run.hubCpuNs[0] - run.hubIdleNs[0]) / count;
}

async function cpuFigures(make: () => Promise<BenchNetwork>, erlang: boolean): Promise<{ paced: number; burst: number }> {
  const net = await make();
  try {
    await net.join();
    await warmUp(net);
    const paced = perChange(await net.latency(CHANGES, INTERVAL), erlang, CHANGES);
    const burst = perChange(await net.latency(CHANGES, 0), erlang, CHANGES);
    return { paced, burst };
  } finally {
    await net.stop();
  }
}

/** Three runs of LATENCY_CHANGES in one network: each run's samples (every monitor). */
async function latencyFigures(make: () => Promise<BenchNetwork>): Promise<number[][]> {
  const net = await make();
  try {
    await net.join();
    await warmUp(net);
    const runs: number[][] = [];
    for (let r = 0; r < LATENCY_RUNS; r++) runs.push((await net.latency(LATENCY_CHANGES, INTERVAL)).latencies.flat());
    return runs;
  } finally {
    await net.stop();
  }
}

/** "p50 A p99 B ms" of the run whose p99 is the median one, and every run's p99. */
function medianRun(runs: number[][]): { p50: number; p99: number; all: string } {
  const byP99 = [...runs].sort((a, b) => percentile(a, 99) - percentile(b, 99));
  const mid = byP99[Math.floor(byP99.length / 2)];
  return { p50: percentile(mid, 50), p99: percentile(mid, 99), all: runs.map((r) => percentile(r, 99).toFixed(2)).join("/") };
}

/** Prints the fan-out figures (see the module comment). */
export async function fanoutFigures(): Promise<void> {
  const erlang = haveErlang();
  console.log(`\na global node's fan-out (${process.version}, built package under plain node${erlang ? `; Erlang/OTP ${otpRelease()} pg on the same network` : "; Erlang not installed: no comparison"})`);
  const a = await cpuFigures(() => aempNetwork(1, 21), false);
  const e = erlang ? await cpuFigures(() => erlangNetwork(1, 21), true) : undefined;
  const vs = (ours: number, theirs: number | undefined): string => (theirs === undefined ? "" : `Erlang pg ${us(theirs)}, ratio ${(ours / theirs).toFixed(2)} (target <= 2)`);
  row("CPU per changed key, 20 subscribers, one at a time", us(a.paced), vs(a.paced, e?.paced));
  row("CPU per changed key, 20 subscribers, in one loop", us(a.burst), vs(a.burst, e?.burst));
  const lat = medianRun(await latencyFigures(() => aempNetwork(1, 11)));
  const erl = erlang ? medianRun(await latencyFigures(() => erlangNetwork(1, 11))) : undefined;
  row(
    `dbSet -> dbMon, 10 monitoring nodes (median of ${LATENCY_RUNS} runs)`,
    `p50 ${lat.p50.toFixed(3)} p99 ${lat.p99.toFixed(3)} ms`,
    `p99 of each run ${lat.all} ms; target p99 <= 1.5 ms${erl ? `; Erlang pg join -> monitor p50 ${erl.p50.toFixed(3)} p99 ${erl.p99.toFixed(3)} ms (runs ${erl.all})` : ""}`,
  );
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  await fanoutFigures();
  process.exit(0);
}
