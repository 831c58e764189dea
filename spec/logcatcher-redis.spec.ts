/**
 * `aemp logs` in a network whose database is Redis (no seeds, no global nodes): the
 * catcher finds the nodes in Redis's `'l` family, as it finds them on the global nodes
 * otherwise. A real redis-server and a node started with `aemp run`; without
 * redis-server a SKIPPED line says why and no test is registered.
 */
import { writeFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type TempRc, aemp, startAemp, stopAll, tempRc } from "./cli-helpers.ts";
import { type RedisServer, skipWithoutRedis, startRedisServer } from "./redis-helpers.ts";

if (!skipWithoutRedis("spec/logcatcher-redis.spec.ts")) {
  const SECRET = "logcatcher redis spec";
  let server: RedisServer;
  let rc: TempRc;

  test.before(async () => {
    server = await startRedisServer();
    rc = tempRc();
    writeFileSync(rc.path, JSON.stringify({ version: 1, secret: SECRET, db: server.url }));
  });

  test.after(async () => {
    await stopAll();
    rc.cleanup();
    await server.stop();
  });

  test("aemp logs - with the Redis backend, the nodes found there answer with their records", async () => {
    const node = startAemp(rc, ["run", "nodeid", "redis-logs/%u", "binds", "127.0.0.1:*"], { env: { AEMP_VERBOSE: "info" } });
    const [, nodeId] = await node.line(/^(\S+) listening on /);
    try {
      const r = await aemp(rc, ["logs", "--level", "info"]);
      assert.is(r.code, 0, r.stderr);
      assert.not.match(r.stderr, /no answer from/);
      const lines = r.stdout.split("\n").filter((l) => l.startsWith(`${nodeId} `));
      assert.ok(lines.some((l) => / <7> node \S+ listening on 127\.0\.0\.1:\d+$/.test(l)), r.stdout);
    } finally {
      assert.is(await node.signal("SIGTERM"), 0);
    }
  });

  test.run();
}
