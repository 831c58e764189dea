// The "bridge head" chat sample (samples/chat-spawn): clients spawn their own port on
// the server's node; both sides monitor each other. Seed, server and clients each run
// as their own process.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type SampleProcess, runSample, stopSamples } from "./sample-helpers.ts";

const env = { AEMP_SECRET: "chat-spawn-sample-spec" };
let seedAddress = "";
let server: SampleProcess;
let alice: SampleProcess;

function client(nick: string): SampleProcess {
  return runSample("samples/chat-spawn/client.ts", [nick, seedAddress], { name: nick, env });
}

function startServer(name: string): SampleProcess {
  return runSample("samples/chat-spawn/server.ts", [seedAddress], { name, env });
}

test.before(async () => {
  try {
    const seed = runSample("samples/chat/seed.ts", ["127.0.0.1:*"], { name: "seed", env });
    seedAddress = /listening on (\S+)/.exec(await seed.line(/listening on/, 15_000))![1];
    server = startServer("server");
    await server.line(/ready/, 15_000);
  } catch (err) {
    console.error("chat-spawn setup failed:", err);
    await stopSamples();
    process.exit(1);
  }
});

test.after(async () => {
  await stopSamples();
});

test("chat-spawn - each client spawns its bridge head on the server node and they chat", async () => {
  alice = client("alice");
  const welcome = await alice.line(/^connected via /, 15_000);
  const serverNode = /on node (\S+) ready/.exec(server.lines[0])![1];
  assert.ok(welcome.includes(`${serverNode}#`), "the bridge head is a port on the server's node");
  const bob = client("bob");
  await bob.line(/^connected via .*\(2 users\)$/, 15_000);
  await alice.line(/^bob \(joins\)$/);
  alice.write("hello bob");
  await bob.line(/^alice: hello bob$/);
  bob.write("hello alice");
  await alice.line(/^bob: hello alice$/);
  // The bridge head monitors its client: killing bob's process ends bob's bridge head.
  await bob.kill();
  assert.match(await alice.line(/^bob \(quits/), /transport_error/);
  await server.line(/^relaying: bob \(quits/);
});

test("chat-spawn - a client that quits takes its bridge head with it", async () => {
  const carol = client("carol");
  await carol.line(/^connected via /, 15_000);
  await alice.line(/^carol \(joins\)$/);
  carol.end();
  assert.is(await carol.exited, 0, carol.stderr);
  await alice.line(/^carol \(quits\)$/);
  // Only alice is left: a newcomer is told there are two users (alice and itself).
  const dave = client("dave");
  await dave.line(/^connected via .*\(2 users\)$/, 15_000);
  dave.end();
  await alice.line(/^dave \(quits\)$/);
});

test("chat-spawn - the client monitors its bridge head: a dead server node makes it reconnect to a new one", async () => {
  const before = alice.lines.length;
  await server.kill();
  assert.match(await alice.line(/^disconnected /, 10_000, before), /server_gone/);
  server = startServer("server 2");
  await server.line(/ready/, 15_000);
  await alice.line(/^connected via .*\(1 user\)$/, 15_000, before);
  alice.write("back again");
  await alice.line(/^alice: back again$/, 5000, before);
  await server.line(/^relaying: alice: back again$/);
});

test.run();
