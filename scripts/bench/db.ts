/**
 * Database figures (npm run bench:db), with baselines from the same run. Three nodes on
 * this machine: a seed S (global node) and a setter X in child processes, and this
 * process Y, a slave of S like X.
 * - dbSet on X -> dbMon callback on Y (the change travels X -> S -> Y as g_upd, g_chg2):
 *   p50/p99 over 1,000 sets made one at a time, timed with a clock both processes share;
 *   baseline: a bare snd from X to Y (one hop, same clock) and the snd round trip
 *   Y -> X -> Y (Y's clock only). Expect about two one-way hops plus the work.
 * - A newcomer node joins while S holds a family of 10,000 keys: time from its
 *   configure() to its link to the seed (baseline: connecting and the handshake), and
 *   to the first dbMon call that shows all 10,000 keys; then a dbFamily query of the
 *   10,000 keys against a bare round trip to the seed.
 * Then the Redis backend's figures (scripts/bench/db-redis.ts: a private redis-server,
 * or $AEMP_BENCH_REDIS; skipped without either; also behind Sentinel and on a Cluster),
 * and a global node's fan-out (scripts/bench/db-fanout.ts: the built package, so
 * `npm run bench:db` builds first).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { configure, dbKeys, dbMon, dbWaitFor, kil, port, rcv, shutdown, snd } from "../../lib/index.ts";
import { fanoutFigures } from "./db-fanout.ts";
import { redisFigures } from "./db-redis.ts";

const SETS = 1000;
const WARMUP = 100;
const BIG = 10_000;
const clock = (): number => performance.timeOrigin + performance.now();
const helper = new URL("./db-node.ts", import.meta.url).pathname;
const children: ChildProcess[] = [];

/** Starts a helper role and resolves with the first JSON line it prints. */
function start(...args: string[]): Promise<Record<string, any>> {
  const child = spawn(process.execPath, ["--import", "tsx", helper, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(JSON.parse(line)));
    child.once("exit", (code) => reject(new Error(`db-node ${args[0]} exited with ${code}`)));
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function stats(samples: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

function line(name: string, samples: number[]): void {
  const { p50, p99, mean } = stats(samples);
  console.log(`${name.padEnd(52)} p50 ${p50.toFixed(3).padStart(8)} ms   p99 ${p99.toFixed(3).padStart(8)} ms   mean ${mean.toFixed(3).padStart(8)} ms`);
}

try {
  const seedInfo = await start("seed");
  const seed = seedInfo.addresses[0] as string;
  await configure({ nodeid: "bench-main/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret: "aemp-bench-db", norc: true });
  await start("setter", seed);
  const setter = Object.keys((await dbWaitFor("bench::setter", 10)) ?? {})[0];
  if (setter === undefined) throw new Error("the setter did not register within 10 s");

  // ---- baseline: snd between X and Y ---------------------------------------------------
  const oneWay: number[] = [];
  const roundTrip: number[] = [];
  await new Promise<void>((resolve) => {
    let i = 0;
    let sent = 0;
    const reply = port();
    const ping = (): void => {
      sent = clock();
      snd(setter, "ping", i, reply);
    };
    rcv(reply, "pong", (n: number, tx: number) => {
      const t = clock();
      if (n >= WARMUP) {
        oneWay.push(t - tx);
        roundTrip.push(t - sent);
      }
      if (++i < SETS + WARMUP) ping();
      else {
        kil(reply);
        resolve();
      }
    });
    ping();
  });

  // ---- dbSet on X -> dbMon on Y ---------------------------------------------------------
  const setToMon: number[] = [];
  const goToMon: number[] = [];
  await new Promise<void>((resolve) => {
    let i = 0;
    let sent = 0;
    let primed = false;
    const go = (): void => {
      sent = clock();
      snd(setter, "go", i, "bench::lat");
    };
    const g = dbMon("bench::lat", (fam, added) => {
      if (!primed) {
        primed = true;
        go();
        return;
      }
      const key = `k${i}`;
      if (!added.includes(key)) return;
      const t = clock();
      if (i >= WARMUP) {
        setToMon.push(t - (fam[key] as { t: number }).t);
        goToMon.push(t - sent);
      }
      if (++i < SETS + WARMUP) go();
      else {
        queueMicrotask(() => g.cancel());
        resolve();
      }
    });
  });

  console.log(`aemp database latency (${process.version}; ${SETS} samples each, after ${WARMUP} warm-up; 3 nodes on 127.0.0.1)`);
  line("dbSet on X -> dbMon callback on Y (via the seed)", setToMon);
  line("baseline: snd X -> Y, one way", oneWay);
  line("baseline: snd round trip Y -> X -> Y", roundTrip);
  line("check: snd Y -> X, dbSet, dbMon on Y (Y's clock)", goToMon);
  const ratio = stats(setToMon).p50 / stats(oneWay).p50;
  console.log(`  set -> monitor p50 = ${ratio.toFixed(1)} x one snd hop (the change makes two hops: X -> seed -> Y)`);

  // ---- a newcomer and a family of 10,000 keys --------------------------------------------
  const big = "bench::big";
  await new Promise<void>((resolve) => {
    const reply = rcv(port(), "bulkDone", () => {
      kil(reply);
      resolve();
    });
    snd(setter, "bulk", BIG, big, reply);
  });
  // Wait until the seed holds all of them (a query is answered by the seed).
  for (;;) {
    if ((await dbKeys(big)).length >= BIG) break;
  }
  const runs: Record<string, number>[] = [];
  for (let r = 0; r < 3; r++) runs.push(await start("newcomer", seed, big, String(BIG)));
  const median = (k: string): number => stats(runs.map((x) => x[k])).p50;
  console.log(`\na new node joining while the seed holds a family of ${BIG.toLocaleString("en")} keys (median of ${runs.length} newcomers)`);
  console.log(`${"link to the seed up (configure -> handshake done)".padEnd(52)} ${median("linkMs").toFixed(1).padStart(8)} ms   (baseline)`);
  console.log(`${"first dbMon call with all keys (from configure)".padEnd(52)} ${median("monMs").toFixed(1).padStart(8)} ms   (${(median("monMs") - median("linkMs")).toFixed(1)} ms after the link)`);
  console.log(`${`dbFamily of ${BIG.toLocaleString("en")} keys, round trip`.padEnd(52)} ${median("familyMs").toFixed(2).padStart(8)} ms`);
  console.log(`${"baseline: a bare round trip to the seed".padEnd(52)} ${median("rttMs").toFixed(2).padStart(8)} ms`);

  // ---- the same database served by Redis (scripts/bench/db-redis.ts) ---------------------
  await redisFigures();

  // ---- a global node's fan-out to 20 and 10 nodes, against Erlang's pg (db-fanout.ts) ----
  await fanoutFigures();
} finally {
  for (const c of children) c.kill("SIGKILL");
  await shutdown();
}
process.exit(0);
