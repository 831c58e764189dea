// The seeded fuzzer (spec/fuzz.ts) against this process's node, a global node: a few
// thousand cases of mangled handshakes, random packets and node requests with wrong
// arities and types, strange node IDs. None may escape to the process, and the node must
// keep serving a good peer throughout. `npm run fuzz -- --cases N --seed S` runs more.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { configure } from "../lib/index.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { fuzz } from "./fuzz.ts";
import { SECRET, freePort } from "./net-helpers.ts";

const CASES = Number(process.env.AEMP_FUZZ_CASES ?? 3000);
const SEED = Number(process.env.AEMP_FUZZ_SEED ?? 20261201);
let address = "";

test.before(async () => {
  const self = `127.0.0.1:${await freePort()}`;
  ({ addresses: [address] } = await configure({ nodeid: "fuzz/%u", binds: [self], seeds: [self], secret: SECRET, norc: true, connect_interval: 0.5 }));
});

test.after(async () => {
  await currentNetwork()?.stop();
});

test(`fuzz - ${CASES} seeded cases (seed ${SEED}): nothing escapes, the node keeps serving`, async () => {
  const report = await fuzz({ cases: CASES, seed: SEED, address });
  console.log(`  ${report.cases} cases (${Object.entries(report.byClass).map(([k, v]) => `${k} ${v}`).join(", ")}) in ${report.seconds.toFixed(1)} s, ${report.crashes.length} crashes`);
  assert.equal(report.crashes, []);
  assert.is(report.cases, CASES);
});

test.run();
