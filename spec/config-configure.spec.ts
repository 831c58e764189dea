/**
 * `configure()` with an rc file (AEMP_RC in a temp directory), in process: a broken
 * file, a broken profile chain or a bad value rejects with an error naming the file
 * (and the node stays unconfigured, so it can be called again); then a real
 * configuration from a profile chain, whose values win over the arguments, and whose
 * services start in order: a registered service, a registered init function (spawned)
 * and a module from `module_roots`. Last, `shutdown()`.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, NODE, SELF, configure, dbFamily, registerInit, registerService, shutdown, upNodes } from "../lib/index.ts";
import { resolveConfig } from "../lib/config/configure.ts";
import { writeRc } from "../lib/config/rc.ts";
import { findModule, moduleName } from "../lib/config/services.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { deferred, rejects, waitFor } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "aemp-config-configure-"));
const rc = join(dir, "aemp.json");
process.env.AEMP_RC = rc;
const services = new URL("./fixtures/services", import.meta.url).pathname;

test.after(async () => {
  await shutdown();
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

test("configure - a corrupt rc file rejects, naming the file", async () => {
  writeFileSync(rc, "{ not json");
  const err = (await rejects(configure({ profile: "p", norc: false }), { instanceOf: ConfigError, code: "ERR_CONFIG" })) as ConfigError;
  assert.ok(err.message.includes(rc), err.message);
  assert.is(err.file, rc);
});

test("configure - a missing parent or a bad value rejects, naming file and profile", async () => {
  writeRc({ version: 1, profile: { p: { parent: "gone" } } }, rc);
  await rejects(configure({ profile: "p" }), { instanceOf: ConfigError, message: `profile 'p' in ${rc} has parent 'gone'` });
  writeRc({ version: 1, profile: { p: { binds: "nowhere" } } }, rc);
  await rejects(configure({ profile: "p" }), { instanceOf: ConfigError, message: `profile 'p' in ${rc}: 'binds' must be` });
});

test("configure - norc ignores even a broken file", () => {
  writeFileSync(rc, "{ not json");
  // Checked without starting the node: resolveConfig is what configure uses.
  assert.equal(resolveConfig({ norc: true, secret: "s" }).values, { secret: "s" });
});

test("services - module names map into the allowed roots only", () => {
  assert.is(moduleName("worker::"), "worker");
  assert.is(moduleName("my::svc::"), "my/svc");
  assert.is(moduleName("svc/main.ts"), "svc/main.ts");
  assert.is(moduleName("plainName"), undefined);
  assert.is(moduleName("..::x::"), undefined);
  assert.is(findModule("worker::", [services]), join(services, "worker.ts"));
  assert.is(findModule("worker.ts", [services]), join(services, "worker.ts"));
  assert.is(findModule("worker::", [dir]), undefined);
  assert.is(findModule("../services/worker.ts", [join(services, "..", "..")]), undefined, "outside via ..");
  // A symlink inside a root that points outside it does not count.
  const root = join(dir, "root");
  mkdirSync(root);
  symlinkSync(join(services, "worker.ts"), join(root, "escape.ts"));
  assert.is(findModule("escape::", [root]), undefined);
});

test("configure - the profile chain wins over the arguments, services start in order", async () => {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  writeRc(
    {
      version: 1,
      secret: "configure spec",
      profile: {
        base: { binds: [address], seeds: [address], services: ["nothing::"] },
        child: { parent: "base", nodeid: "child/%u", module_roots: [services], services: [["spec::first", 1, "two"], ["spec::init", { three: 3 }], "worker::"] },
      },
    },
    rc,
  );
  const order: string[] = [];
  // [name, ...args] entries (Perl's form) pass their arguments.
  registerService("spec::first", async (...args: unknown[]) => {
    await new Promise((r) => setImmediate(r));
    order.push(`service ${JSON.stringify(args)}`);
  });
  const spawned = deferred<string>();
  registerInit("spec::init", (...args: unknown[]) => {
    order.push(`init ${JSON.stringify(args)}`);
    spawned.resolve(SELF());
  });
  const result = await configure({ profile: "child", nodeid: "argument/%u", binds: ["127.0.0.1:*"] });
  assert.is(result.profile, "child");
  assert.ok(result.nodeId.startsWith("child/"), result.nodeId);
  assert.is(NODE(), result.nodeId);
  assert.equal(result.addresses, [address]);
  assert.equal(order[0], 'service [1,"two"]');
  // The init function runs on the run queue, in its own port.
  const spawnedAs = await waitFor(spawned.promise, 2000, "the spawned service");
  assert.ok(spawnedAs.startsWith(`${NODE()}#`), spawnedAs);
  assert.equal(order, ['service [1,"two"]', 'init [{"three":3}]']);
  // The module service registered its echo port; this node is its own seed, so global.
  const echo = await waitFor(dbFamily("clitest::echo"), 2000, "dbFamily");
  assert.equal(Object.values(echo), ["echo"]);
  assert.ok(Object.keys(echo)[0].startsWith(`${NODE()}#`));
  await rejects(configure({}), /already called/);
});

test("shutdown - closes the listeners; calling it again is harmless", async () => {
  const net = currentNetwork()!;
  await shutdown();
  assert.ok(net.isStopped);
  assert.ok(net.listeners.every((l) => !l.server.listening));
  assert.equal(upNodes(), []);
  await shutdown();
});

test.run();
