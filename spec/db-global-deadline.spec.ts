// Database queries on the global-node backend have a deadline: without a master (its
// seed is down) dbFamily, dbKeys and dbValues reject with a DbUnavailableError after
// monitor_timeout (1 s here), as the Redis backend does, instead of staying pending.
// In process: a node whose only seed is a port we hold and that hangs up on every
// connection. (A port merely found free could be handed to the node's own listener,
// making it its own seed and so its own master.)
import { type Server, createServer } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DbUnavailableError, configure, dbFamily, dbKeys, dbValues, shutdown } from "../lib/index.ts";
import { rejects } from "./helpers.ts";
import { SECRET } from "./net-helpers.ts";

let deadSeed: Server;

test.before(async () => {
  deadSeed = createServer((socket) => socket.destroy());
  await new Promise<void>((r) => deadSeed.listen(0, "127.0.0.1", r));
  const { port } = deadSeed.address() as { port: number };
  await configure({ nodeid: "deadline/%u", binds: ["127.0.0.1:*"], seeds: [`127.0.0.1:${port}`], secret: SECRET, norc: true, monitor_timeout: 1 });
});

test.after(async () => {
  await shutdown({ timeout: 0 });
  await new Promise<void>((r) => deadSeed.close(() => r()));
});

test("no master - every query rejects with DbUnavailableError after monitor_timeout", async () => {
  const t0 = Date.now();
  const errors = await Promise.all([
    rejects(dbFamily("spec::family"), { instanceOf: DbUnavailableError, code: "ERR_DB_UNAVAILABLE" }, 3000),
    rejects(dbKeys("spec::family"), { instanceOf: DbUnavailableError }, 3000),
    rejects(dbValues("spec::family"), { instanceOf: DbUnavailableError }, 3000),
  ]);
  const waited = Date.now() - t0;
  assert.ok(waited >= 900, `rejected after ${waited} ms, before monitor_timeout`);
  assert.match((errors[0] as Error).message, /^dbFamily\('spec::family'\): no global node answered within 1 s \(monitor_timeout\): no master is reachable$/);
  assert.is((errors[0] as DbUnavailableError).backend, "global");
  // The callback form has no error channel: it is simply not called, and nothing is left unhandled.
  let called = false;
  await rejects(dbFamily("spec::family", () => (called = true)), DbUnavailableError, 3000);
  assert.not.ok(called);
});

test.run();
