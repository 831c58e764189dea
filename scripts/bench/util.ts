/** Small helpers shared by the benchmarks: timing, GC, formatting. */

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
