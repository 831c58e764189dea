/**
 * Helper processes for scripts/bench/db.ts (not a benchmark by itself). One role per
 * process, from argv; each prints one JSON line on stdout when ready (or done):
 * - `seed`: a node on 127.0.0.1 with a free port; it turns global when the first node
 *   joins through it. Prints {addresses}.
 * - `setter SEED`: joins through SEED and registers a port in `bench::setter` that
 *   understands ["go", i, family] (dbSet(family, "k" + i, {t: clock()})), ["ping", i,
 *   reply] (answers ["pong", i, clock()]) and ["bulk", n, family, reply] (sets n keys,
 *   then answers ["bulkDone"]). Prints {ready: true}.
 * - `newcomer SEED FAMILY N`: joins through SEED and measures, from just before
 *   configure(), when the link to the seed is up and when dbMon(FAMILY) first shows N
 *   keys; then times a dbFamily(FAMILY) query and a snd round trip to the seed's node
 *   port. Prints {linkMs, monMs, familyMs, rttMs} and exits.
 * clock() is performance.timeOrigin + performance.now(): milliseconds on a clock the
 * processes of one machine share.
 */
import { NODE, configure, dbFamily, dbMon, dbSet, monNodes, port, rcv, shutdown, snd } from "../../lib/index.ts";

const secret = "aemp-bench-db";
const clock = (): number => performance.timeOrigin + performance.now();
const [role, seed, family, count] = process.argv.slice(2);

if (role === "seed") {
  const { addresses } = await configure({ nodeid: "bench-seed/%u", binds: ["127.0.0.1:*"], secret, norc: true });
  console.log(JSON.stringify({ addresses }));
} else if (role === "setter") {
  await configure({ nodeid: "bench-setter/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret, norc: true });
  const p = port();
  rcv(p, "go", (i: number, fam: string) => void dbSet(fam, `k${i}`, { t: clock() }));
  rcv(p, "ping", (i: number, reply: string) => snd(reply, "pong", i, clock()));
  rcv(p, "bulk", (n: number, fam: string, reply: string) => {
    for (let i = 0; i < n; i++) dbSet(fam, `k${i}`, i);
    snd(reply, "bulkDone");
  });
  dbSet("bench::setter", p);
  console.log(JSON.stringify({ ready: true }));
} else if (role === "newcomer") {
  const n = Number(count);
  const t0 = clock();
  let linkMs = NaN;
  let seedNode = "";
  const up = monNodes((nodeId, isUp) => {
    if (isUp && Number.isNaN(linkMs)) {
      linkMs = clock() - t0;
      seedNode = nodeId;
    }
  });
  await configure({ nodeid: "bench-newcomer/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret, norc: true });
  const monMs = await new Promise<number>((resolve) => {
    const g = dbMon(family, (fam) => {
      if (Object.keys(fam).length >= n) {
        resolve(clock() - t0);
        queueMicrotask(() => g.cancel());
      }
    });
  });
  up.cancel();
  const t1 = clock();
  const got = await dbFamily(family);
  const familyMs = clock() - t1;
  if (Object.keys(got).length < n) throw new Error(`dbFamily returned ${Object.keys(got).length} keys`);
  // A bare round trip to the seed: its node port answers "time" requests.
  const rttMs = await new Promise<number>((resolve) => {
    const t2 = clock();
    const reply = port(() => resolve(clock() - t2));
    snd(`${seedNode}#`, "time", reply);
  });
  console.log(JSON.stringify({ linkMs, monMs, familyMs, rttMs, node: NODE() }));
  await shutdown();
  process.exit(0);
} else {
  console.error("usage: db-node.ts seed | setter SEED | newcomer SEED FAMILY N");
  process.exit(2);
}
