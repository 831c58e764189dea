// Time-based helpers: lib/kernel/timers.ts (after, cal).
//
// Timer specs use small delays and assert order and outcome only. "Did not happen"
// is checked against a sentinel timer with a longer delay: Node fires timers in order
// of their due time, so once the sentinel fired, the earlier timer had its chance.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, SELF, after, cal, kil, mon, peval, port, rcv, snd } from "../lib/index.ts";
import { isLivePort, portCount } from "../lib/kernel/ports.ts";
import { captureLog, deferred, flushRunQueue, latch, throwsSync, waitFor } from "./helpers.ts";

/** Resolves when a timer of `seconds` set now has fired (a sentinel, see above). */
function sentinel(seconds: number): Promise<void> {
  const d = deferred<void>();
  setTimeout(() => d.resolve(), seconds * 1000);
  return waitFor(d.promise, seconds * 1000 + 2000, `sentinel timer of ${seconds} s`);
}

/** Resolves with the kill reason of `p` (empty for a normal kill). */
function death(p: string, ms = 2000): Promise<unknown[]> {
  const d = deferred<unknown[]>();
  mon(p, (...reason: unknown[]) => d.resolve(reason));
  return waitFor(d.promise, ms, `death of ${p}`);
}

// ---- after ---------------------------------------------------------------------------------

test("after - calls the callback later, never inside after", async () => {
  const fired = deferred<number>();
  let calls = 0;
  after(0.01, (...args: unknown[]) => {
    calls++;
    fired.resolve(args.length);
  });
  assert.is(calls, 0);
  assert.is(await waitFor(fired.promise), 0, "the callback gets no arguments");
  assert.is(calls, 1);
});

test("after - 0 seconds still runs asynchronously", async () => {
  const fired = deferred<void>();
  let ran = false;
  after(0, () => {
    ran = true;
    fired.resolve();
  });
  assert.not.ok(ran);
  await waitFor(fired.promise);
});

test("after - shorter delays fire first", async () => {
  const order: string[] = [];
  const done = latch(3, 2000, "three timers");
  after(0.05, () => { order.push("0.05"); done.countDown(); });
  after(0.005, () => { order.push("0.005"); done.countDown(); });
  after(0.02, () => { order.push("0.02"); done.countDown(); });
  await done.wait();
  assert.equal(order, ["0.005", "0.02", "0.05"]);
});

test("after - with a port, sends the message to it", async () => {
  const got = deferred<unknown[]>();
  const p = port((...m: unknown[]) => got.resolve(m));
  after(0.01, p, "tick", 1, { n: 2 });
  assert.equal(await waitFor(got.promise), ["tick", 1, { n: 2 }]);
  kil(p);
});

test("after - with a port, sends the message even when called outside port context", async () => {
  const got = deferred<string>();
  const p = rcv(port(), "timeout", () => got.resolve(SELF()));
  after(0, p, "timeout");
  assert.is(await waitFor(got.promise), p);
  kil(p);
});

test("after - a message for a port that died meanwhile is dropped silently", async () => {
  const p = port(() => assert.unreachable("a dead port received a timer message"));
  after(0.01, p, "late");
  kil(p);
  await sentinel(0.04);
  await flushRunQueue();
});

test("after - the guard cancels the callback", async () => {
  let fired = 0;
  const g = after(0.01, () => fired++);
  g.cancel();
  await sentinel(0.04);
  assert.is(fired, 0);
});

test("after - the guard cancels the message", async () => {
  const p = port(() => assert.unreachable("a cancelled timer message arrived"));
  after(0.01, p, "cancelled").cancel();
  await sentinel(0.04);
  await flushRunQueue();
  kil(p);
});

test("after - cancelling twice, or after it fired, is harmless", async () => {
  const fired = deferred<void>();
  let calls = 0;
  const g = after(0, () => {
    calls++;
    fired.resolve();
  });
  await waitFor(fired.promise);
  g.cancel();
  g.cancel();
  const g2 = after(0.01, () => calls++);
  g2.cancel();
  g2.cancel();
  await sentinel(0.03);
  assert.is(calls, 1);
});

test("after - `using` cancels at the end of the block", async () => {
  let fired = 0;
  {
    using _g = after(0.01, () => fired++);
  }
  await sentinel(0.04);
  assert.is(fired, 0);
});

test("after - a negative, NaN, infinite or non-number time throws a TypeError naming 'seconds'", () => {
  for (const bad of [-1, -0.001, NaN, Infinity, "1", undefined, null]) {
    throwsSync(() => after(bad as number, () => {}), { instanceOf: TypeError, message: "'seconds'" });
  }
});

