// A monitor over a Redis that comes back behind what it saw (as a replica promoted by
// a failover may, lacking the last writes; here: a server restarted empty): the
// entries of owners that may still write them again are kept, not reported deleted,
// and settled once those owners have rewritten them (or after one lease, when an
// owner never does). Owner A reaches Redis through a proxy that stays cut until the
// monitor on B has read the family again, so B reads before A rewrites.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { RedisBackend } from "../lib/db/redis.ts";
import { type RedisServer, TcpProxy, realBackend, skipWithoutRedis, startRedisServer, until } from "./redis-helpers.ts";

const F = "behind::family";
const LEASE = 1;

if (!skipWithoutRedis("spec/db-redis-behind.spec.ts")) {
  let server: RedisServer;
  let proxy: TcpProxy;
  let a: RedisBackend;
  let b: RedisBackend;
  let gone: RedisBackend;

  test.before(async () => {
    server = await startRedisServer();
    proxy = await TcpProxy.start(server.port);
    a = await realBackend(proxy.url, "behind/a", { lease: LEASE });
    b = await realBackend(server.url, "behind/b", { lease: LEASE });
    gone = await realBackend(server.url, "behind/gone", { lease: LEASE });
  });

  test.after(async () => {
    await a?.close();
    await b?.close();
    await proxy?.close();
    await server?.stop();
  });

  test("behind - entries of live owners are kept across a server that lost them; those of an owner that never writes again go after a lease", async () => {
    const calls: { added: string[]; changed: string[]; deleted: string[] }[] = [];
    let content: Record<string, unknown> = {};
    let ups = 0;
    b.watch(
      F,
      (copy, added, changed, deleted) => {
        calls.push({ added: [...added], changed: [...changed], deleted: [...deleted] });
        content = { ...copy };
      },
      (s) => {
        if (s.up) ups++;
      },
    );
    a.localSet(F, "a1", 1);
    b.localSet(F, "b1", 2);
    gone.localSet(F, "g1", 3);
    await until(() => Object.keys(content).length === 3, 5000, "B to see the three entries");
    proxy.cut();
    gone.abandon();
    await server.kill();
    await server.start(); // empty: sequence 0
    await until(() => ups === 1, 10_000, "B's monitor to be back");
    const afterResync = calls.length;
    proxy.restore();
    // A writes its entries again; the one of the owner that is gone goes after a lease.
    await until(() => !("g1" in content), LEASE * 1000 + 5000, "the gone owner's entry to go");
    assert.equal(content, { a1: 1, b1: 2 });
    const deleted = calls.flatMap((c) => c.deleted);
    assert.equal(deleted, ["g1"], "only the entry of the owner that never came back was reported deleted");
    assert.equal(calls.slice(afterResync).flatMap((c) => c.added), [], "nothing re-added");
    assert.equal(((await b.query("g_db_keys", F)) as string[]).sort(), ["a1", "b1"]);
  });

  test.run();
}
