// The database conformance suite (spec/db-conformance.ts) against the Redis backend
// over a real redis-server started here (free port, no persistence, temp dir). Without
// redis-server on the machine the tests are not registered and a SKIPPED line says why.
import { setDbBackend } from "../lib/db/backend.ts";
import type { RedisBackend } from "../lib/db/redis.ts";
import { dbKeys } from "../lib/index.ts";
import { dbConformance } from "./db-conformance.ts";
import { type RedisServer, realBackend, skipWithoutRedis, startRedisServer } from "./redis-helpers.ts";

if (!skipWithoutRedis("spec/db-conformance-redis.spec.ts")) {
  let server: RedisServer | undefined;
  let backend: RedisBackend | undefined;
  dbConformance({
    name: "redis-server",
    async setup() {
      server = await startRedisServer();
      backend = await realBackend(server.url, "conformance/real");
      setDbBackend(backend);
      await dbKeys("warmup"); // connected
    },
    async teardown() {
      setDbBackend(null);
      await backend?.close();
      await server?.stop();
    },
    watching: (family) => backend!.watching(family),
    bigFamily: 10_000,
  });
}
