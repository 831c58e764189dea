/**
 * A worker of the pool: one async port that takes jobs one at a time and answers
 * each with its result, registered in `workers::pool` with dbReg. Start as many as you
 * like, on any machines, and stop them whenever: the client spreads its jobs over
 * whoever is in the pool and hands the jobs of a worker that went away to another.
 *
 * A job ["job", id, n, workMs, reply] "works" for workMs milliseconds and answers
 * ["result", id, n * n, worker]. With `--fail-after K` the worker crashes (its port
 * dies with an exception) when it takes job K+1, to show what a crashing worker looks
 * like to the client; the process then exits with status 1.
 *
 * Run: npx tsx samples/workers/worker.ts [SEED] [--fail-after K]   (seed default
 *      127.0.0.1:4040; any seed works, e.g. samples/chat/seed.ts)
 * Prints: "worker PORT ready", then nothing until it exits.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { SELF, configure, dbReg, get, mon, portAsync, portSignal, shutdown, snd } from "aemp";
import { DEFAULT_SEED, POOL, intOption, parseArgs, secret } from "./common.ts";

const { positional, options } = parseArgs(process.argv.slice(2), ["fail-after"]);
const seed = positional[0] ?? DEFAULT_SEED;
const failAfter = options["fail-after"] === undefined ? Infinity : intOption(options, "fail-after", 0);

await configure({ nodeid: "worker/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret: secret() });

const worker = portAsync(async () => {
  const signal = portSignal(); // aborts a job in progress if the port is killed
  for (let done = 0; ; done++) {
    const [id, n, workMs, reply] = (await get("job"))! as [unknown, number, number, string];
    if (done >= failAfter) throw new Error(`simulated crash after ${done} jobs`);
    await sleep(Math.max(0, Number(workMs) || 0), undefined, { signal });
    snd(reply, "result", id, n * n, SELF());
  }
});

dbReg(POOL, worker, { pid: process.pid });
mon(worker, (...reason: unknown[]) => {
  console.error(`worker ${worker} ended: ${reason.join(" ") || "normal"}`);
  void shutdown().finally(() => process.exit(reason.length > 0 ? 1 : 0));
});
console.log(`worker ${worker} ready`);
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void shutdown().finally(() => process.exit(0)));
// Started by demo.ts (with an IPC channel)? Then end with it, even if it is killed.
if (process.send !== undefined) process.once("disconnect", () => process.exit(1));
