// Ports, receivers, sending, killing and port context: lib/kernel/ports.ts
// (port, rcv, snd, kil, peval, psub, SELF, the run queue).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, PortContextError, SELF, getCond, kil, mon, peval, port, portAsync, psub, rcv, rcvAsync, snd } from "../lib/index.ts";
import { isLivePort, portCount } from "../lib/kernel/ports.ts";
import { captureLog, deferred, flushRunQueue, latch, throwsSync, waitFor } from "./helpers.ts";

/** Resolves with the kill reason of `p` (empty for a normal kill). */
function death(p: string, ms = 2000): Promise<unknown[]> {
  const d = deferred<unknown[]>();
  mon(p, (...reason: unknown[]) => d.resolve(reason));
  return waitFor(d.promise, ms, `death of ${p}`);
}

// ---- port and the default receiver ---------------------------------------------------

test("port - default receiver gets the whole message, with SELF() set to the port", async () => {
  const got = deferred<{ args: unknown[]; self: string }>();
  const p = port((...args: unknown[]) => got.resolve({ args, self: SELF() }));
  snd(p, "hello", 1, { two: 2 }, [3]);
  const { args, self } = await waitFor(got.promise, 2000, "default receiver");
  assert.equal(args, ["hello", 1, { two: 2 }, [3]]);
  assert.is(self, p);
  kil(p);
});

test("port - default receiver gets long messages whole", async () => {
  const got = deferred<unknown[]>();
  const p = port((...args: unknown[]) => got.resolve(args));
  const msg = ["t", 1, 2, 3, 4, 5, 6, 7, 8, 9];
  snd(p, ...msg);
  assert.equal(await waitFor(got.promise), msg);
  kil(p);
});

test("port - passes objects by reference within the node", async () => {
  const got = deferred<unknown>();
  const p = port((_tag: string, obj: unknown) => got.resolve(obj));
  const payload = { big: new Array(10).fill(0) };
  snd(p, "obj", payload);
  assert.ok((await waitFor(got.promise)) === payload);
  kil(p);
});

test("port - a non-function callback throws a TypeError naming 'cb'", () => {
  throwsSync(() => port("nope" as unknown as () => void), { instanceOf: TypeError, message: "'cb'" });
});

test("port - creates a live local port", () => {
  const before = portCount();
  const p = port();
  assert.ok(isLivePort(p));
  assert.is(portCount(), before + 1);
  kil(p);
  assert.not.ok(isLivePort(p));
  assert.is(portCount(), before);
});

// ---- rcv -------------------------------------------------------------------------------

test("rcv - tag callback gets the message without its tag, with SELF() set", async () => {
  const got = deferred<{ args: unknown[]; self: string }>();
  const p = port();
  rcv(p, "ping", (...args: unknown[]) => got.resolve({ args, self: SELF() }));
  snd(p, "ping", "a", 2);
  const { args, self } = await waitFor(got.promise);
  assert.equal(args, ["a", 2]);
  assert.is(self, p);
  kil(p);
});

test("rcv - tag callback with a tag-only message is called with no arguments", async () => {
  const got = deferred<number>();
  const p = rcv(port(), "bare", (...args: unknown[]) => got.resolve(args.length));
  snd(p, "bare");
  assert.is(await waitFor(got.promise), 0);
  kil(p);
});

test("rcv - several tag pairs in one call; rcv returns the port", async () => {
  const seen: string[] = [];
  const done = latch(3, 2000, "three tagged messages");
  const p = port();
  const returned = rcv(
    p,
    "a", (x: number) => { seen.push(`a${x}`); done.countDown(); },
    "b", (x: number) => { seen.push(`b${x}`); done.countDown(); },
    "c", (x: number) => { seen.push(`c${x}`); done.countDown(); },
  );
  assert.is(returned, p);
  snd(p, "c", 3);
  snd(p, "a", 1);
  snd(p, "b", 2);
  await done.wait();
  assert.equal(seen, ["c3", "a1", "b2"]);
  kil(p);
});

test("rcv - rcv(port(), ...) creates and configures in one expression", async () => {
  const got = deferred<string>();
  const p = rcv(port(), "hi", (who: string) => got.resolve(who));
  snd(p, "hi", "there");
  assert.is(await waitFor(got.promise), "there");
  kil(p);
});

