// The Redis backend on a real three-primary Redis Cluster (`redis+cluster://...`,
// spec/redis-helpers.ts): every key the backend writes is in one slot (the hash tag of
// CLUSTER_PREFIX), so each script runs on one node; and the change notifications reach
// a subscriber connected to another primary than the one holding that slot (PUBLISH
// goes to the whole cluster).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Cluster, Redis } from "ioredis";
import { CLUSTER_PREFIX, RedisBackend } from "../lib/db/redis.ts";
import { type RedisClusterSet, realBackend, skipWithoutRedis, startRedisCluster, until } from "./redis-helpers.ts";

const F = "cluster::family";

if (!skipWithoutRedis("spec/db-redis-cluster.spec.ts")) {
  let cluster: RedisClusterSet;
  let clients: Redis[];
  /** The port of the primary holding the backend's slot, and of one that does not. */
  let owner: number;
  let other: number;

  test.before(async () => {
    cluster = await startRedisCluster(3);
    clients = cluster.nodes.map((n) => new Redis({ host: "127.0.0.1", port: n.port }));
    const slot = Number(await clients[0].call("CLUSTER", "KEYSLOT", `${CLUSTER_PREFIX}seq`));
    const ranges = (await clients[0].call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
    owner = ranges.find(([lo, hi]) => lo <= slot && slot <= hi)![2][1];
    other = cluster.nodes.map((n) => n.port).find((p) => p !== owner)!;
  });

  test.after(async () => {
    for (const c of clients ?? []) c.disconnect();
    await cluster?.stop();
  });

  test("cluster - a monitor subscribed on another primary sees every change; all keys are in one slot", async () => {
    const writer = await realBackend(cluster.url, "cluster/writer");
    // The watcher's subscriber is pinned to a primary that does not hold the slot.
    const watcher = new RedisBackend(
      (role) => (role === "commands" ? (new Cluster([{ host: "127.0.0.1", port: owner }]) as unknown as Redis) : new Redis({ host: "127.0.0.1", port: other })),
      { owner: "cluster/watcher", prefix: CLUSTER_PREFIX },
    );
    try {
      let content: Record<string, unknown> = {};
      const deleted: string[] = [];
      watcher.watch(F, (copy, _added, _changed, del) => {
        content = { ...copy };
        deleted.push(...del);
      });
      watcher.localSet(F, "w", "watcher's");
      for (let i = 0; i < 50; i++) writer.localSet(F, `k${i}`, i);
      await until(() => Object.keys(content).length === 51, 10_000, "the watcher to see 51 entries");
      writer.localDel(F, ["k0", "k1"]);
      await until(() => deleted.includes("k0") && deleted.includes("k1"), 10_000, "the watcher to see the deletes");
      assert.is(content.k49, 49);
      const sizes = await Promise.all(clients.map(async (c) => ({ port: (c.options.port as number), keys: Number(await c.dbsize()) })));
      for (const s of sizes) assert.is(s.keys > 0, s.port === owner, `keys on ${s.port} (the slot's primary is ${owner}): ${s.keys}`);
      const subscribers = Number(((await clients.find((c) => c.options.port === other)!.call("PUBSUB", "NUMSUB", `${CLUSTER_PREFIX}c:${F}`)) as [string, number])[1]);
      assert.ok(subscribers >= 1, "the watcher's subscription is on the other primary");
    } finally {
      await writer.close();
      await watcher.close();
    }
  });

  test.run();
}
