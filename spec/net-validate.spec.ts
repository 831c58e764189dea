// Ports with a schema receiving from another process: this spec's node and a seed S
// (a child process) that sends to them. Messages that pass arrive in order; those that
// fail never reach the receiver (dropped with a warning, or the port is killed with
// ["invalid_message", text], which S's monitor sees); messages relayed through the node
// port (sndOn) are checked too.
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as v from "valibot";
import * as z from "zod";
import { type Message, NODE, kil, port, portAsync } from "../lib/index.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { captureLog, deferred, latch, waitFor } from "./helpers.ts";
import { type TestNode, joinNewSeed, stopAllNodes } from "./net-helpers.ts";

let S: TestNode;

test.before(async () => {
  try {
    S = await joinNewSeed();
  } catch (err) {
    console.error("net-validate setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  await stopAllNodes();
  await currentNetwork()?.stop();
});

const jobOnly = z.tuple([z.literal("job"), z.number().int(), z.string()]);
const job = z.union([jobOnly, z.tuple([z.literal("end")])]);

test("validate - zod: remote messages that pass arrive in order; one that fails is dropped with a warning naming the port and the issue", async () => {
  using log = captureLog();
  const got: Message[] = [];
  const end = deferred<void>();
  const p = port(jobOnly, (...msg) => {
    got.push(msg);
    if (msg[2] === "end") end.resolve();
  });
  await S.call("snd", { to: p, msg: ["job", 1, "a"] });
  await S.call("snd", { to: p, msg: ["job", 1.5, "b"] });
  await S.call("snd", { to: p, msg: ["job", 2, "c"] });
  await S.call("snd", { to: p, msg: ["job", 3, "end"] });
  await waitFor(end.promise, 5000, "the last message");
  assert.equal(got, [["job", 1, "a"], ["job", 2, "c"], ["job", 3, "end"]]);
  const warning = await log.until("dropped a message");
  assert.ok(warning.text.includes(`from ${S.nodeId} for port ${p}`), warning.text);
  assert.match(warning.text, /expected int.*\(at 1\)/i);
  kil(p);
});

test("validate - valibot with onInvalid kill: what came before is delivered, then the port dies with invalid_message, seen by the sender's monitor", async () => {
  const got: Message[] = [];
  const p = port({ schema: v.tuple([v.literal("add"), v.number()]), onInvalid: "kill" }, (...msg) => {
    got.push(msg);
  });
  const death = await S.mon(p);
  await S.call("snd", { to: p, msg: ["add", 1] });
  await S.call("snd", { to: p, msg: ["add", "2"] });
  await S.call("snd", { to: p, msg: ["add", 3] });
  const reason = await death();
  assert.equal(got, [["add", 1]]);
  assert.is(reason[0], "invalid_message");
  assert.match(String(reason[1]), /Expected number but received "2" \(at 1\)/);
});

test("validate - a message relayed through the node port (sndOn) is checked like any other remote message", async () => {
  using log = captureLog();
  const got: Message[] = [];
  const two = latch(2, 5000, "two relayed messages");
  const p = port(job, (...msg) => {
    got.push(msg);
    two.countDown();
  });
  await S.call("sndOn", { node: NODE(), msg: [p, "job", "x", "bad"] });
  await S.call("sndOn", { node: NODE(), msg: [p, "job", 7, "ok"] });
  await S.call("snd", { to: p, msg: ["end"] });
  await two.wait();
  assert.equal(got, [["job", 7, "ok"], ["end"]]);
  assert.ok((await log.until("dropped a message")).text.includes(p));
  kil(p);
});

test("validate - an async port with a schema takes only messages that passed", async () => {
  const taken = deferred<unknown[]>();
  const p = portAsync(job, async (_self, { get, getCond }) => {
    const [n, text] = await get("job");
    await getCond((m) => m[0] === "end");
    taken.resolve([n, text]);
  });
  await S.call("snd", { to: p, msg: ["job", "NaN", 1] });
  await S.call("snd", { to: p, msg: ["job", 5, "five"] });
  await S.call("snd", { to: p, msg: ["end"] });
  assert.equal(await waitFor(taken.promise, 5000, "the job"), [5, "five"]);
});

test.run();