test("rcv - registering a tag again replaces its callback", async () => {
  const seen: string[] = [];
  const done = deferred<void>();
  const p = port();
  rcv(p, "t", () => seen.push("old"));
  rcv(p, "t", () => {
    seen.push("new");
    done.resolve();
  });
  snd(p, "t");
  await waitFor(done.promise);
  assert.equal(seen, ["new"]);
  kil(p);
});

test("rcv - a tag with a missing callback is unregistered; its messages go to the default receiver", async () => {
  const tagged: unknown[] = [];
  const fallback = deferred<unknown[]>();
  const p = port((...m: unknown[]) => fallback.resolve(m));
  rcv(p, "t", (...m: unknown[]) => tagged.push(m));
  rcv(p, "t");
  snd(p, "t", 1);
  assert.equal(await waitFor(fallback.promise), ["t", 1]);
  assert.equal(tagged, []);
  kil(p);
});

test("rcv - an undefined callback in a list of pairs unregisters that tag only", async () => {
  const seen: unknown[][] = [];
  const done = latch(2, 2000, "two messages");
  const p = port((...m: unknown[]) => {
    seen.push(["default", ...m]);
    done.countDown();
  });
  rcv(p, "x", () => seen.push(["x-old"]), "y", () => seen.push(["y-old"]));
  rcv(p, "x", undefined, "y", (...m: unknown[]) => {
    seen.push(["y", ...m]);
    done.countDown();
  });
  snd(p, "x", 1);
  snd(p, "y", 2);
  await done.wait();
  assert.equal(seen, [["default", "x", 1], ["y", 2]]);
  kil(p);
});

test("rcv - unregistering the last tag of a port without default receiver makes it die on that tag", async () => {
  const p = port();
  rcv(p, "t", () => {});
  rcv(p, "t");
  const reason = death(p);
  snd(p, "t");
  assert.equal(await reason, ["unhandled_message", "no callback found for message 't'"]);
});

test("rcv - tagged callbacks win over the default receiver", async () => {
  const seen: string[] = [];
  const done = latch(3, 2000, "three messages");
  const p = port((tag: string) => {
    seen.push(`default:${tag}`);
    done.countDown();
  });
  rcv(p, "special", () => {
    seen.push("special");
    done.countDown();
  });
  snd(p, "special");
  snd(p, "other");
  snd(p, "special");
  await done.wait();
  assert.equal(seen, ["special", "default:other", "special"]);
  kil(p);
});

test("rcv - rcv(port, cb) sets and replaces the default receiver", async () => {
  const seen: string[] = [];
  const done = deferred<void>();
  const p = port(() => seen.push("first"));
  rcv(p, () => seen.push("second"));
  rcv(p, (tag: string) => {
    seen.push(`third:${tag}`);
    done.resolve();
  });
  snd(p, "m");
  await waitFor(done.promise);
  assert.equal(seen, ["third:m"]);
  kil(p);
});

test("rcv - a port without callbacks dies with unhandled_message on its first message", async () => {
  const p = port();
  const reason = death(p);
  snd(p, "TAG", 1, 2);
  assert.equal(await reason, ["unhandled_message", "no callback found for message 'TAG'"]);
  assert.not.ok(isLivePort(p));
});

test("rcv - a port with tag callbacks only dies on an unmatched tag", async () => {
  const seen: string[] = [];
  const p = rcv(port(), "known", () => seen.push("known"));
  const reason = death(p);
  snd(p, "known");
  snd(p, "unknown");
  snd(p, "known"); // after the death: dropped
  assert.equal(await reason, ["unhandled_message", "no callback found for message 'unknown'"]);
  await flushRunQueue();
  assert.equal(seen, ["known"]);
});

test("rcv - a non-string tag throws a TypeError naming 'tag'", () => {
  const p = port();
  throwsSync(() => rcv(p, 5 as unknown as string, () => {}), { instanceOf: TypeError, message: "'tag'" });
  throwsSync(() => rcv(p, "ok", () => {}, null as unknown as string, () => {}), { instanceOf: TypeError, message: "'tag'" });
  kil(p);
});

