// The database conformance suite (spec/db-conformance.ts) against the Redis backend
// over a real three-primary Redis Cluster started here (`redis+cluster://...`,
// spec/redis-helpers.ts). Without redis-server on the machine the tests are not
// registered and a SKIPPED line says why.
import { setDbBackend } from "../lib/db/backend.ts";
import type { RedisBackend } from "../lib/db/redis.ts";
import { dbKeys } from "../lib/index.ts";
import { dbConformance } from "./db-conformance.ts";
import { type RedisClusterSet, realBackend, skipWithoutRedis, startRedisCluster } from "./redis-helpers.ts";

if (!skipWithoutRedis("spec/db-conformance-redis-cluster.spec.ts")) {
  let cluster: RedisClusterSet | undefined;
  let backend: RedisBackend | undefined;
  dbConformance({
    name: "redis-cluster",
    async setup() {
      cluster = await startRedisCluster(3);
      backend = await realBackend(cluster.url, "conformance/cluster");
      setDbBackend(backend);
      await dbKeys("warmup"); // connected
    },
    async teardown() {
      setDbBackend(null);
      await backend?.close();
      await cluster?.stop();
    },
    watching: (family) => backend!.watching(family),
    bigFamily: 10_000,
  });
}
