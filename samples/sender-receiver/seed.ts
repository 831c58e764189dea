/**
 * Sender and receiver on two nodes, found through a seed (the AEMP tutorial's first
 * network example). Three programs, three terminals, in this order:
 *
 *   1. npx tsx samples/sender-receiver/seed.ts [HOST:PORT]
 *   2. npx tsx samples/sender-receiver/receiver.ts [SEED]
 *   3. npx tsx samples/sender-receiver/sender.ts [RECEIVER_PORT_ID] [SEED]
 *
 * SEED and HOST:PORT default to 127.0.0.1:4040; all three use the shared secret in
 * AEMP_SECRET (default "aemp-sample-secret"). AEMP_TRACE=1 shows every message.
 *
 * This one is the seed: it only listens and runs the global service (the database and
 * the directory of node addresses), so the other two can find each other. It lists
 * itself as its own seed, which makes it a global node from the start.
 * Prints `seed NODEID listening on HOST:PORT`; runs until Ctrl-C.
 */
import { configure, shutdown } from "aemp";

const bind = process.argv[2] ?? "127.0.0.1:4040";
const { nodeId, addresses } = await configure({
  nodeid: "eg_seed/%u",
  binds: [bind],
  seeds: [bind],
  secret: process.env.AEMP_SECRET ?? "aemp-sample-secret",
});
console.log(`seed ${nodeId} listening on ${addresses.join(", ")}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void shutdown().finally(() => process.exit(0)));
}
