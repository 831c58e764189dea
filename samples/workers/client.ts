/**
 * The pool's client: spreads N jobs over the workers in `workers::pool`, at most K in
 * flight (p-queue), while workers come and go.
 *
 * - The pool: a dbMon of `workers::pool` keeps the list of worker ports current.
 *   Workers are taken in turn; with none registered, a job waits until one shows up.
 * - Collecting results: the client is one async port. Each job, running as a p-queue
 *   task inside that port's context, sends ["job", id, n, workMs, SELF()] to a worker
 *   and waits with `getCond` for either its result or the news that the worker died:
 *   `mon(worker, SELF(), "worker_died", worker, id)` turns the worker's death into a
 *   message in the same mailbox. A dead worker's job goes to another worker; so does a
 *   job without an answer within `--timeout` seconds.
 *
 * Run: npx tsx samples/workers/client.ts [SEED] [--jobs N] [--concurrency K] [--work-ms M] [--timeout S]
 *      (defaults: 127.0.0.1:4040, 100 jobs, 4 in flight, 50 ms of work each, 10 s)
 * Prints "progress DONE/N" every tenth of the way, then one JSON line:
 * {"jobs", "completed", "correct", "retries", "byWorker": {port: jobs}, "seconds"}.
 * Exits 0 when every job came back with the right answer.
 */
import PQueue from "p-queue";
import { SELF, configure, dbMon, getCond, mon, portAsync, shutdown, snd } from "aemp";
import { DEFAULT_SEED, POOL, intOption, parseArgs, secret } from "./common.ts";

const { positional, options } = parseArgs(process.argv.slice(2), ["jobs", "concurrency", "work-ms", "timeout"]);
const seed = positional[0] ?? DEFAULT_SEED;
const jobs = intOption(options, "jobs", 100);
const concurrency = Math.max(1, intOption(options, "concurrency", 4));
const workMs = intOption(options, "work-ms", 50);
const timeout = Math.max(1, intOption(options, "timeout", 10));

await configure({ nodeid: "workers-client/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret: secret() });

// ---- the pool -----------------------------------------------------------------------

/** Workers seen to die: skipped even while the database still lists them. */
const dead = new Set<string>();
let pool: string[] = [];
let turn = 0;
let poolChanged: () => void = () => {};
let nextChange = new Promise<void>((resolve) => (poolChanged = resolve));

function refreshPool(family: Record<string, unknown>): void {
  pool = Object.keys(family).filter((w) => !dead.has(w));
  const wake = poolChanged;
  nextChange = new Promise<void>((resolve) => (poolChanged = resolve));
  wake();
}

const poolWatch = dbMon(POOL, (family) => refreshPool(family));

async function pickWorker(): Promise<string> {
  while (pool.length === 0) await nextChange;
  return pool[turn++ % pool.length];
}

function workerDied(worker: string): void {
  dead.add(worker);
  pool = pool.filter((w) => w !== worker);
}

// ---- the jobs -------------------------------------------------------------------------

const byWorker: Record<string, number> = {};
let completed = 0;
let correct = 0;
let retries = 0;

type Outcome = { result: unknown; worker: string } | { died: unknown[] };

/** Runs one job to completion, on as many workers as it takes. */
async function runJob(id: number, n: number): Promise<void> {
  for (;;) {
    const worker = await pickWorker();
    // Until this attempt ends, the worker's death arrives as a message.
    using _watch = mon(worker, SELF(), "worker_died", worker, id);
    snd(worker, "job", id, n, workMs, SELF());
    const outcome = await getCond<Outcome>((m) => {
      if (m[0] === "result" && m[1] === id) return ([, , result, by]) => ({ result, worker: by as string });
      if (m[0] === "worker_died" && m[1] === worker && m[2] === id) return ([, , , ...reason]) => ({ died: reason });
      return undefined;
    }, timeout);
    if (outcome !== undefined && "result" in outcome) {
      completed++;
      if (outcome.result === n * n) correct++;
      byWorker[outcome.worker] = (byWorker[outcome.worker] ?? 0) + 1;
      if (completed % Math.max(1, Math.floor(jobs / 10)) === 0) console.log(`progress ${completed}/${jobs}`);
      return;
    }
    if (outcome !== undefined) workerDied(worker);
    retries++;
    console.error(`job ${id}: ${outcome === undefined ? `no answer from ${worker} in ${timeout} s` : `worker ${worker} died (${outcome.died.join(" ")})`}; trying another worker`);
  }
}

const started = Date.now();
const client = portAsync(async () => {
  const queue = new PQueue({ concurrency });
  // Tasks added here run in this port's context: SELF() and getCond work in them. A
  // task that throws rejects Promise.all, which kills the port with "die".
  const all: Promise<void>[] = [];
  for (let id = 1; id <= jobs; id++) all.push(queue.add(() => runJob(id, id)));
  await Promise.all(all);
});

mon(client, (...reason: unknown[]) => {
  poolWatch.cancel();
  const summary = { jobs, completed, correct, retries, byWorker, seconds: (Date.now() - started) / 1000 };
  console.log(JSON.stringify(summary));
  if (reason.length > 0) console.error(`client port died: ${reason.join(" ")}`);
  void shutdown().finally(() => process.exit(reason.length === 0 && correct === jobs ? 0 : 1));
});
// Started by demo.ts (with an IPC channel)? Then end with it, even if it is killed.
if (process.send !== undefined) process.once("disconnect", () => process.exit(1));