test("rcv - a callback that is not a function throws a TypeError naming the tag", () => {
  const p = port();
  throwsSync(() => rcv(p, "t", 42), { instanceOf: TypeError, message: "'t'" });
  kil(p);
});

test("rcv - without callback or tags throws a TypeError", () => {
  const p = port();
  throwsSync(() => rcv(p), TypeError);
  kil(p);
});

test("rcv - on a remote port throws a TypeError", () => {
  throwsSync(() => rcv("othernode#abc", () => {}), { instanceOf: TypeError, message: "othernode#abc" });
  throwsSync(() => rcv("othernode#abc", "t", () => {}), TypeError);
});

test("rcv - on something that is not a port ID throws a TypeError naming 'port'", () => {
  throwsSync(() => rcv("nohash", () => {}), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => rcv(17 as unknown as string, () => {}), { instanceOf: TypeError, message: "'port'" });
});

test("rcv - on a dead local port is accepted, ignored and returns the port", () => {
  const p = port();
  kil(p);
  assert.is(rcv(p, "t", () => {}), p);
  assert.is(rcv(p, () => {}), p);
  assert.not.ok(isLivePort(p), "rcv must not bring a dead port back");
});

// ---- snd -------------------------------------------------------------------------------

test("snd - never runs the receiver inside snd", async () => {
  let received = 0;
  const got = deferred<void>();
  const p = port(() => {
    received++;
    got.resolve();
  });
  snd(p, "one");
  snd(p, "two");
  assert.is(received, 0, "nothing may be received synchronously after snd");
  await waitFor(got.promise);
  assert.ok(received >= 1);
  kil(p);
});

test("snd - a receiver sending to itself is not re-entered", async () => {
  let depth = 0;
  let maxDepth = 0;
  let count = 0;
  const done = deferred<void>();
  const p = port(() => {
    depth++;
    maxDepth = Math.max(maxDepth, depth);
    count++;
    if (count < 100) snd(SELF(), "again");
    else done.resolve();
    depth--;
  });
  snd(p, "go");
  await waitFor(done.promise);
  assert.is(maxDepth, 1);
  kil(p);
});

test("snd - 100,000 messages arrive in send order", async () => {
  const N = 100_000;
  let next = 0;
  let outOfOrder = -1;
  const done = deferred<void>();
  const p = port((_tag: string, i: number) => {
    if (i !== next && outOfOrder < 0) outOfOrder = i;
    next++;
    if (next === N) done.resolve();
  });
  for (let i = 0; i < N; i++) snd(p, "n", i);
  await waitFor(done.promise, 5000, `${N} messages`);
  assert.is(outOfOrder, -1, `message ${outOfOrder} arrived out of order`);
  assert.is(next, N);
  kil(p);
});

test("snd - order is kept per sender across several senders' interleaved messages", async () => {
  const seen: string[] = [];
  const done = latch(6, 2000, "six messages");
  const sink = port((from: string, i: number) => {
    seen.push(`${from}${i}`);
    done.countDown();
  });
  const a = port(() => { snd(sink, "a", 1); snd(sink, "a", 2); snd(sink, "a", 3); });
  const b = port(() => { snd(sink, "b", 1); snd(sink, "b", 2); snd(sink, "b", 3); });
  snd(a, "go");
  snd(b, "go");
  await done.wait();
  assert.equal(seen.filter((s) => s[0] === "a"), ["a1", "a2", "a3"]);
  assert.equal(seen.filter((s) => s[0] === "b"), ["b1", "b2", "b3"]);
  for (const p of [a, b, sink]) kil(p);
});

test("snd - to a dead local port is silently dropped", async () => {
  const p = port(() => assert.unreachable("a dead port received a message"));
  kil(p);
  snd(p, "late"); // must not throw
  await flushRunQueue();
  assert.not.ok(isLivePort(p));
});

test("snd - to an unknown local port is silently dropped", async () => {
  snd(`${NODE()}#no-such-port`, "hello"); // must not throw
  await flushRunQueue();
  assert.not.ok(isLivePort(`${NODE()}#no-such-port`));
});

test("snd - messages queued for a port that dies before delivery are dropped", async () => {
  const seen: unknown[] = [];
  const p = port((...m: unknown[]) => seen.push(m));
  snd(p, "first");
  snd(p, "second");
  kil(p);
  await flushRunQueue();
  assert.equal(seen, []);
});

