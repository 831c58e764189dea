/**
 * Async mailbox figures (npm run bench:mailbox), each next to a baseline from this run:
 * - `get` loop throughput, on a pre-filled mailbox and on a producer/consumer pair,
 *   against a bare loop that awaits one promise per message (target >= 0.6x); the
 *   pre-filled loop also on a typed port, with the `get` of its inbox;
 * - the cost of one `get(tag)` with K = 0, 1,000 and 100,000 non-matching messages
 *   queued (target: K = 100,000 within 2x of K = 0);
 * - heap bytes per idle async port, blocked in `get` (target <= 1 KB).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { get, kil, port, portAsync, rcv, snd } from "../../lib/index.ts";
import { best, fmt, gc, now, rate, row } from "./util.ts";

const N = 1_000_000;

async function bareLoop(): Promise<number> {
  const msgs: unknown[][] = [];
  for (let i = 0; i < N; i++) msgs.push(["tick", i]);
  let sum = 0;
  const t0 = now();
  for (let i = 0; i < N; i++) {
    const m = await Promise.resolve(msgs[i]);
    sum += m[1] as number;
  }
  const ms = now() - t0;
  if (sum !== (N * (N - 1)) / 2) throw new Error("baseline miscounted");
  return rate(N, ms);
}

/** All N messages are queued before the loop starts taking them. */
function prefilled(): Promise<number> {
  return new Promise((resolve) => {
    const consumer = portAsync(async () => {
      await get("start");
      let sum = 0;
      const t0 = now();
      for (let i = 0; i < N; i++) sum += (await get("tick"))[0] as number;
      resolve(rate(N, now() - t0));
      if (sum !== (N * (N - 1)) / 2) throw new Error("miscounted");
    });
    for (let i = 0; i < N; i++) snd(consumer, "tick", i);
    snd(consumer, "start");
  });
}

/**
 * The same loop on a typed port, through the `get` of the inbox its function gets: the
 * same function as the free `get`, called through a variable instead of a module binding.
 */
function prefilledTyped(): Promise<number> {
  return new Promise((resolve) => {
    const consumer = portAsync<["tick", number] | ["start"]>(async (_self, { get: take }) => {
      await take("start");
      let sum = 0;
      const t0 = now();
      for (let i = 0; i < N; i++) sum += (await take("tick"))[0];
      resolve(rate(N, now() - t0));
      if (sum !== (N * (N - 1)) / 2) throw new Error("miscounted");
    });
    for (let i = 0; i < N; i++) snd(consumer, "tick", i);
    snd(consumer, "start");
  });
}

/** A callback port streams messages (1,000 per run-queue turn) while the loop takes them. */
function producerConsumer(): Promise<number> {
  return new Promise((resolve) => {
    let t0 = 0;
    const consumer = portAsync(async () => {
      for (let i = 0; i < N; i++) await get("tick");
      resolve(rate(N, now() - t0));
    });
    let sent = 0;
    const producer = rcv(port(), "go", () => {
      for (let i = 0; i < 1000 && sent < N; i++, sent++) snd(consumer, "tick", sent);
      if (sent < N) snd(producer, "go");
      else kil(producer);
    });
    t0 = now();
    snd(producer, "go");
  });
}

/** Microseconds per get(tag) when K messages with other tags wait in front. */
function getCost(k: number): Promise<number> {
  const M = 100_000;
  return new Promise((resolve) => {
    const p = portAsync(async () => {
      await get("start");
      const t0 = now();
      for (let i = 0; i < M; i++) await get("wanted");
      resolve(((now() - t0) * 1000) / M);
    });
    for (let i = 0; i < k; i++) snd(p, "other", i);
    for (let i = 0; i < M; i++) snd(p, "wanted", i);
    snd(p, "start");
  });
}

async function idlePortBytes(): Promise<{ ours: number; base: number }> {
  const M = 100_000;
  const settle = async () => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    gc();
  };
  await settle();
  let before = process.memoryUsage().heapUsed;
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < M; i++) pending.push(new Promise(() => {}));
  await settle();
  const base = (process.memoryUsage().heapUsed - before) / M;
  before = process.memoryUsage().heapUsed;
  const ports: string[] = [];
  let waiting = 0;
  for (let i = 0; i < M; i++) {
    ports.push(
      portAsync(async () => {
        waiting++;
        await get("never");
      }),
    );
  }
  // Bodies start on the run queue, a batch per turn: wait until every one is blocked.
  while (waiting < M) await new Promise((r) => setImmediate(r));
  await settle();
  const ours = (process.memoryUsage().heapUsed - before) / M;
  for (const p of ports) kil(p);
  if (pending.length !== M) throw new Error("unreachable");
  return { ours, base };
}

console.log(`aemp bench:mailbox (node ${process.version}, ${N.toLocaleString()} messages)`);
// Measured before any async port exists: once an AsyncLocalStorage has been entered,
// Node 20 runs a hook on every promise in the process, which the second baseline shows.
const bare = await best(3, bareLoop);
// Taking turns, so both loops see the same state of the machine and of the heap.
let pre = 0;
let typed = 0;
for (let run = 0; run < 3; run++) {
  pre = Math.max(pre, await prefilled());
  typed = Math.max(typed, await prefilledTyped());
}
const bareAls = await best(3, () => new AsyncLocalStorage<number>().run(1, bareLoop));
row("get loop, pre-filled mailbox (msgs/s)", fmt(pre), fmt(bare), pre / bare, "target >= 0.6x of awaited-promise loop");
row("  vs the same bare loop with ALS hooks on", fmt(pre), fmt(bareAls), pre / bareAls, "(Node 20 AsyncLocalStorage cost)");
row("  same loop, typed port, the inbox's get", fmt(typed), fmt(pre), typed / pre, "(baseline: the untyped loop above)");
const pc = await best(3, producerConsumer);
row("get loop, producer/consumer (msgs/s)", fmt(pc), fmt(bare), pc / bare, "target >= 0.6x of awaited-promise loop");
row("  vs the same bare loop with ALS hooks on", fmt(pc), fmt(bareAls), pc / bareAls, "(Node 20 AsyncLocalStorage cost)");

const k0 = 1 / (await best(3, async () => 1 / (await getCost(0))));
for (const k of [1_000, 100_000]) {
  const c = 1 / (await best(3, async () => 1 / (await getCost(k))));
  row(`get(tag) with K=${k.toLocaleString()} others queued (us)`, c.toFixed(3), k0.toFixed(3), c / k0, "target K=100,000 within 2x of K=0");
}
const mem = await idlePortBytes();
row("heap per idle async port (bytes)", mem.ours.toFixed(0), mem.base.toFixed(0), mem.ours / mem.base, "target <= 1024 bytes (baseline: one pending promise)");
process.exit(0);
