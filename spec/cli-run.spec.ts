/**
 * `aemp run`: a node configured from a private rc file (profile, parent chain,
 * arguments, `norc`), starting a service module from `module_roots`, and shutting
 * down cleanly on SIGTERM/SIGINT: exit 0, and this spec's node (a peer) sees the link
 * end and its monitors of the node's ports fire. Plus the ways `run` refuses to start.
 */
import { writeFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { configure, dbFamily, mon, monNodes, shutdown } from "../lib/index.ts";
import { type TempRc, aemp, startAemp, stopAll, tempRc } from "./cli-helpers.ts";
import { deferred, waitFor } from "./helpers.ts";

const SECRET = "cli run spec";
const services = new URL("./fixtures/services", import.meta.url).pathname;
let rc: TempRc;

test.before(() => {
  rc = tempRc();
  writeFileSync(
    rc.path,
    JSON.stringify({
      version: 1,
      secret: SECRET,
      profile: {
        base: { binds: ["127.0.0.1:*"], module_roots: [services] },
        worker: { parent: "base", services: ["worker::"], nodeid: "worker/%u" },
      },
    }),
  );
});
test.after(async () => {
  await shutdown();
  await stopAll();
  rc.cleanup();
});

async function fails(args: string[], pattern: RegExp, r: TempRc = rc): Promise<void> {
  const res = await aemp(r, args);
  assert.is(res.code, 1, `exit code: ${res.stderr}`);
  assert.match(res.stderr, pattern);
}

test("cli run - a profile's node with its service; SIGTERM shuts it down cleanly, peers' monitors fire", async () => {
  const node = startAemp(rc, ["run", "profile", "worker", "connect_interval", "1"]);
  const [, nodeId, address] = await node.line(/^(\S+) listening on (\S+) \(profile worker\)$/);
  assert.match(nodeId, /^worker\//);
  assert.match(address, /^127\.0\.0\.1:\d+$/);
  // This spec joins with the node as its seed and finds the service's port.
  await configure({ norc: true, nodeid: "spec/%u", binds: ["127.0.0.1:*"], seeds: [address], secret: SECRET });
  const echo = await waitFor(dbFamily("clitest::echo"), 5000, "the service's db entry");
  const port = Object.keys(echo)[0];
  assert.ok(port.startsWith(`${nodeId}#`), port);
  const died = deferred<unknown[]>();
  mon(port, (...reason: unknown[]) => died.resolve(reason));
  const down = deferred<string | undefined>();
  monNodes((id, up, text) => {
    if (id === nodeId && !up) down.resolve(text);
  });
  assert.is(await node.signal("SIGTERM"), 0);
  const reason = await waitFor(died.promise, 5000, "the monitor of the service port");
  assert.is(reason[0], "transport_error");
  assert.is(reason[1], nodeId);
  assert.ok(typeof (await waitFor(down.promise, 5000, "the node down event")) === "string");
  assert.is(node.stderr, "", "nothing on stderr");
});

test("cli run - norc ignores even a corrupt rc file; no secret is a warning; SIGINT ends it with 0", async () => {
  const broken = tempRc();
  try {
    writeFileSync(broken.path, "{ corrupt");
    await fails(["run", "binds", "127.0.0.1:*"], /^aemp run: the aemp rc file .* is not valid JSON/, broken);
    const node = startAemp(broken, ["run", "norc", "1", "nodeid", "plain/%u", "binds", "127.0.0.1:*"]);
    await node.line(/^plain\/\S+ listening on 127\.0\.0\.1:\d+ \(profile /);
    assert.is(await node.signal("SIGINT"), 0);
    assert.match(node.stderr, /<5> configure: no secret and no certificate are configured, so no other node can connect to this one/);
  } finally {
    broken.cleanup();
  }
});

test("cli run - refuses a missing profile, bad pairs and services it cannot start", async () => {
  await fails(["run", "profile", "nope"], /^aemp run: there is no profile 'nope' in .*\(profiles: base, worker\)\n$/);
  await fails(["run", "profile"], /^aemp run: expected KEY VALUE pairs, but 'profile' has no value\n$/);
  await fails(["run", "colour", "red"], /^aemp run: unknown configuration key 'colour'/);
  await fails(["run", "profile", "base", "services", "no::such::"], /^aemp run: service 'no::such::': no module no\/such\(\.ts\|\.js\|\.\.\.\) under the module_roots /);
  await fails(["run", "profile", "base", "services", "broken::", "force", "1"], /^aemp run: service 'broken::' \(.*broken\.ts\) failed to load: broken service module\n$/);
  await fails(["run", "norc", "1", "secret", "s", "binds", "127.0.0.1:*", "services", "plainName"], /^aemp run: service 'plainName' is not registered/);
});

test.run();
