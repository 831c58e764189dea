// samples/sender-receiver: the seed, the receiver and the sender, run as child processes
// the way a reader runs them (on a free port instead of 4040), checking what they print
// and how the sender exits.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Program, freePort, stopAllNodes } from "./net-helpers.ts";

const dir = "samples/sender-receiver";
const env = { AEMP_SECRET: "sample spec secret", AEMP_RC: "/nonexistent/aemp-rc.json" };
let seed = "";
let receiverPort = "";
let receiver: Program;

test.before(async () => {
  try {
    seed = `127.0.0.1:${await freePort()}`;
    const s = new Program(`${dir}/seed.ts`, [seed], env);
    await s.line(new RegExp(`^seed eg_seed/\\S+ listening on ${seed}$`), 15_000);
    receiver = new Program(`${dir}/receiver.ts`, [seed], env);
    receiverPort = (await receiver.line(/^receiver port: (eg_receiver\/\S+#\S+)$/, 15_000))[1];
  } catch (err) {
    console.error("samples-sender-receiver setup failed:", err);
    process.exit(1);
  }
});

test.after(() => stopAllNodes());

test("sender - given the receiver's port ID: sends, prints the reply, exits 0", async () => {
  const sender = new Program(`${dir}/sender.ts`, [receiverPort, seed], env);
  assert.is(await sender.exit(15_000), 0, sender.stderr);
  const receiverNode = receiverPort.slice(0, receiverPort.indexOf("#"));
  assert.is(sender.lines.length, 1, sender.lines.join("\n"));
  const m = /^Reply: \["received","hello from (eg_sender\/[^"]+)","([^"]+)"\]$/.exec(sender.lines[0]);
  assert.ok(m, sender.lines[0]);
  assert.is(m![2], receiverNode);
  await receiver.line(new RegExp(`^Received data: "hello from ${m![1]}"$`));
});

test("sender - without a port ID: finds the receiver in the database", async () => {
  const sender = new Program(`${dir}/sender.ts`, [seed], env);
  assert.is(await sender.exit(15_000), 0, sender.stderr);
  assert.match(sender.lines.join("\n"), /^Reply: \["received","hello from eg_sender\//);
});

test("sender - a port on a node nobody knows: says why and exits 1 at once", async () => {
  const t0 = Date.now();
  const sender = new Program(`${dir}/sender.ts`, ["nobody/x#y", seed], env);
  assert.is(await sender.exit(15_000), 1);
  assert.match(sender.stderr, /the receiver is gone: transport_error nobody\/x no known address/);
  assert.ok(Date.now() - t0 < 5000, "it did not wait for the 5 s timeout");
});

test.run();
