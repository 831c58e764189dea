// The database conformance suite (spec/db-conformance.ts) against the Redis backend
// over ioredis-mock: fast, needs no server, runs in every `npm test`.
import { setDbBackend } from "../lib/db/backend.ts";
import type { RedisBackend } from "../lib/db/redis.ts";
import { dbKeys } from "../lib/index.ts";
import { dbConformance } from "./db-conformance.ts";
import { freshMockHost, mockBackend } from "./redis-helpers.ts";

let backend: RedisBackend;

dbConformance({
  name: "redis-mock",
  async setup() {
    backend = mockBackend(freshMockHost(), "conformance/mock");
    setDbBackend(backend);
    await dbKeys("warmup"); // connected
  },
  async teardown() {
    setDbBackend(null);
    await backend.close();
  },
  watching: (family) => backend.watching(family),
  // ioredis-mock runs Lua in a VM written in JavaScript (a fresh one per script call,
  // ~15 ms, then ~0.5 ms per operation): fewer keys keep this file fast.
  bigFamily: 1_000,
  callTimeoutMs: 5000,
});
