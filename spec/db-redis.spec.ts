// The Redis backend against a real redis-server started here (free port, no
// persistence, temp dir) and real node processes: a killed node's entries vanish
// within its lease, nodes without seeds find each other through Redis, a cut network
// is made up by re-reading, and Redis going down and coming back (empty) is survived.
// Without redis-server on the machine the tests are not registered (a SKIPPED line
// says why).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { setDbBackend } from "../lib/db/backend.ts";
import type { RedisBackend } from "../lib/db/redis.ts";
import { DbUnavailableError, dbFamily, dbKeys, dbSet } from "../lib/index.ts";
import { captureLog, rejects } from "./helpers.ts";
import { startDbNode, stopDbNodes } from "./db-helpers.ts";
import { startNode, stopAllNodes } from "./net-helpers.ts";
import { record } from "./redis-monitor.ts";
import { type RedisServer, TcpProxy, realBackend, skipWithoutRedis, startRedisServer, until } from "./redis-helpers.ts";

if (!skipWithoutRedis("spec/db-redis.spec.ts")) {
  let server: RedisServer;
  const open: RedisBackend[] = [];
  let counter = 0;
  const fresh = (): string => `real::f${++counter}`;

  async function backend(owner: string, url = server.url, lease?: number): Promise<RedisBackend> {
    const b = await realBackend(url, owner, lease === undefined ? {} : { lease });
    open.push(b);
    return b;
  }

  test.before(async () => {
    server = await startRedisServer();
  });

  test.after.each(async () => {
    setDbBackend(null);
    await Promise.all(open.splice(0).map((b) => b.close()));
    await stopDbNodes();
    await stopAllNodes();
  });

  test.after(async () => {
    await server.stop();
  });

  test("lease - a killed node process's entries vanish within its lease", async () => {
    const lease = 1;
    const node = await startDbNode({ db: server.url, db_lease: lease }, { name: "owner" });
    const watcher = await backend("watcher", server.url, lease); // one db_lease for the network, as usual
    const f = fresh();
    const mon = record(watcher, f);
    await node.call("dbSet", { family: f, key: "job", value: { n: 1 } });
    await node.call("dbSet", { family: f, key: "other", value: "x" });
    await mon.until((c) => Object.keys(c.family).length === 2, 5000, "both entries");
    assert.equal(await watcher.resolve(node.nodeId), node.addresses, "its addresses are in Redis");
    await node.kill("SIGKILL");
    const killed = Date.now();
    const gone = await mon.until((c) => c.deleted.length > 0, 5000, "the entries to vanish");
    const after = Date.now() - killed;
    assert.equal(gone.family, {});
    assert.equal(gone.deleted.sort(), ["job", "other"]);
    assert.ok(after <= lease * 1000 + 500, `gone after ${after} ms (lease ${lease * 1000} ms)`);
    assert.is(await watcher.resolve(node.nodeId), null, "its addresses went too");
  });

  test("discovery - two nodes without seeds reach each other through Redis", async () => {
    const a = await startNode({ db: server.url }, { name: "a" });
    const b = await startNode({ db: server.url }, { name: "b" });
    const p = await a.port("record");
    await b.call("snd", { to: p, msg: ["hello", { from: "b" }] });
    assert.equal(await a.message(p, "hello", 10_000), ["hello", { from: "b" }]);
  });

  test("reconnect - a cut network is made up: the monitor gets one call with the difference, then is live", async () => {
    const proxy = await TcpProxy.start(server.port);
    try {
      const near = await backend("near"); // direct
      const far = await backend("far", proxy.url); // through the proxy
      setDbBackend(near);
      const f = fresh();
      dbSet(f, "stays", 1);
      dbSet(f, "goes", 2);
      await dbKeys(f);
      const mon = record(far, f);
      assert.equal((await mon.call(1, 5000)).family, { stays: 1, goes: 2 });
      using _log = captureLog();
      proxy.cut();
      const down = await mon.status((s) => !s.up, 5000, "told down");
      assert.instance((down as { error: unknown }).error, DbUnavailableError);
      await rejects(far.query("g_db_family", f), { instanceOf: DbUnavailableError, code: "ERR_DB_UNAVAILABLE" });
      near.localDel(f, ["goes"]);
      near.localSet(f, "new", 3);
      await dbKeys(f);
      const before = mon.calls.length;
      proxy.restore();
      await mon.status((s) => s.up, 10_000, "told up");
      assert.is(mon.calls.length, before + 1, "one call");
      assert.equal(mon.calls[before], { family: { stays: 1, new: 3 }, added: ["new"], changed: [], deleted: ["goes"] });
      dbSet(f, "live", true);
      await mon.until((c) => c.added.includes("live"), 5000, "a change after the reconnect");
      assert.equal(await far.query("g_db_family", f), { stays: 1, new: 3, live: true });
    } finally {
      await proxy.close();
    }
  });

  test("outage - Redis killed: clear errors, monitors told, the node runs on; restarted empty: everything comes back", async () => {
    const a = await backend("node-a");
    const b = await backend("node-b");
    setDbBackend(a);
    const f = fresh();
    dbSet(f, "a1", 1);
    b.localSet(f, "b1", 2);
    await dbKeys(f);
    const mon = record(a, f);
    await mon.until((c) => Object.keys(c.family).length === 2, 5000, "both entries");
    using log = captureLog();
    await server.kill();
    const down = await mon.status((s) => !s.up, 5000, "told down");
    const error = (down as { error: DbUnavailableError }).error;
    assert.is(error.code, "ERR_DB_UNAVAILABLE");
    assert.match(error.message, new RegExp(`Redis at redis://127\\.0\\.0\\.1:${server.port}/0\\) is unreachable`));
    await log.until("unreachable", 10_000);
    const started = Date.now();
    await rejects(dbFamily(f), { instanceOf: DbUnavailableError, code: "ERR_DB_UNAVAILABLE" });
    assert.ok(Date.now() - started < 3000, "fails fast, does not hang");
    dbKeys(f, () => assert.unreachable("no answer while down")); // no unhandled rejection either
    dbSet(f, "during", 3); // kept, written when Redis is back
    await server.start(); // empty: as after a crash without persistence
    await mon.status((s) => s.up, 10_000, "told up");
    await until(async () => Object.keys(await dbFamily(f).catch(() => ({}))).length === 3, 10_000, "every node's entries to be written again");
    assert.equal(await dbFamily(f), { a1: 1, b1: 2, during: 3 });
    await mon.until((c) => Object.keys(c.family).length === 3, 5000, "the monitor to catch up");
    assert.equal(mon.latest, { a1: 1, b1: 2, during: 3 });
    await log.until("reachable again");
  });

  test("start - a node whose Redis is not up yet: queries fail clearly, monitors start once it is up", async () => {
    const late = await startRedisServer();
    try {
      await late.kill();
      const a = await realBackend(late.url, "early", { connectTimeoutMs: 2000 });
      open.push(a);
      const f = fresh();
      using _log = captureLog();
      const mon = record(a, f);
      await rejects(a.query("g_db_family", f), { instanceOf: DbUnavailableError, message: "unreachable" }, 5000);
      await mon.status((s) => !s.up, 5000, "told down");
      a.localSet(f, "k", "v");
      await late.start();
      assert.equal((await mon.until((c) => "k" in c.family, 10_000, "the first call")).family, { k: "v" });
      await mon.status((s) => s.up, 5000, "told up");
      assert.equal(await a.query("g_db_family", f), { k: "v" });
    } finally {
      await late.stop();
    }
  });

  test.run();
}
