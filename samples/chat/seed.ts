/**
 * A seed node for the chat samples (and any small network): it only listens and runs
 * the global service, so the other nodes can find each other and share the database.
 * Start it first; servers and clients come and go around it.
 *
 * Run: npx tsx samples/chat/seed.ts [HOST:PORT]   (default 127.0.0.1:4040; port `*` picks
 *      a free one, and the seed then turns global when the first node joins through it)
 * Prints: `seed NODEID listening on HOST:PORT`.
 */
import { configure, shutdown } from "aemp";
import { DEFAULT_SEED, exitOnSignals, secret } from "./common.ts";

const bind = process.argv[2] ?? DEFAULT_SEED;
const { nodeId, addresses } = await configure({
  nodeid: "chat-seed/%u",
  binds: [bind],
  // A node that finds itself among its seeds is a global node from the start.
  seeds: bind.endsWith(":*") ? [] : [bind],
  secret: secret(),
});
console.log(`seed ${nodeId} listening on ${addresses.join(", ")}`);
exitOnSignals(shutdown);
