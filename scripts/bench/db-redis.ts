/**
 * Redis figures for npm run bench:db (scripts/bench/db.ts calls `redisFigures()`; also
 * runnable alone: tsx scripts/bench/db-redis.ts). With baselines from the same run.
 *
 * Uses the Redis at $AEMP_BENCH_REDIS (redis://host:port/N) if set, else starts a
 * private redis-server on 127.0.0.1 and a free port (no persistence, temp dir) and stops
 * it afterwards; without either it says so and measures nothing. Two database backends
 * in this process play node X (sets) and node Y (monitors), each with its own two
 * connections, as two nodes would have:
 * - dbSet on X -> dbMon callback on Y, one set at a time: p50/p99; baselines: a bare
 *   PUBLISH -> subscriber hop and a PING round trip;
 * - 10,000 dbSets in one loop until Y's monitor has seen every one (sets/s), and the
 *   same for 10,000 deletes;
 * - a newcomer backend: from its creation (connecting included) to the first dbMon call
 *   showing a family of 10,000 keys; then dbFamily of those keys, against a bare
 *   HGETALL of the family's hash;
 * - a crashed owner (every lease 1 s): from the crash to the monitor hearing its
 *   entries are gone (bound: the lease).
 * Then, with redis-server (not $AEMP_BENCH_REDIS), the same set -> monitor figure
 * behind Sentinel and on a Cluster, and Sentinel's failover window (`replicated`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { type RedisBackend, openRedisBackend } from "../../lib/db/redis.ts";

const SAMPLES = 1000;
const WARMUP = 100;
const BULK = 10_000;

function redisServerBinary(): string | null {
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/usr/sbin"]) {
    if (dir === "") continue;
    try {
      accessSync(join(dir, "redis-server"), constants.X_OK);
      return join(dir, "redis-server");
    } catch {
      // not here
    }
  }
  return null;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

/** A private redis-server; resolves with its URL and a stop function. */
async function startServer(bin: string): Promise<{ url: string; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "aemp-bench-redis-"));
  const port = await freePort();
  const child: ChildProcess = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}/0`,
    stop: () => {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function stats(samples: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  return { p50: at(50), p99: at(99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

function line(name: string, samples: number[]): void {
  const { p50, p99, mean } = stats(samples);
  console.log(`${name.padEnd(52)} p50 ${p50.toFixed(3).padStart(8)} ms   p99 ${p99.toFixed(3).padStart(8)} ms   mean ${mean.toFixed(3).padStart(8)} ms`);
}

function figure(name: string, value: string, note = ""): void {
  console.log(`${name.padEnd(52)} ${value.padStart(12)}   ${note}`);
}

/**
 * A monitor on `family`: `primed` resolves with its first call, `done` when `check()`
 * holds after a later call (or the first).
 */
function monitorUntil(backend: RedisBackend, family: string, check: (fam: Record<string, unknown>, added: string[], deleted: string[]) => boolean): { primed: Promise<void>; done: Promise<void> } {
  let primed!: () => void;
  const first = new Promise<void>((r) => (primed = r));
  const done = new Promise<void>((resolve) => {
    const cancel = backend.watch(family, (fam, added, _changed, deleted) => {
      primed();
      if (!check(fam, added, deleted)) return;
      queueMicrotask(cancel);
      resolve();
    });
  });
  return { primed: first, done };
}

/** dbSet on X -> dbMon callback on Y, one set at a time: each one's milliseconds. */
function setToMonitor(x: RedisBackend, y: RedisBackend, family = "bench::lat"): Promise<number[]> {
  const samples: number[] = [];
  return new Promise<number[]>((resolve) => {
    let i = 0;
    let sent = 0;
    let primed = false;
    const go = (): void => {
      sent = performance.now();
      x.localSet(family, `k${i}`, i);
    };
    const cancel = y.watch(family, (_fam, added) => {
      if (!primed) {
        primed = true;
        go();
        return;
      }
      if (!added.includes(`k${i}`)) return;
      if (i >= WARMUP) samples.push(performance.now() - sent);
      if (++i < SAMPLES + WARMUP) go();
      else {
        queueMicrotask(cancel);
        resolve(samples);
      }
    });
  });
}

/**
 * A primary behind three Sentinels (down-after 1 s), then a 3-primary Cluster
 * (spec/redis-helpers.ts starts them): set -> monitor p50/p99 on each; on Sentinel,
 * the primary is then killed (SIGKILL) while X writes every 10 ms and Y queries every
 * 20 ms: how long queries failed, and how long until Y's monitor saw a write made
 * after the kill.
 */
async function replicated(): Promise<void> {
  const { startRedisCluster, startSentinelSet } = await import("../../spec/redis-helpers.ts");
  const set = await startSentinelSet(1000);
  try {
    const [x, y] = await connectedPair(set.url, "bench-s");
    const lat = await setToMonitor(x, y);
    const failover = await failoverWindow(x, y, () => set.primary.kill());
    console.log(`