test("after - a second argument that is neither a callback nor a port ID throws a TypeError", () => {
  for (const bad of [42, undefined, null, {}, "nohash"]) {
    throwsSync(() => (after as (...a: unknown[]) => unknown)(0.01, bad), { instanceOf: TypeError, message: "second argument" });
  }
});

test("after - the callback runs in the port context after was called in", async () => {
  const p = port();
  const seen = deferred<string>();
  peval(p, () => after(0, () => seen.resolve(SELF())));
  assert.is(await waitFor(seen.promise), p);
  kil(p);
});

test("after - an exception in the callback kills the caller's port with die", async () => {
  const p = port();
  const reason = death(p);
  peval(p, () =>
    after(0, () => {
      throw new Error("timer failure");
    }),
  );
  assert.equal(await reason, ["die", "timer failure"]);
});

test("after - an exception outside port context is logged, not thrown to the event loop", async () => {
  using log = captureLog();
  const ran = deferred<void>();
  after(0, () => {
    ran.resolve();
    throw new Error("nobody catches me");
  });
  await waitFor(ran.promise);
  assert.ok(log.texts(4).some((t) => t.includes("nobody catches me")));
});

test("after - a rejected promise outside port context is logged", async () => {
  using log = captureLog();
  after(0, async () => {
    throw new Error("async nobody");
  });
  const record = await log.until("async nobody");
  assert.is(record.level, 4);
});

// ---- cal -------------------------------------------------------------------------------------

/** A server port: "add" replies ["sum", a + b] to the reply port at the end of the message. */
function adder(): string {
  return rcv(port(), "add", (a: number, b: number, reply: string) => snd(reply, "sum", a + b));
}

test("cal - appends a reply port and calls the callback with the reply", async () => {
  const seenReplyPort = deferred<string>();
  const server = rcv(port(), "add", (a: number, b: number, reply: string) => {
    seenReplyPort.resolve(reply);
    snd(reply, "sum", a + b);
  });
  const got = deferred<unknown[]>();
  const replyPort = cal(server, "add", 2, 3, (...reply: unknown[]) => got.resolve(reply));
  assert.equal(await waitFor(got.promise), ["sum", 5]);
  assert.is(await seenReplyPort.promise, replyPort, "cal returns the reply port it appended");
  kil(server);
});

test("cal - the reply port is local and killed once the reply arrived", async () => {
  const server = adder();
  const got = deferred<void>();
  const replyPort = cal(server, "add", 1, 1, () => got.resolve());
  assert.is(replyPort.slice(0, replyPort.indexOf("#")), NODE());
  assert.ok(isLivePort(replyPort));
  await waitFor(got.promise);
  assert.not.ok(isLivePort(replyPort));
  kil(server);
});

test("cal - only the first reply counts", async () => {
  const server = rcv(port(), "req", (reply: string) => {
    snd(reply, "one");
    snd(reply, "two");
  });
  const replies: unknown[][] = [];
  const first = deferred<void>();
  cal(server, "req", (...r: unknown[]) => {
    replies.push(r);
    first.resolve();
  });
  await waitFor(first.promise);
  await flushRunQueue();
  assert.equal(replies, [["one"]]);
  kil(server);
});

test("cal - without a message sends just the reply port", async () => {
  const got = deferred<unknown[]>();
  const server = port((...m: unknown[]) => {
    got.resolve(m);
    snd(m[0] as string, "ok");
  });
  const replyPort = cal(server, () => {});
  assert.equal(await waitFor(got.promise), [replyPort]);
  kil(server);
});

test("cal - the callback runs in the caller's port context; its exception kills that port", async () => {
  const server = adder();
  const caller = port();
  const seen = deferred<string>();
  const reason = death(caller);
  peval(caller, () =>
    cal(server, "add", 1, 2, () => {
      seen.resolve(SELF());
      throw new Error("bad reply");
    }),
  );
  assert.is(await waitFor(seen.promise), caller);
  assert.equal(await reason, ["die", "bad reply"]);
  kil(server);
});

test("cal - a reply in time beats the timeout; the timeout does not fire afterwards", async () => {
  const server = adder();
  const calls: unknown[][] = [];
  const got = deferred<void>();
  cal(server, "add", 4, 5, (...r: unknown[]) => {
    calls.push(r);
    got.resolve();
  }, 0.02);
  await waitFor(got.promise);
  await sentinel(0.05);
  assert.equal(calls, [["sum", 9]]);
  kil(server);
});

