// The database conformance suite (spec/db-conformance.ts) against the global-node
// backend: the standalone global service of a process that never called configure.
import { globalService } from "../lib/global/current.ts";
import { dbConformance } from "./db-conformance.ts";

dbConformance({
  name: "global",
  async setup() {},
  async teardown() {},
  watching: (family) => (globalService() as unknown as { watched: Map<string, unknown> }).watched.has(family),
  bigFamily: 10_000,
});