test("snd - a receiver that kills its own port gets no further messages", async () => {
  const seen: number[] = [];
  const p = port((_t: string, i: number) => {
    seen.push(i);
    if (i === 2) kil(SELF());
  });
  for (let i = 1; i <= 5; i++) snd(p, "n", i);
  await flushRunQueue();
  assert.equal(seen, [1, 2]);
});

test("snd - to a remote port before networking is configured is dropped without error", () => {
  snd("othernode#abc", "hello", 1);
});

test("snd - a non-string port throws a TypeError naming 'port'", () => {
  throwsSync(() => snd(42 as unknown as string, "x"), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => snd(undefined as unknown as string, "x"), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => snd({} as unknown as string, "x"), { instanceOf: TypeError, message: "'port'" });
});

test("snd - an empty string or a port ID without a node throws a TypeError naming 'port'", () => {
  throwsSync(() => snd("", "x"), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => snd("#name", "x"), { instanceOf: TypeError, message: "'port'" });
});

test("snd - two ports ping-ponging 1,000,000 messages neither recurse nor overflow the stack", async () => {
  const N = 1_000_000;
  let count = 0;
  let maxDepth = 0;
  let depth = 0;
  const done = deferred<void>();
  const ping = port((_tag: string, other: string) => {
    depth++;
    if (depth > maxDepth) maxDepth = depth;
    if (++count >= N) done.resolve();
    else snd(other, "ball", SELF());
    depth--;
  });
  const pong = port((_tag: string, other: string) => {
    depth++;
    if (depth > maxDepth) maxDepth = depth;
    if (++count >= N) done.resolve();
    else snd(other, "ball", SELF());
    depth--;
  });
  // The run queue yields to I/O between batches: a timer set now fires before the game ends.
  let countWhenTimerFired = -1;
  setTimeout(() => {
    countWhenTimerFired = count;
  }, 0);
  snd(ping, "ball", pong);
  await waitFor(done.promise, 60_000, `${N} ping-pong messages`);
  assert.is(count, N);
  assert.is(maxDepth, 1);
  assert.ok(countWhenTimerFired >= 0 && countWhenTimerFired < N, `a timer must get a turn during the game (fired at ${countWhenTimerFired})`);
  kil(ping);
  kil(pong);
});

// ---- the run queue's entry forms ------------------------------------------------------
// Short messages are queued element by element, long ones and those for async
// mailboxes as their array: each form must arrive exactly as sent.

const shapes = Array.from({ length: 10 }, (_, n) => Array.from({ length: n }, (_, i) => (i === 0 ? "t" : i % 3 === 0 ? { i } : i % 3 === 1 ? `s${i}` : i)));

test("run queue - messages of 0 to 9 elements reach default receivers whole", async () => {
  const got: unknown[][] = [];
  const done = latch(shapes.length, 2000, "messages");
  const p = port((...m: unknown[]) => {
    got.push(m);
    done.countDown();
  });
  for (const m of shapes) snd(p, ...m);
  await done.wait();
  assert.equal(got, shapes);
  kil(p);
});

test("run queue - messages of 1 to 9 elements reach tag callbacks without their tag", async () => {
  const got: unknown[][] = [];
  const done = latch(shapes.length - 1, 2000, "messages");
  const p = rcv(port(), "t", (...rest: unknown[]) => {
    got.push(rest);
    done.countDown();
  });
  for (const m of shapes.slice(1)) snd(p, ...m);
  await done.wait();
  assert.equal(got, shapes.slice(1).map((m) => m.slice(1)));
  kil(p);
});

test("run queue - messages of 0 to 9 elements reach an async mailbox whole, also when it came after they were sent", async () => {
  for (const late of [false, true]) {
    const got = deferred<unknown[][]>();
    const body = async (): Promise<void> => {
      const all: unknown[][] = [];
      for (let i = 0; i < shapes.length; i++) all.push((await getCond()) as unknown[]);
      got.resolve(all);
    };
    // `late`: the messages are queued for a plain port, which gets its mailbox before they are delivered.
    const p = late ? port() : portAsync(body);
    for (const m of shapes) snd(p, ...m);
    if (late) rcvAsync(p, body);
    assert.equal(await waitFor(got.promise, 2000, "mailbox"), shapes, late ? "mailbox attached late" : "mailbox from the start");
    kil(p);
  }
});

