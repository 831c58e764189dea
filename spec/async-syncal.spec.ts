// syncal, the awaitable cal: lib/async/syncal.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, SELF, get, kil, portAsync, port, rcv, snd, syncal } from "../lib/index.ts";
import { isLivePort, portCount } from "../lib/kernel/ports.ts";
import { activeTimers, deferred, flushRunQueue, portDeath, rejects, waitFor } from "./helpers.ts";

/** A callback server: "add" replies with the sum, "mute" never replies, "die" kills it. */
function server(): string {
  return rcv(
    port(),
    "add",
    (a: number, b: number, reply: string) => snd(reply, "sum", a + b),
    "mute",
    () => {},
    "die",
    () => kil(SELF(), "asked to die"),
  );
}

test("syncal - resolves to the reply message as an array", async () => {
  const s = server();
  assert.equal(await waitFor(syncal(1, s, "add", 2, 3)), ["sum", 5]);
  assert.equal(await waitFor(syncal(undefined, s, "add", 4, 5)), ["sum", 9]);
  kil(s);
});

test("syncal - sends [...msg, replyPort] and kills the reply port after the reply", async () => {
  const seen = deferred<unknown[]>();
  const s = port((...msg: unknown[]) => {
    seen.resolve(msg);
    snd(msg[msg.length - 1] as string, "ok");
  });
  const ports = portCount();
  const reply = syncal(1, s, "hello", 1);
  assert.is(portCount(), ports + 1, "a reply port exists while waiting");
  assert.equal(await waitFor(reply), ["ok"]);
  const msg = await seen.promise;
  assert.equal(msg.slice(0, 2), ["hello", 1]);
  assert.ok(String(msg[2]).startsWith(`${NODE()}#`));
  assert.not.ok(isLivePort(msg[2] as string), "the reply port is gone");
  kil(s);
});

test("syncal - resolves undefined on timeout, leaving no timer and no reply port", async () => {
  const s = server();
  const before = { timers: activeTimers(), ports: portCount() };
  const r = await waitFor(syncal(0.001, s, "mute"));
  assert.is(r, undefined);
  assert.equal({ timers: activeTimers(), ports: portCount() }, before);
  kil(s);
});

test("syncal - a reply that comes in time clears the timeout timer", async () => {
  const s = server();
  const before = activeTimers();
  const r = await waitFor(syncal(30, s, "add", 1, 1));
  assert.equal(r, ["sum", 2]);
  assert.is(activeTimers(), before);
  kil(s);
});

test("syncal - without a timeout, resolves undefined when the target dies first", async () => {
  const s = server();
  const died = portDeath(s);
  const r = await waitFor(syncal(undefined, s, "die"));
  assert.is(r, undefined);
  assert.equal(await died, ["asked to die"]);
});

test("syncal - without a timeout, resolves undefined for a target that is already gone", async () => {
  const s = port();
  kil(s);
  assert.is(await waitFor(syncal(undefined, s, "anything")), undefined);
});

test("syncal - a reply sent just before the target dies still wins", async () => {
  const s = port((...msg: unknown[]) => {
    snd(msg[msg.length - 1] as string, "last words");
    kil(SELF());
  });
  assert.equal(await waitFor(syncal(undefined, s, "hi")), ["last words"]);
});

test("syncal - works outside any port context", async () => {
  const s = server();
  assert.throws(() => SELF(), /outside port context/);
  assert.equal(await waitFor(syncal(1, s, "add", 20, 22)), ["sum", 42]);
  kil(s);
});

test("syncal - works inside an async port, which keeps SELF() across it", async () => {
  const s = server();
  const out = deferred<unknown>();
  const p = portAsync(async (self) => {
    const reply = await syncal(1, s, "add", 1, 2);
    const timedOut = await syncal(0.001, s, "mute");
    const dead = await syncal(undefined, s, "die");
    out.resolve({ reply, timedOut, dead, self: SELF() === self });
  });
  assert.equal(await waitFor(out.promise), { reply: ["sum", 3], timedOut: undefined, dead: undefined, self: true });
  assert.not.ok(isLivePort(p), "the async port returned and died");
});

test("syncal - an async port can be the server", async () => {
  const s = portAsync(async () => {
    for (;;) {
      const [a, b, reply] = (await get("add"))! as [number, number, string];
      snd(reply, "sum", a + b);
    }
  });
  const replies = await waitFor(Promise.all([syncal(1, s, "add", 1, 2), syncal(1, s, "add", 3, 4), syncal(1, s, "add", 5, 6)]));
  assert.equal(replies, [["sum", 3], ["sum", 7], ["sum", 11]]);
  kil(s);
  await flushRunQueue();
});

test("syncal - a bad timeout or port rejects with a TypeError", async () => {
  const s = server();
  await rejects(() => syncal(-1, s, "add", 1, 2), { instanceOf: TypeError, message: "'timeout'" });
  await rejects(() => syncal(1, "", "add"), { instanceOf: TypeError, message: "'port'" });
  kil(s);
});

test.run();
