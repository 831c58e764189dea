// The small samples (samples/first-message, samples/ping-pong), run as child
// processes the way a reader runs them, checking what they print and that they exit.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runToEnd as tsx } from "./sample-helpers.ts";

test("first-message - prints 'Ending with: 123' and exits 0", async () => {
  const run = await tsx(["samples/first-message/first-message.ts"]);
  assert.equal(run, { code: 0, stdout: "Ending with: 123\n", stderr: "" });
});

test("ping-pong - delivers N messages, prints the rate and exits 0", async () => {
  const run = await tsx(["samples/ping-pong/ping-pong.ts", "2000"]);
  assert.is(run.stderr, "");
  assert.is(run.code, 0);
  assert.match(run.stdout, /^ping-pong: 2,000 messages in [\d.]+ ms \([\d,]+ messages\/s\)\n$/);
});

test("ping-pong - a bad N is a usage error (exit 2)", async () => {
  const run = await tsx(["samples/ping-pong/ping-pong.ts", "lots"]);
  assert.is(run.code, 2);
  assert.is(run.stdout, "");
  assert.match(run.stderr, /^usage: ping-pong\.ts \[N\]/);
});

test.run();