test("run queue - a receiver queueing thousands of messages does not disturb the messages queued behind it", async () => {
  const got: unknown[][] = [];
  const done = latch(3, 5000, "messages behind the burst");
  const burst = latch(50_000, 5000, "the burst");
  const sink = rcv(port(), "x", () => burst.countDown());
  const p = port((...m: unknown[]) => {
    if (m[0] === "burst") for (let i = 0; i < 50_000; i++) snd(sink, "x", i, i, i);
    else {
      got.push(m);
      done.countDown();
    }
  });
  snd(p, "burst");
  snd(p, "a", 1, "two", { three: 3 }, [4], 5);
  snd(p, "b", ...shapes[9]!);
  snd(p, "c");
  await done.wait();
  assert.equal(got, [["a", 1, "two", { three: 3 }, [4], 5], ["b", ...shapes[9]!], ["c"]]);
  await burst.wait();
  kil(p);
  kil(sink);
});

// ---- kil -------------------------------------------------------------------------------

test("kil - a normal kill gives monitors an empty reason", async () => {
  const p = port(() => {});
  const reason = death(p);
  kil(p);
  assert.equal(await reason, []);
  assert.not.ok(isLivePort(p));
});

test("kil - a kill with a reason passes it to monitors", async () => {
  const p = port(() => {});
  const reason = death(p);
  kil(p, "a", "b");
  assert.equal(await reason, ["a", "b"]);
});

test("kil - reasons may be any values", async () => {
  const p = port(() => {});
  const reason = death(p);
  const detail = { code: 7 };
  kil(p, "failure", 42, detail, null);
  const r = await reason;
  assert.equal(r, ["failure", 42, { code: 7 }, null]);
  assert.ok(r[2] === detail);
});

test("kil - killing twice, or killing a dead or unknown port, is harmless and fires monitors once", async () => {
  let fired = 0;
  const p = port(() => {});
  mon(p, () => fired++);
  kil(p, "first");
  kil(p, "second");
  kil(p);
  kil(`${NODE()}#never-existed`);
  await flushRunQueue();
  assert.is(fired, 1);
});

test("kil - a remote port before networking is configured does not throw", () => {
  kil("othernode#abc", "reason");
});

test("kil - something that is not a port ID throws a TypeError naming 'port'", () => {
  throwsSync(() => kil("nohash"), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => kil(3 as unknown as string), { instanceOf: TypeError, message: "'port'" });
});

test("kil - kil(SELF()) inside a receiver stops the port", async () => {
  const p = port(() => kil(SELF()));
  const reason = death(p);
  snd(p, "stop");
  assert.equal(await reason, []);
});

// ---- exceptions in port context ------------------------------------------------------------

test("die - an exception in a tag callback kills the port with ['die', message]", async () => {
  const p = rcv(port(), "boom", () => {
    throw new Error("it broke");
  });
  const reason = death(p);
  snd(p, "boom");
  assert.equal(await reason, ["die", "it broke"]);
  assert.not.ok(isLivePort(p));
});

test("die - an exception in the default receiver kills the port", async () => {
  const p = port(() => {
    throw new TypeError("bad type");
  });
  const reason = death(p);
  snd(p, "x");
  assert.equal(await reason, ["die", "bad type"]);
});

test("die - a trailing newline is stripped and non-Error values are stringified", async () => {
  const a = port(() => {
    throw new Error("line\n");
  });
  const b = port(() => {
    // eslint-disable-next-line no-throw-literal
    throw "plain string";
  });
  const ra = death(a);
  const rb = death(b);
  snd(a, "x");
  snd(b, "x");
  assert.equal(await ra, ["die", "line"]);
  assert.equal(await rb, ["die", "plain string"]);
});

test("die - later messages are not delivered to a port that died", async () => {
  const seen: number[] = [];
  const p = port((_t: string, i: number) => {
    seen.push(i);
    if (i === 1) throw new Error("stop");
  });
  const reason = death(p);
  snd(p, "n", 0);
  snd(p, "n", 1);
  snd(p, "n", 2);
  assert.equal(await reason, ["die", "stop"]);
  await flushRunQueue();
  assert.equal(seen, [0, 1]);
});

