/**
 * `npm run fuzz -- [--cases N] [--seed S]`: the seeded network fuzzer (spec/fuzz.ts)
 * for long runs. This process becomes a global node on 127.0.0.1 and is fuzzed by
 * fake peers from within; it prints progress, the cases per class, the crashes (an
 * exception that escaped, a health check that failed, a raw control character in a
 * log record) and the Node version, and exits 1 if there was any crash. `npm test`
 * runs the same cases, fewer of them (spec/net-fuzz.spec.ts).
 */
import { parseArgs } from "node:util";
import { configure, shutdown } from "../lib/index.ts";
import { fuzz } from "../spec/fuzz.ts";
import { SECRET, freePort } from "../spec/net-helpers.ts";

const { values } = parseArgs({ options: { cases: { type: "string", default: "10000" }, seed: { type: "string", default: "20261201" } } });
const cases = Number(values.cases);
const seed = Number(values.seed);
if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed)) {
  console.error("usage: npm run fuzz -- [--cases N] [--seed S]   (N >= 1, S an integer)");
  process.exit(2);
}
const self = `127.0.0.1:${await freePort()}`;
const { addresses: [address] } = await configure({ nodeid: "fuzz/%u", binds: [self], seeds: [self], secret: SECRET, norc: true, connect_interval: 0.5 });
console.log(`aemp fuzz (node ${process.version}): ${cases} cases, seed ${seed}, against ${address}`);
let last = 0;
const report = await fuzz({
  cases,
  seed,
  address,
  progress(done) {
    if (done - last >= 10_000 || done === cases) {
      last = done;
      console.log(`  ${done} cases, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
    }
  },
});
console.log(`${report.cases} cases (${Object.entries(report.byClass).map(([k, v]) => `${k} ${v}`).join(", ")}) in ${report.seconds.toFixed(1)} s: ${report.crashes.length} crashes`);
for (const crash of report.crashes) console.log(`  CRASH ${crash}`);
await shutdown({ timeout: 0 });
process.exit(report.crashes.length > 0 ? 1 : 0);
