/**
 * Async mailbox figures (npm run bench:mailbox), each next to a baseline from this run:
 * - `get` loop throughput, on a pre-filled mailbox and on a producer/consumer pair,
 *   against a bare loop that awaits one promise per message (target >= 0.6x); the
 *   pre-filled loop also on a typed port, with the `get` of its inbox;
 * - the cost of one `get(tag)` with K = 0, 1,000 and 100,000 non-matching messages
 *   queued (target: K = 100,000 within 2x of K = 0);
 * - the cost of one `getCond(pred)` with 1,000 non-matching messages queued (each call
 *   tests them all, as Erlang's selective receive does), after 500 and after 20,000
 *   earlier takes: the same however many were taken before, and at most Erlang's
 *   (scripts/bench/erlang/mailbox.escript, run when `escript` is installed);
 * - async ports created, started (blocked in `get`) and killed, per second, against
 *   the same cycle of bare async functions awaiting a promise that is then rejected
 *   (target >= 1M/s; Erlang's spawn + kill of a waiting process shown beside);
 * - heap bytes per idle async port, blocked in `get` (target <= 1 KB), against one
 *   pending promise and against a bare async function blocked on one.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { get, getCond, kil, port, portAsync, rcv, snd } from "aemp";
import { best, erlangFigures, fmt, gc, now, rate, row, runtime } from "./util.ts";

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

/**
 * Microseconds per getCond(pred) when `others` messages the predicate refuses wait in
 * front, timed over M takes after `taken` untimed ones, with 100,000 wanted messages
 * queued behind them at the start (so the mailbox is never near empty).
 */
function getCondCost(others: number, taken: number): Promise<number> {
  const M = 2_000;
  const queuedWanted = Math.max(100_000, taken + 2 * M);
  const wanted = (m: unknown[]): boolean => m[0] === "wanted";
  return new Promise((resolve) => {
    const p = portAsync(async () => {
      await get("start");
      for (let i = 0; i < taken; i++) await getCond(wanted);
      const t0 = now();
      for (let i = 0; i < M; i++) await getCond(wanted);
      resolve(((now() - t0) * 1000) / M);
    });
    for (let i = 0; i < others; i++) snd(p, "other", i);
    for (let i = 0; i < queuedWanted; i++) snd(p, "wanted", i);
    snd(p, "start");
  });
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Ports per second: `n` async ports created, each started and blocked in `get`, then all
 * killed, until every function has ended (its `finally` ran).
 */
async function asyncCreateKill(n: number): Promise<number> {
  let started = 0;
  let ended = 0;
  const t0 = now();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(
      portAsync(async () => {
        started++;
        try {
          await get("never");
        } finally {
          ended++;
        }
      }),
    );
  }
  while (started < n) await turn();
  for (const id of ids) kil(id);
  while (ended < n) await turn();
  return rate(n, now() - t0);
}

/** The same cycle without aemp: async functions awaiting a promise, each rejected with an Error. */
async function bareCreateKill(n: number): Promise<number> {
  let ended = 0;
  const t0 = now();
  const rejects: ((err: Error) => void)[] = [];
  for (let i = 0; i < n; i++) {
    (async () => {
      try {
        await new Promise((_resolve, reject) => rejects.push(reject));
      } catch {
        // killed
      } finally {
        ended++;
      }
    })();
  }
  for (const reject of rejects) reject(new Error("killed"));
  while (ended < n) await turn();
  return rate(n, now() - t0);
}

async function idlePortBytes(): Promise<{ ours: number; base: number; bareFn: number }> {
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
  // What the runtime alone spends on a port's function: the same async function,
  // blocked on a pending promise of its own.
  before = process.memoryUsage().heapUsed;
  let blocked = 0;
  // Both promises held, as a port's table holds its mailbox and the waiter's promise.
  const held: Promise<unknown>[] = [];
  for (let i = 0; i < M; i++) {
    held.push(
      (async () => {
        blocked++;
        const never = new Promise(() => {});
        held.push(never);
        await never;
      })(),
    );
  }
  await settle();
  const bareFn = (process.memoryUsage().heapUsed - before) / M;
  if (blocked !== M || held.length !== 2 * M) throw new Error("unreachable");
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
  return { ours, base, bareFn };
}

console.log(`aemp bench:mailbox (${runtime()}, ${N.toLocaleString()} messages)`);
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
row("get loop, pre-filled mailbox (msgs/s)", fmt(pre), fmt(bare), pre / bare, `target >= 0.6x of awaited-promise loop (Node 24): ${pre / bare >= 0.6 ? "met" : "MISSED"}`);
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
const erlang = erlangFigures("mailbox");
const erlangUs = (taken: number): number | undefined => erlang?.find((f) => f.bench === "selective" && f.taken === taken)?.us;
const cond500 = 1 / (await best(3, async () => 1 / (await getCondCost(1_000, 500))));
const cond20k = 1 / (await best(3, async () => 1 / (await getCondCost(1_000, 20_000))));
for (const [taken, us] of [[500, cond500], [20_000, cond20k]]) {
  const name = `getCond, 1,000 others, ${taken.toLocaleString()} taken before (us)`;
  const e = erlangUs(taken);
  if (e === undefined) row(name, us.toFixed(3), "-", NaN, "(no Erlang figure)");
  else row(name, us.toFixed(3), `Erlang ${e.toFixed(3)}`, us / e, `target <= 1x Erlang's selective receive: ${us <= e ? "met" : "MISSED"}`);
}
row("  after 20,000 takes vs after 500", cond20k.toFixed(3), cond500.toFixed(3), cond20k / cond500, "(target: independent of earlier takes, ~1x)");

const CK = 100_000;
let ckOurs = 0;
let ckBare = 0;
for (let run = 0; run < 3; run++) {
  ckBare = Math.max(ckBare, await bareCreateKill(CK));
  ckOurs = Math.max(ckOurs, await asyncCreateKill(CK));
}
row("portAsync create, start, kill (ports/s)", fmt(ckOurs), fmt(ckBare), ckOurs / ckBare, `target >= 1M/s: ${ckOurs >= 1e6 ? "met" : "MISSED"} (baseline: bare async fns, rejected)`);
const spawnKill = erlang?.find((f) => f.bench === "spawn_kill")?.per_s;
if (spawnKill !== undefined) row("  vs Erlang spawn + kill of a waiting process", fmt(ckOurs), fmt(spawnKill), ckOurs / spawnKill, "");

const mem = await idlePortBytes();
row("heap per idle async port (bytes)", mem.ours.toFixed(0), mem.base.toFixed(0), mem.ours / mem.base, `target <= 1024 bytes (Node 24): ${mem.ours <= 1024 ? "met" : "MISSED"} (baseline: one pending promise)`);
row("  vs a bare async function blocked the same way", mem.ours.toFixed(0), mem.bareFn.toFixed(0), mem.ours / mem.bareFn, "(what aemp adds: port, mailbox, waiter, async context)");
process.exit(0);
