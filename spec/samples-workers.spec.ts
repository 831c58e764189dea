// The worker-pool sample (samples/workers): workers registered with dbReg, a client
// spreading jobs over them with p-queue and getCond while workers come and go. Every
// program runs as its own process.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type SampleProcess, runSample, stopSamples } from "./sample-helpers.ts";
import { waitFor } from "./helpers.ts";

const env = { AEMP_SECRET: "workers-sample-spec" };
let seedAddress = "";

function worker(args: string[] = [], name = "worker"): SampleProcess {
  return runSample("samples/workers/worker.ts", [seedAddress, ...args], { name, env });
}

interface Summary {
  jobs: number;
  completed: number;
  correct: number;
  retries: number;
  byWorker: Record<string, number>;
}

test.before(async () => {
  try {
    const seed = runSample("samples/chat/seed.ts", ["127.0.0.1:*"], { name: "seed", env });
    seedAddress = /listening on (\S+)/.exec(await seed.line(/listening on/, 15_000))![1];
  } catch (err) {
    console.error("workers setup failed:", err);
    await stopSamples();
    process.exit(1);
  }
});

test.after(async () => {
  await stopSamples();
});

test("workers - every job comes back right while workers are killed, one crashes, and a new one joins", async () => {
  const w1 = worker([], "w1");
  const w2 = worker([], "w2");
  const port1 = /worker (\S+) ready/.exec(await w1.line(/ready/, 15_000))![1];
  await w2.line(/ready/, 15_000);
  const client = runSample("samples/workers/client.ts", [seedAddress, "--jobs", "200", "--concurrency", "6", "--work-ms", "15"], { name: "client", env });
  await client.line(/^progress 40\/200$/, 15_000);
  // Both workers have jobs in flight: killing their processes loses those jobs, and
  // the client has to send them again to whoever is left.
  await Promise.all([w1.kill(), w2.kill()]);
  // The only worker now answers 3 jobs and crashes on the 4th.
  const crashy = worker(["--fail-after", "3"], "crashy");
  const crashyPort = /worker (\S+) ready/.exec(await crashy.line(/ready/, 15_000))![1];
  assert.is(await waitFor(crashy.exited, 15_000, "the crashing worker to exit"), 1, "a crashed worker's process exits with 1");
  assert.match(crashy.stderr, /simulated crash after 3 jobs/);
  // The pool is empty: the remaining jobs wait for a worker.
  assert.ok(client.alive, "the client waits");
  assert.not.ok(client.lines.includes("progress 200/200"));
  const w3 = worker([], "w3");
  try {
    const port3 = /worker (\S+) ready/.exec(await w3.line(/ready/, 15_000))![1];
    const summary = JSON.parse(await client.line(/^\{/, 20_000)) as Summary;
    assert.is(await waitFor(client.exited, 5000, "the client to exit"), 0, client.stderr);
    assert.is(summary.completed, 200);
    assert.is(summary.correct, 200);
    assert.ok(summary.retries >= 2, `jobs of dead workers were retried (${summary.retries})`);
    assert.match(client.stderr, /died \(transport_error/);
    assert.match(client.stderr, /died \(die simulated crash/);
    assert.ok(summary.byWorker[port1] > 0, "w1 worked before it was killed");
    assert.is(summary.byWorker[crashyPort], 3, "the crashing worker answered exactly 3 jobs");
    assert.ok(summary.byWorker[port3] > 0, `the worker that joined late did the rest: ${JSON.stringify(summary.byWorker)}`);
  } finally {
    await w3.kill("SIGTERM");
  }
});

test("workers - the one-command demo runs to the end", async () => {
  const demo = runSample("samples/workers/demo.ts", ["120"], { name: "demo", env });
  const last = await demo.line(/^demo: all 120 jobs done right/, 30_000);
  assert.match(last, /"correct":120/);
  assert.is(await waitFor(demo.exited, 5000, "the demo to exit"), 0, demo.stderr);
  assert.ok(demo.count(/^pool: - /) >= 1, "the demo saw a worker leave the pool");
});

test.run();