Redis behind Sentinel (a primary, a replica, 3 Sentinels, down-after-milliseconds 1000; ${set.url})`);
    line("dbSet on X -> dbMon callback on Y", lat);
    figure("primary killed: queries failing", `${failover.unavailableMs} ms`, `first failure ${failover.firstFailMs} ms, last ${failover.lastFailMs} ms after the kill (${failover.failures} of ${failover.probes} probes, all DbUnavailableError: ${failover.allUnavailable})`);
    figure("primary killed: Y's monitor sees a new write", `${failover.monitorMs} ms`, "after the kill");
    await x.close();
    await y.close();
  } finally {
    await set.stop();
  }
  const cluster = await startRedisCluster(3);
  try {
    const [x, y] = await connectedPair(cluster.url, "bench-c");
    const lat = await setToMonitor(x, y);
    console.log(`
Redis Cluster (3 primaries, no replicas; ${cluster.url})`);
    line("dbSet on X -> dbMon callback on Y", lat);
    await x.close();
    await y.close();
  } finally {
    await cluster.stop();
  }
}

/** Two backends on `url` (owners PREFIXx and PREFIXy), each with one query answered. */
async function connectedPair(url: string, prefix: string): Promise<[RedisBackend, RedisBackend]> {
  const pair: [RedisBackend, RedisBackend] = [await openRedisBackend(url, { owner: `${prefix}x` }), await openRedisBackend(url, { owner: `${prefix}y` })];
  await Promise.all(pair.map((b) => b.query("g_db_keys", "warmup")));
  return pair;
}

/** See `replicated`: kills the primary mid-traffic and measures the window. */
async function failoverWindow(x: RedisBackend, y: RedisBackend, kill: () => Promise<void>): Promise<{ unavailableMs: number; firstFailMs: number; lastFailMs: number; failures: number; probes: number; allUnavailable: boolean; monitorMs: number }> {
  const family = "bench::failover";
  let written = 0;
  let seenAfterKill = -1;
  let killedAt = Infinity;
  let writtenAtKill = Infinity;
  const cancel = y.watch(family, (_fam, added) => {
    if (seenAfterKill < 0 && added.some((k) => Number(k.slice(1)) > writtenAtKill)) seenAfterKill = performance.now();
  });
  const writer = setInterval(() => x.localSet(family, `k${written++}`, written), 10);
  const probes: { at: number; error?: unknown }[] = [];
  const prober = setInterval(() => {
    const at = performance.now();
    y.query("g_db_keys", family).then(
      () => probes.push({ at }),
      (error: unknown) => probes.push({ at, error }),
    );
  }, 20);
  try {
    await new Promise((r) => setTimeout(r, 500));
    killedAt = performance.now();
    writtenAtKill = written;
    await kill();
    const deadline = Date.now() + 60_000;
    while (seenAfterKill < 0 || !probes.some((p) => p.error !== undefined) || probes[probes.length - 1].error !== undefined) {
      if (Date.now() > deadline) throw new Error("no recovery within 60 s");
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    clearInterval(writer);
    clearInterval(prober);
    cancel();
  }
  const failures = probes.filter((p) => p.error !== undefined && p.at >= killedAt);
  const first = failures[0].at;
  const last = failures[failures.length - 1].at;
  const recovered = probes.find((p) => p.at > last && p.error === undefined)!.at;
  return {
    unavailableMs: Math.round(recovered - killedAt),
    firstFailMs: Math.round(first - killedAt),
    lastFailMs: Math.round(last - killedAt),
    failures: failures.length,
    probes: probes.filter((p) => p.at >= killedAt).length,
    allUnavailable: failures.every((f) => (f.error as Error).name === "DbUnavailableError"),
    monitorMs: Math.round(seenAfterKill - killedAt),
  };
}

async function measure(url: string): Promise<void> {
  // One lease for every node, as a network configured from one rc file has.
  const x = await openRedisBackend(url, { owner: "bench-x", lease: 1 });
  const y = await openRedisBackend(url, { owner: "bench-y", lease: 1 });
  const raw = new Redis(url);
  const rawSub = new Redis(url);
  try {
    await x.query("g_db_keys", "warmup");
    await y.query("g_db_keys", "warmup");

    // ---- baselines: PING round trip, PUBLISH -> subscriber ------------------------------
    const ping: number[] = [];
    for (let i = 0; i < SAMPLES + WARMUP; i++) {
      const t = performance.now();
      await raw.ping();
      if (i >= WARMUP) ping.push(performance.now() - t);
    }
    const hop: number[] = [];
    await rawSub.subscribe("bench:hop");
    await new Promise<void>((resolve) => {
      let i = 0;
      let sent = 0;
      rawSub.on("message", () => {
        if (i >= WARMUP) hop.push(performance.now() - sent);
        if (++i < SAMPLES + WARMUP) next();
        else resolve();
      });
      const next = (): void => {
        sent = performance.now();
        void raw.publish("bench:hop", String(i));
      };
      next();
    });

    const setToMon = await setToMonitor(x, y);

    // ---- 10,000 sets in a loop, then 10,000 deletes -------------------------------------
    const big = "bench::big";
    let seen = 0;
    const allSet = monitorUntil(y, big, (_f, added) => (seen += added.length) >= BULK);
    await allSet.primed;
    let t = performance.now();
    for (let i = 0; i < BULK; i++) x.localSet(big, `k${i}`, { i });
    await allSet.done;
    const setMs = performance.now() - t;

    // ---- a newcomer sees the family --------------------------------------------------------
    const newcomerStart = performance.now();
    const newcomer = await openRedisBackend(url, { owner: "bench-newcomer" });
    await monitorUntil(newcomer, big, (fam) => Object.keys(fam).length >= BULK).done;
    const newcomerMs = performance.now() - newcomerStart;
    const familyRuns: number[] = [];
    const hgetallRuns: number[] = [];
    for (let r = 0; r < 5; r++) {
      let t0 = performance.now();
      const fam = (await newcomer.query("g_db_family", big)) as Record<string, unknown>;
      familyRuns.push(performance.now() - t0);
      if (Object.keys(fam).length !== BULK) throw new Error(`dbFamily returned ${Object.keys(fam).length} keys`);
      t0 = performance.now();
      await raw.hgetall(`aemp:f:${big}`);
      hgetallRuns.push(performance.now() - t0);
    }
    await newcomer.close();

    let gone = 0;
    const allDeleted = monitorUntil(y, big, (_f, _a, deleted) => (gone += deleted.length) >= BULK);
    await allDeleted.primed;
    t = performance.now();
    for (let i = 0; i < BULK; i++) x.localDel(big, [`k${i}`]);
    await allDeleted.done;
    const delMs = performance.now() - t;

    // ---- a crashed owner ------------------------------------------------------------------
    const crashing = await openRedisBackend(url, { owner: "bench-crash", lease: 1 });
    crashing.localSet("bench::crash", "entry", true);
    await crashing.query("g_db_keys", "bench::crash");
    await monitorUntil(y, "bench::crash", (fam) => "entry" in fam).done;
    const vanished = monitorUntil(y, "bench::crash", (fam) => !("entry" in fam));
    await vanished.primed;
    crashing.abandon();
    t = performance.now();
    await vanished.done;
    const crashMs = performance.now() - t;

    console.log(`\nthe Redis backend (${url}; two backends in this process as nodes X and Y; ${SAMPLES} samples after ${WARMUP} warm-up)`);
    line("dbSet on X -> dbMon callback on Y (via Redis)", setToMon);
    line("baseline: PUBLISH -> subscriber, one hop", hop);
    line("baseline: PING round trip", ping);
    console.log(`  set -> monitor p50 = ${(stats(setToMon).p50 / stats(hop).p50).toFixed(1)} x one pub/sub hop (a script call, then the hop)`);
    figure(`${BULK.toLocaleString("en")} dbSets in a loop, all seen by Y's monitor`, `${setMs.toFixed(1)} ms`, `${Math.round((BULK / setMs) * 1000).toLocaleString("en")} sets/s (batched: one script per ${1000} writes)`);
    figure(`${BULK.toLocaleString("en")} dbDels in a loop, all seen by Y's monitor`, `${delMs.toFixed(1)} ms`, `${Math.round((BULK / delMs) * 1000).toLocaleString("en")} deletes/s`);
    figure(`newcomer: first dbMon call with all ${BULK.toLocaleString("en")} keys`, `${newcomerMs.toFixed(1)} ms`, "from creating the backend (connecting included)");
    figure(`dbFamily of ${BULK.toLocaleString("en")} keys (median of 5)`, `${stats(familyRuns).p50.toFixed(2)} ms`, `baseline: a bare HGETALL of them ${stats(hgetallRuns).p50.toFixed(2)} ms`);
    figure("crashed owner (lease 1 s): entries gone at Y", `${crashMs.toFixed(0)} ms`, "bound: the lease, 1000 ms after its last renewal");
  } finally {
    await x.close();
    await y.close();
    raw.disconnect();
    rawSub.disconnect();
  }
}

/** Prints the Redis figures (see the module comment). */
export async function redisFigures(): Promise<void> {
  const given = process.env.AEMP_BENCH_REDIS;
  if (given) {
    await measure(given);
    return;
  }
  const bin = redisServerBinary();
  if (bin === null) {
    console.log("\nthe Redis backend: skipped (no redis-server here; install it, or set AEMP_BENCH_REDIS=redis://host:port/N)");
    return;
  }
  const server = await startServer(bin);
  try {
    await measure(server.url);
  } finally {
    server.stop();
  }
  await replicated();
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  await redisFigures();
  process.exit(0);
}