test("cal - timeout: the callback is called once with no arguments and later replies are ignored", async () => {
  let heldReply: string | undefined;
  const server = rcv(port(), "slow", (reply: string) => {
    heldReply = reply;
  }, "now", () => snd(heldReply!, "too", "late"));
  const calls: unknown[][] = [];
  const timedOut = deferred<void>();
  const replyPort = cal(server, "slow", (...r: unknown[]) => {
    calls.push(r);
    timedOut.resolve();
  }, 0.02);
  await waitFor(timedOut.promise);
  assert.equal(calls, [[]]);
  assert.not.ok(isLivePort(replyPort), "the reply port is killed at the timeout");
  assert.is(heldReply, replyPort);
  snd(server, "now");
  await flushRunQueue();
  await flushRunQueue();
  assert.equal(calls, [[]], "a reply after the timeout must be ignored");
  kil(server);
});

test("cal - timeout: a target that dies does not call back before the timeout", async () => {
  const server = port(() => kil(SELF()));
  const order: string[] = [];
  const done = deferred<void>();
  cal(server, "x", (...r: unknown[]) => {
    order.push(`cb:${r.length}`);
    done.resolve();
  }, 0.03);
  await death(server);
  order.push("server died");
  await waitFor(done.promise);
  assert.equal(order, ["server died", "cb:0"]);
});

test("cal - without timeout: a target that dies without replying calls back with no arguments", async () => {
  const normal = port(() => kil(SELF()));
  const abnormal = port(() => {
    throw new Error("server crashed");
  });
  const got = latch(2, 2000, "two callbacks");
  const calls: unknown[][] = [];
  const replyPorts = [normal, abnormal].map((server) =>
    cal(server, "req", (...r: unknown[]) => {
      calls.push(r);
      got.countDown();
    }),
  );
  await got.wait();
  assert.equal(calls, [[], []]);
  for (const rp of replyPorts) assert.not.ok(isLivePort(rp), "the reply port is killed");
});

test("cal - without timeout: a reply sent just before the target dies still arrives", async () => {
  const server = rcv(port(), "req", (x: number, reply: string) => {
    snd(reply, "ok", x);
    kil(SELF(), "done", "abnormally");
  });
  const got = deferred<unknown[]>();
  cal(server, "req", 7, (...r: unknown[]) => got.resolve(r));
  assert.equal(await waitFor(got.promise), ["ok", 7]);
});

test("cal - without timeout: a dead or unknown target calls back with no arguments", async () => {
  const dead = port();
  kil(dead);
  const got = latch(2, 2000, "two callbacks");
  const calls: unknown[][] = [];
  const cb = (...r: unknown[]) => {
    calls.push(r);
    got.countDown();
  };
  cal(dead, "req", cb);
  cal(`${NODE()}#never-existed`, "req", cb);
  await got.wait();
  assert.equal(calls, [[], []]);
});

test("cal - an undefined or null timeout means no timeout", async () => {
  const got = latch(2, 2000, "two callbacks");
  const calls: unknown[][] = [];
  const cb = (...r: unknown[]) => {
    calls.push(r);
    got.countDown();
  };
  const a = port(() => kil(SELF()));
  const b = port(() => kil(SELF()));
  cal(a, "req", cb, undefined);
  cal(b, "req", cb, null);
  await got.wait();
  assert.equal(calls, [[], []]);
});

test("cal - without timeout: a remote target before networking is configured calls back with no arguments", async () => {
  const got = deferred<unknown[]>();
  cal("othernode#svc", "req", (...r: unknown[]) => got.resolve(r));
  assert.equal(await waitFor(got.promise), []);
});

test("cal - bad arguments throw TypeErrors naming them and create no port", () => {
  const server = port();
  const before = portCount();
  const calAny = cal as (...a: unknown[]) => unknown;
  throwsSync(() => calAny(server, "req"), { instanceOf: TypeError, message: "'callback'" });
  throwsSync(() => calAny(server), { instanceOf: TypeError, message: "'callback'" });
  throwsSync(() => calAny(server, "req", 5), { instanceOf: TypeError, message: "'callback'" });
  throwsSync(() => calAny("", () => {}), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => calAny("#name", () => {}), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => calAny(42, () => {}), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => calAny(server, "req", () => {}, -1), { instanceOf: TypeError, message: "'timeout'" });
  throwsSync(() => calAny(server, "req", () => {}, NaN), { instanceOf: TypeError, message: "'timeout'" });
  throwsSync(() => calAny(server, "req", () => {}, "5"), { instanceOf: TypeError, message: "'timeout'" });
  assert.is(portCount(), before);
  kil(server);
});

test.run();
