// The chat sample (samples/chat): seed, server and clients, each its own process, run
// as a reader runs them; clients are driven through their stdin.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type SampleProcess, runSample, stopSamples } from "./sample-helpers.ts";

const env = { AEMP_SECRET: "chat-sample-spec" };
let seedAddress = "";
let server: SampleProcess;
let alice: SampleProcess;

function client(nick: string): SampleProcess {
  return runSample("samples/chat/client.ts", [nick, seedAddress], { name: nick, env });
}

test.before(async () => {
  try {
    const seed = runSample("samples/chat/seed.ts", ["127.0.0.1:*"], { name: "seed", env });
    seedAddress = /listening on (\S+)/.exec(await seed.line(/listening on/, 15_000))![1];
    server = runSample("samples/chat/server.ts", [seedAddress], { name: "server", env });
    await server.line(/ready/, 15_000);
  } catch (err) {
    console.error("chat setup failed:", err);
    await stopSamples();
    process.exit(1);
  }
});

test.after(async () => {
  await stopSamples();
});

test("chat - two clients find the server, join and see each other's lines", async () => {
  alice = client("alice");
  await alice.line(/^connected to .*\(1 user\)$/, 15_000);
  const bob = client("bob");
  await bob.line(/^connected to /, 15_000);
  await alice.line(/^bob \(joins\)$/);
  alice.write("hello from alice");
  await bob.line(/^alice: hello from alice$/);
  await alice.line(/^alice: hello from alice$/);
  bob.write("hi alice");
  await alice.line(/^bob: hi alice$/);
  await server.line(/^relaying: bob: hi alice$/);
  // A client killed outright: the server's monitor notices and tells the others.
  await bob.kill();
  const quit = await alice.line(/^bob \(quits/);
  assert.match(quit, /transport_error/);
});

test("chat - end of input quits cleanly and the server announces it", async () => {
  const carol = client("carol");
  await carol.line(/^connected to /, 15_000);
  await alice.line(/^carol \(joins\)$/);
  carol.end();
  assert.is(await carol.exited, 0, carol.stderr);
  await alice.line(/^carol \(quits\)$/);
});

test("chat - the server dies and comes back: the client notices and reconnects by itself", async () => {
  const before = alice.lines.length;
  await server.kill();
  assert.match(await alice.line(/^disconnected /, 10_000, before), /server_gone/);
  server = runSample("samples/chat/server.ts", [seedAddress], { name: "server 2", env });
  await server.line(/ready/, 15_000);
  await alice.line(/^connected to /, 15_000, before);
  alice.write("still here");
  await alice.line(/^alice: still here$/, 5000, before);
  await server.line(/^relaying: alice: still here$/);
});

test.run();