test("die - a rejected promise returned by a rcv callback kills the port with die", async () => {
  const p = rcv(port(), "async", async () => {
    await Promise.resolve();
    throw new Error("async failure");
  });
  const reason = death(p);
  snd(p, "async");
  assert.equal(await reason, ["die", "async failure"]);
});

test("die - a resolved promise returned by a callback leaves the port alive", async () => {
  const second = deferred<void>();
  let calls = 0;
  const p = port(async () => {
    calls++;
    if (calls === 2) second.resolve();
    return "fine";
  });
  snd(p, "a");
  snd(p, "b");
  await waitFor(second.promise);
  await flushRunQueue();
  assert.ok(isLivePort(p));
  kil(p);
});

// ---- logging of abnormal deaths ----------------------------------------------------------

test("log - an abnormal kill of an unmonitored port is logged as an error", () => {
  using log = captureLog();
  const p = port();
  kil(p, "failure_mode", "too hot");
  const errors = log.records.filter((r) => r.level === 4 && r.text.includes(p));
  assert.is(errors.length, 1, `expected one error record about ${p}, got ${JSON.stringify(log.records)}`);
  assert.match(errors[0].text, /failure_mode/);
  assert.match(errors[0].text, /too hot/);
});

test("log - an exception in an unmonitored port's callback is logged as an error", async () => {
  using log = captureLog();
  const p = port(() => {
    throw new Error("nobody watches me");
  });
  snd(p, "x");
  await flushRunQueue();
  assert.not.ok(isLivePort(p));
  const errors = log.records.filter((r) => r.level <= 4 && r.text.includes(p));
  assert.is(errors.length, 1);
  assert.match(errors[0].text, /nobody watches me/);
});

test("log - a normal kill of an unmonitored port is not logged", () => {
  using log = captureLog();
  const p = port();
  kil(p);
  assert.equal(log.records.filter((r) => r.text.includes(p)), []);
});

test("log - an abnormal kill of a monitored port is not logged", () => {
  using log = captureLog();
  const p = port();
  let fired = false;
  mon(p, () => {
    fired = true;
  });
  kil(p, "watched", "failure");
  assert.ok(fired);
  assert.equal(log.records.filter((r) => r.text.includes(p)), []);
});

// ---- SELF --------------------------------------------------------------------------------

test("SELF - throws PortContextError outside port context", () => {
  const err = throwsSync(() => SELF(), { instanceOf: PortContextError, code: "ERR_NO_PORT_CONTEXT" });
  assert.is((err as Error).name, "PortContextError");
});

test("SELF - is unset again once a receiver has returned", async () => {
  const got = deferred<void>();
  const p = port(() => got.resolve());
  snd(p, "x");
  await waitFor(got.promise);
  throwsSync(() => SELF(), PortContextError);
  kil(p);
});

test("SELF - each receiver sees its own port", async () => {
  const selves: [string, string][] = [];
  const done = latch(4, 2000, "four messages");
  const a = port(() => { selves.push([a, SELF()]); done.countDown(); });
  const b = rcv(port(), "t", () => { selves.push([b, SELF()]); done.countDown(); });
  snd(a, "x"); snd(b, "t"); snd(a, "x"); snd(b, "t");
  await done.wait();
  for (const [expected, seen] of selves) assert.is(seen, expected);
  kil(a);
  kil(b);
});

// ---- peval -------------------------------------------------------------------------------

test("peval - runs fn with args in the port's context and returns its value", () => {
  const p = port();
  let self: string | undefined;
  const result = peval(p, (x: number, y: string) => {
    self = SELF();
    return `${y}${x * 2}`;
  }, 21, "answer:");
  assert.is(result, "answer:42");
  assert.is(self, p);
  throwsSync(() => SELF(), PortContextError);
  kil(p);
});

test("peval - nested calls restore the previous SELF", () => {
  const outer = port();
  const inner = port();
  const seen: string[] = [];
  peval(outer, () => {
    seen.push(SELF());
    peval(inner, () => {
      seen.push(SELF());
    });
    seen.push(SELF());
  });
  assert.equal(seen, [outer, inner, outer]);
  throwsSync(() => SELF(), PortContextError);
  kil(outer);
  kil(inner);
});

