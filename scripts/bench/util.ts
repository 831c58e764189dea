/** Small helpers shared by the benchmarks: timing, GC, formatting, worker processes. */
import { spawnSync } from "node:child_process";

/**
 * What runs the figures: `npm run bench:*` bundles each benchmark into .bench/ and runs
 * it under plain node against the compiled package (scripts/bench/run.mjs); the .ts
 * files also run from the sources through tsx.
 */
const fromSources = import.meta.url.endsWith(".ts");

/** "node v24.x.y, compiled package (dist/)" or "..., sources through tsx", for headers. */
export function runtime(): string {
  return `node ${process.version}, ${fromSources ? "sources through tsx" : "compiled package (dist/)"}`;
}

/** The path of `relative` (e.g. "scripts/bench/erlang/x.escript") in this repository. */
export function repoPath(relative: string): string {
  return new URL(`${fromSources ? "../../" : "../"}${relative}`, import.meta.url).pathname;
}

/**
 * The node arguments that start the benchmark file `name` (e.g. "net-worker") as a
 * child process built the same way as this one: the bundle beside it under plain
 * node, or its source through tsx.
 */
export function workerArgs(name: string): string[] {
  const file = new URL(`./${name}${fromSources ? ".ts" : ".js"}`, import.meta.url).pathname;
  return fromSources ? ["--import", "tsx", file] : [file];
}

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error("run benchmarks with --expose-gc (npm run bench:* does)");
  g();
  g();
}

export function now(): number {
  return performance.now();
}

export function rate(count: number, ms: number): number {
  return (count / ms) * 1000;
}

export function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(1);
}

/** Best of `runs` (highest value): benchmarks report the least disturbed run. */
export async function best(runs: number, once: () => number | Promise<number>): Promise<number> {
  let top = -Infinity;
  for (let i = 0; i < runs; i++) top = Math.max(top, await once());
  return top;
}

export function row(name: string, value: string, baseline: string, ratio: number, target: string): void {
  console.log(`${name.padEnd(44)} ${value.padStart(14)}   baseline ${baseline.padStart(14)}   ratio ${ratio.toFixed(2).padStart(6)}   ${target}`);
}

/**
 * Runs the Erlang side of a benchmark (scripts/bench/erlang/NAME.escript) when `escript`
 * is installed: its JSON lines, or null (with a note) when Erlang is missing or fails.
 */
export function erlangFigures(name: string): Record<string, any>[] | null {
  const r = spawnSync("escript", [repoPath(`scripts/bench/erlang/${name}.escript`)], { encoding: "utf8" });
  if (r.error !== undefined || r.status !== 0) {
    console.log(`  (Erlang figures skipped: ${r.error !== undefined ? "escript not found" : `escript failed: ${r.stderr.trim()}`})`);
    return null;
  }
  return r.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, any>);
}