test("peval - inside a receiver restores the receiver's SELF", async () => {
  const other = port();
  const seen = deferred<string[]>();
  const p = port(() => {
    const during = peval(other, () => SELF());
    seen.resolve([during as string, SELF()]);
  });
  snd(p, "x");
  assert.equal(await waitFor(seen.promise), [other, p]);
  kil(p);
  kil(other);
});

test("peval - an exception kills the port with die, returns undefined and does not throw", () => {
  const p = port();
  let reason: unknown[] | undefined;
  mon(p, (...r: unknown[]) => {
    reason = r;
  });
  const result = peval(p, () => {
    throw new Error("unable to init");
  });
  assert.is(result, undefined);
  assert.equal(reason, ["die", "unable to init"]);
  assert.not.ok(isLivePort(p));
  throwsSync(() => SELF(), PortContextError);
});

test("peval - an exception in a nested peval kills only the inner port", () => {
  const outer = port();
  const inner = port();
  let innerReason: unknown[] | undefined;
  mon(inner, (...r: unknown[]) => {
    innerReason = r;
  });
  let after: string | undefined;
  peval(outer, () => {
    peval(inner, () => {
      throw new Error("inner failure");
    });
    after = SELF();
  });
  assert.is(after, outer);
  assert.equal(innerReason, ["die", "inner failure"]);
  assert.ok(isLivePort(outer));
  assert.not.ok(isLivePort(inner));
  kil(outer);
});

test("peval - a rejected promise kills the port with die", async () => {
  const p = port();
  const reason = death(p);
  const result = peval(p, async () => {
    throw new Error("later failure");
  });
  assert.instance(result, Promise);
  assert.equal(await reason, ["die", "later failure"]);
});

test("peval - bad arguments throw TypeErrors naming them", () => {
  throwsSync(() => peval("nohash", () => {}), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => peval(port(), "code" as unknown as () => void), { instanceOf: TypeError, message: "'fn'" });
});

// ---- psub --------------------------------------------------------------------------------

test("psub - outside port context throws PortContextError", () => {
  throwsSync(() => psub(() => {}), PortContextError);
});

test("psub - a non-function throws a TypeError naming 'fn'", () => {
  const p = port();
  peval(p, () => {
    throwsSync(() => psub(5 as unknown as () => void), { instanceOf: TypeError, message: "'fn'" });
  });
  kil(p);
});

test("psub - the closure later runs with the captured SELF, gets args and returns the value", async () => {
  const got = deferred<{ self: string; sum: number } | undefined>();
  const p = port();
  const closure = peval(p, () => psub((a: number, b: number) => ({ self: SELF(), sum: a + b })))!;
  // Later, from outside any port context:
  setImmediate(() => got.resolve(closure(2, 3)));
  assert.equal(await waitFor(got.promise), { self: p, sum: 5 });
  throwsSync(() => SELF(), PortContextError);
  kil(p);
});

test("psub - called from another port's receiver, runs as the captured port and restores the caller", async () => {
  const owner = port();
  const closure = peval(owner, () => psub(() => SELF()))!;
  const seen = deferred<string[]>();
  const caller = port(() => {
    const inside = closure();
    seen.resolve([inside as string, SELF()]);
  });
  snd(caller, "x");
  assert.equal(await waitFor(seen.promise), [owner, caller]);
  kil(owner);
  kil(caller);
});

test("psub - an exception in the closure kills the captured port with die", async () => {
  const p = port();
  const reason = death(p);
  const closure = peval(p, () => psub(() => {
    throw new Error("kill the port, delayed");
  }))!;
  setImmediate(() => {
    assert.is(closure(), undefined);
  });
  assert.equal(await reason, ["die", "kill the port, delayed"]);
});

test("psub - the captured port is the receiver's port when created in a rcv callback", async () => {
  const ran = deferred<string>();
  const p = rcv(port(), "start", () => {
    setImmediate(psub(() => ran.resolve(SELF())));
  });
  snd(p, "start");
  assert.is(await waitFor(ran.promise), p);
  kil(p);
});

test.run();
