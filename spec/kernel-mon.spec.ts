// Monitoring: lib/kernel/mon.ts (the four mon forms, monGuard, portSignal).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { setTimeout as sleepWithSignal } from "node:timers/promises";
import {
  NODE,
  PortContextError,
  PortKilledError,
  SELF,
  kil,
  mon,
  monGuard,
  peval,
  port,
  portSignal,
  rcv,
  snd,
} from "../lib/index.ts";
import { isLivePort, portCount } from "../lib/kernel/ports.ts";
import { captureLog, deferred, flushRunQueue, rejects, throwsSync, waitFor } from "./helpers.ts";

/** Resolves with the kill reason of `p` (empty for a normal kill). */
function death(p: string, ms = 2000): Promise<unknown[]> {
  const d = deferred<unknown[]>();
  mon(p, (...reason: unknown[]) => d.resolve(reason));
  return waitFor(d.promise, ms, `death of ${p}`);
}

const noSuchPort = (p: string): unknown[] => ["no_such_port", "cannot monitor nonexistent port", p];

// ---- callback form ---------------------------------------------------------------------

test("mon callback - a normal kill calls it with no arguments", async () => {
  const p = port();
  const got = deferred<unknown[]>();
  mon(p, (...reason: unknown[]) => got.resolve(reason));
  kil(p);
  assert.equal(await waitFor(got.promise), []);
});

test("mon callback - an abnormal kill calls it with the reason", async () => {
  const p = port();
  const got = deferred<unknown[]>();
  mon(p, (...reason: unknown[]) => got.resolve(reason));
  kil(p, "my_error", "everything is broken");
  assert.equal(await waitFor(got.promise), ["my_error", "everything is broken"]);
});

test("mon callback - has run by the time kil returns", () => {
  const p = port();
  let reason: unknown[] | undefined;
  mon(p, (...r: unknown[]) => {
    reason = r;
  });
  kil(p, "now");
  assert.equal(reason, ["now"]);
});

test("mon callback - every monitor of a port fires", () => {
  const p = port();
  const fired: number[] = [];
  for (let i = 0; i < 5; i++) mon(p, () => fired.push(i));
  kil(p, "x");
  assert.equal([...fired].sort(), [0, 1, 2, 3, 4]);
});

test("mon callback - fires when the port dies from an exception in its callback", async () => {
  const p = port(() => {
    throw new Error("oops");
  });
  const reason = death(p);
  snd(p, "x");
  assert.equal(await reason, ["die", "oops"]);
});

// ---- linked port form: mon(a, b) ---------------------------------------------------------

test("mon link - an abnormal kill of a kills b with the same reason", async () => {
  const a = port();
  const b = port(() => {});
  mon(a, b);
  const bReason = death(b);
  kil(a, "fatal", { detail: 1 });
  assert.equal(await bReason, ["fatal", { detail: 1 }]);
  assert.not.ok(isLivePort(b));
});

test("mon link - a normal kill of a leaves b alive", async () => {
  const a = port();
  const got = deferred<string>();
  const b = port((tag: string) => got.resolve(tag));
  let bDied = false;
  mon(b, () => {
    bDied = true;
  });
  mon(a, b);
  kil(a);
  snd(b, "still-here");
  assert.is(await waitFor(got.promise), "still-here");
  assert.not.ok(bDied);
  assert.ok(isLivePort(b));
  kil(b);
});

test("mon link - a dies from an exception: b dies with ['die', message]", async () => {
  const a = port(() => {
    throw new Error("a failed");
  });
  const b = port();
  mon(a, b);
  const bReason = death(b);
  snd(a, "x");
  assert.equal(await bReason, ["die", "a failed"]);
});

test("mon link - mon(a) in port context links SELF", async () => {
  const a = port();
  const b = port(() => {});
  peval(b, () => mon(a));
  const bReason = death(b);
  kil(a, "linked", "reason");
  assert.equal(await bReason, ["linked", "reason"]);
});

test("mon link - mon(a) from a rcv callback links the receiving port; a normal kill leaves it alive", async () => {
  const a1 = port();
  const a2 = port();
  const linked = deferred<void>();
  const b = port((tag: string, target: string) => {
    if (tag === "watch") {
      mon(target);
      linked.resolve();
    }
  });
  snd(b, "watch", a1);
  snd(b, "watch", a2);
  await waitFor(linked.promise);
  await flushRunQueue();
  kil(a1);
  assert.ok(isLivePort(b), "a normal kill must not kill the linked port");
  const bReason = death(b);
  kil(a2, "abnormal");
  assert.equal(await bReason, ["abnormal"]);
});

test("mon link - mon(a) outside port context throws PortContextError", () => {
  const a = port();
  throwsSync(() => mon(a), PortContextError);
  kil(a);
});

test("mon link - chains: a kills b kills c with the same reason, in order", () => {
  const a = port();
  const b = port();
  const c = port();
  mon(a, b);
  mon(b, c);
  const deaths: [string, unknown[]][] = [];
  mon(a, (...r: unknown[]) => deaths.push(["a", r]));
  mon(b, (...r: unknown[]) => deaths.push(["b", r]));
  mon(c, (...r: unknown[]) => deaths.push(["c", r]));
  kil(a, "boom", 1);
  assert.equal(deaths, [
    ["a", ["boom", 1]],
    ["b", ["boom", 1]],
    ["c", ["boom", 1]],
  ]);
});

test("mon link - a chain of 100,000 linked ports dies without stack overflow", () => {
  const N = 100_000;
  const before = portCount();
  const ports: string[] = [];
  for (let i = 0; i < N; i++) ports.push(port());
  for (let i = 0; i + 1 < N; i++) mon(ports[i], ports[i + 1]);
  let lastReason: unknown[] | undefined;
  mon(ports[N - 1], (...r: unknown[]) => {
    lastReason = r;
  });
  kil(ports[0], "cascade");
  assert.equal(lastReason, ["cascade"]);
  assert.is(portCount(), before);
  assert.not.ok(isLivePort(ports[N >> 1]));
});

test("mon link - a cycle of linked ports dies once each", () => {
  const a = port();
  const b = port();
  mon(a, b);
  mon(b, a);
  let fired = 0;
  mon(a, () => fired++);
  mon(b, () => fired++);
  kil(a, "cycle");
  assert.is(fired, 2);
  assert.not.ok(isLivePort(a));
  assert.not.ok(isLivePort(b));
});

// ---- message form: mon(a, b, ...msg) -------------------------------------------------------

test("mon message - an abnormal kill sends [...msg, ...reason]", async () => {
  const a = port();
  const got = deferred<unknown[]>();
  const b = rcv(port(), "died", (...rest: unknown[]) => got.resolve(rest));
  mon(a, b, "died", 1);
  kil(a, "oops", "detail");
  assert.equal(await waitFor(got.promise), [1, "oops", "detail"]);
  assert.ok(isLivePort(b), "the message form never kills the receiving port");
  kil(b);
});

test("mon message - a normal kill sends just the message", async () => {
  const a = port();
  const got = deferred<unknown[]>();
  const b = port((...m: unknown[]) => got.resolve(m));
  mon(a, b, "died", 1);
  kil(a);
  assert.equal(await waitFor(got.promise), ["died", 1]);
  kil(b);
});

test("mon message - the message is sent, not delivered inside kil", async () => {
  const a = port();
  let received = false;
  const got = deferred<void>();
  const b = port(() => {
    received = true;
    got.resolve();
  });
  mon(a, b, "restart");
  kil(a);
  assert.not.ok(received);
  await waitFor(got.promise);
  kil(b);
});

test("mon message - arrives after messages a sent before it died", async () => {
  const seen: string[] = [];
  const done = deferred<void>();
  const b = port((tag: string) => {
    seen.push(tag);
    if (tag === "died") done.resolve();
  });
  const a = port(() => {
    snd(b, "last-words");
    kil(SELF(), "gone");
  });
  mon(a, b, "died");
  snd(a, "go");
  await waitFor(done.promise);
  assert.equal(seen, ["last-words", "died"]);
  kil(b);
});

// ---- one-shot, guards --------------------------------------------------------------------

test("mon - monitors are one-shot", async () => {
  const p = port();
  let fired = 0;
  const g = mon(p, () => fired++);
  kil(p, "first");
  kil(p, "second");
  await flushRunQueue();
  assert.is(fired, 1);
  g.cancel(); // after firing: harmless
  assert.is(fired, 1);
});

test("mon guard - cancel() stops the monitor", () => {
  const p = port();
  let cancelled = 0;
  let other = 0;
  const g = mon(p, () => cancelled++);
  mon(p, () => other++);
  g.cancel();
  kil(p, "x");
  assert.is(other, 1, "the port died");
  assert.is(cancelled, 0, "the cancelled monitor must not fire");
});

test("mon guard - cancel() stops the link and message forms too", async () => {
  const a = port();
  const got = deferred<void>();
  const linked = port((tag: string) => {
    if (tag === "probe") got.resolve();
    else assert.unreachable(`unexpected ${tag}`);
  });
  const g1 = mon(a, linked);
  const g2 = mon(a, linked, "died");
  g1.cancel();
  g2.cancel();
  kil(a, "abnormal");
  snd(linked, "probe"); // arrives after anything kil could have sent
  await waitFor(got.promise);
  assert.ok(isLivePort(linked));
  kil(linked);
});

test("mon guard - cancelling twice is harmless", () => {
  const p = port();
  let fired = 0;
  const g = mon(p, () => fired++);
  g.cancel();
  g.cancel();
  kil(p, "x");
  assert.is(fired, 0);
});

test("mon guard - `using` cancels the monitor at the end of the block", () => {
  const p = port();
  let inBlock = 0;
  let other = 0;
  {
    using g = mon(p, () => inBlock++);
    assert.type(g[Symbol.dispose], "function");
  }
  mon(p, () => other++);
  kil(p, "x");
  assert.is(other, 1);
  assert.is(inBlock, 0);
});

// ---- nonexistent ports ---------------------------------------------------------------------

test("mon dead - monitoring a dead port fires no_such_port after mon returns", async () => {
  const p = port();
  kil(p);
  const got = deferred<unknown[]>();
  let fired = false;
  mon(p, (...r: unknown[]) => {
    fired = true;
    got.resolve(r);
  });
  assert.not.ok(fired, "must not fire inside mon");
  assert.equal(await waitFor(got.promise), noSuchPort(p));
});

test("mon dead - monitoring a port that never existed fires no_such_port", async () => {
  const id = `${NODE()}#never-existed`;
  const got = deferred<unknown[]>();
  mon(id, (...r: unknown[]) => got.resolve(r));
  assert.equal(await waitFor(got.promise), noSuchPort(id));
});

test("mon dead - link form kills the linked port with no_such_port", async () => {
  const dead = port();
  kil(dead);
  const b = port();
  const bReason = death(b);
  mon(dead, b);
  assert.equal(await bReason, noSuchPort(dead));
});

test("mon dead - message form sends the message with no_such_port", async () => {
  const dead = port();
  kil(dead);
  const got = deferred<unknown[]>();
  const b = port((...m: unknown[]) => got.resolve(m));
  mon(dead, b, "gone", 7);
  assert.equal(await waitFor(got.promise), ["gone", 7, ...noSuchPort(dead)]);
  kil(b);
});

test("mon dead - cancelling before it fires stops it", async () => {
  const dead = port();
  kil(dead);
  let fired = 0;
  const g = mon(dead, () => fired++);
  g.cancel();
  await flushRunQueue();
  await flushRunQueue();
  assert.is(fired, 0);
});

// ---- failures inside monitors -------------------------------------------------------------

test("mon - a monitor callback that throws does not stop the other monitors, and is logged", () => {
  using log = captureLog();
  const p = port();
  const fired: string[] = [];
  mon(p, () => fired.push("first"));
  mon(p, () => {
    throw new Error("bad monitor");
  });
  mon(p, () => fired.push("third"));
  kil(p, "x"); // must not throw
  assert.equal(fired, ["first", "third"]);
  assert.ok(log.texts(4).some((t) => t.includes("bad monitor")), "the exception is logged as an error");
});

test("mon - a throwing monitor does not stop a chain of linked ports", () => {
  using _log = captureLog();
  const a = port();
  const b = port();
  mon(a, () => {
    throw new Error("bad monitor");
  });
  mon(a, b);
  let bReason: unknown[] | undefined;
  mon(b, (...r: unknown[]) => {
    bReason = r;
  });
  kil(a, "x");
  assert.equal(bReason, ["x"]);
});

// ---- argument checks ------------------------------------------------------------------------

test("mon - bad arguments throw TypeErrors naming them", () => {
  const p = port();
  throwsSync(() => mon(5 as unknown as string, () => {}), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => mon("", () => {}), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => mon(p, 5 as unknown as string), { instanceOf: TypeError, message: "second argument" });
  throwsSync(() => mon(p, "nohash"), { instanceOf: TypeError, message: "second argument" });
  throwsSync(() => (mon as (...a: unknown[]) => unknown)(p, () => {}, "extra"), TypeError);
  kil(p);
});

// ---- remote ports before networking ----------------------------------------------------------

test("mon remote - a remote port before networking is configured fires transport_error", async () => {
  const got = deferred<unknown[]>();
  let fired = false;
  mon("othernode#abc", (...r: unknown[]) => {
    fired = true;
    got.resolve(r);
  });
  assert.not.ok(fired, "must not fire inside mon");
  assert.equal(await waitFor(got.promise), ["transport_error", "othernode", "no known address"]);
});

test("mon remote - a remote node ID fires transport_error too", async () => {
  const got = deferred<unknown[]>();
  mon("othernode", (...r: unknown[]) => got.resolve(r));
  assert.equal(await waitFor(got.promise), ["transport_error", "othernode", "no known address"]);
});

test("mon remote - link form kills the local port with transport_error", async () => {
  const b = port();
  const bReason = death(b);
  mon("othernode#abc", b);
  assert.equal(await bReason, ["transport_error", "othernode", "no known address"]);
});

test("mon remote - cancelling before it fires stops it", async () => {
  let fired = 0;
  mon("othernode#abc", () => fired++).cancel();
  await flushRunQueue();
  await flushRunQueue();
  assert.is(fired, 0);
});

test("mon - monitoring this node's own ID never fires", async () => {
  let fired = 0;
  const g = mon(NODE(), () => fired++);
  await flushRunQueue();
  await flushRunQueue();
  assert.is(fired, 0);
  g.cancel();
});

// ---- monGuard ---------------------------------------------------------------------------------

test("monGuard - releases every kind of value when the port dies", () => {
  const p = port();
  const released: string[] = [];
  const fn = () => released.push("function");
  const cancellable = { cancel: () => released.push("cancel") };
  const disposable = { [Symbol.dispose]: () => released.push("dispose") };
  const closeable = { close: () => released.push("close") };
  monGuard(p, fn, cancellable, disposable, closeable, "a string", 42, null, undefined);
  assert.equal(released, []);
  kil(p);
  assert.equal(released, ["function", "cancel", "dispose", "close"]);
});

test("monGuard - releases on an abnormal kill too, once", () => {
  using _log = captureLog();
  const p = port();
  let calls = 0;
  monGuard(p, () => calls++);
  kil(p, "abnormal");
  kil(p, "again");
  assert.is(calls, 1);
});

test("monGuard - a timer tied to the port stops when the port dies", async () => {
  const p = port();
  let ticks = 0;
  const interval = setInterval(() => ticks++, 1);
  monGuard(p, interval);
  kil(p);
  // A timer set now with a longer delay fires after the interval would have ticked.
  await waitFor(sleepWithSignal(30), 2000, "sentinel timer");
  assert.is(ticks, 0);
});

test("monGuard - a guard tied to the port is cancelled when the port dies", () => {
  const owner = port();
  const watched = port();
  let fired = 0;
  let other = 0;
  monGuard(owner, mon(watched, () => fired++));
  mon(watched, () => other++);
  kil(owner);
  kil(watched, "x");
  assert.is(other, 1);
  assert.is(fired, 0);
});

test("monGuard - its guard stops monitoring without releasing", () => {
  const p = port();
  let released = 0;
  let died = 0;
  const g = monGuard(p, () => released++);
  mon(p, () => died++);
  g.cancel();
  g.cancel();
  kil(p);
  assert.is(died, 1);
  assert.is(released, 0);
});

test("monGuard - a dead port releases the values on the next turn, not inside monGuard", async () => {
  const p = port();
  kil(p);
  const done = deferred<void>();
  let released = false;
  monGuard(p, () => {
    released = true;
    done.resolve();
  });
  assert.not.ok(released);
  await waitFor(done.promise);
});

test("monGuard - a value that throws while released is logged; the others are still released", () => {
  using log = captureLog();
  const p = port();
  const released: string[] = [];
  monGuard(
    p,
    () => released.push("a"),
    () => {
      throw new Error("release failed");
    },
    () => released.push("c"),
  );
  kil(p);
  assert.equal(released, ["a", "c"]);
  assert.ok(log.texts(4).some((t) => t.includes("release failed")));
});

test("monGuard - a non-string port throws a TypeError naming 'port'", () => {
  throwsSync(() => monGuard(1 as unknown as string, () => {}), { instanceOf: TypeError, message: "'port'" });
});

// ---- portSignal -----------------------------------------------------------------------------

test("portSignal - aborts with a PortKilledError carrying the reason", () => {
  const p = port();
  const signal = portSignal(p);
  assert.not.ok(signal.aborted);
  let events = 0;
  signal.addEventListener("abort", () => events++);
  kil(p, "fatal", "disk full");
  assert.ok(signal.aborted);
  assert.is(events, 1);
  const err = signal.reason as PortKilledError;
  assert.instance(err, PortKilledError);
  assert.is(err.name, "PortKilledError");
  assert.is(err.code, "ERR_PORT_KILLED");
  assert.is(err.port, p);
  assert.equal(err.reason, ["fatal", "disk full"]);
  assert.match(err.message, /disk full/);
});

test("portSignal - a normal kill aborts with an empty reason", () => {
  const p = port();
  const signal = portSignal(p);
  kil(p);
  assert.ok(signal.aborted);
  assert.equal((signal.reason as PortKilledError).reason, []);
});

test("portSignal - returns the same signal for the same port", () => {
  const p = port();
  assert.ok(portSignal(p) === portSignal(p));
  kil(p);
});

test("portSignal - defaults to SELF() and throws PortContextError outside port context", () => {
  const p = port();
  const signal = peval(p, () => portSignal())!;
  assert.ok(signal === portSignal(p));
  throwsSync(() => portSignal(), PortContextError);
  kil(p);
});

test("portSignal - stops pending work that was handed the signal", async () => {
  const p = port();
  const pending = sleepWithSignal(60_000, undefined, { signal: portSignal(p) });
  kil(p, "stop");
  const err = await rejects(pending, (e) => (e as Error).name === "AbortError");
  assert.instance((err as Error).cause, PortKilledError);
});

test("portSignal - a dead local port gives an already aborted signal with no_such_port", () => {
  const p = port();
  kil(p);
  const signal = portSignal(p);
  assert.ok(signal.aborted);
  assert.equal((signal.reason as PortKilledError).reason, noSuchPort(p));
});

test("portSignal - does not count as monitoring: an abnormal death is still logged", () => {
  using log = captureLog();
  const p = port();
  portSignal(p);
  kil(p, "unwatched");
  assert.ok(log.texts(4).some((t) => t.includes(p) && t.includes("unwatched")));
});

test("portSignal - a remote port before networking is configured aborts with transport_error", async () => {
  const signal = portSignal("othernode#abc");
  const aborted = deferred<void>();
  signal.addEventListener("abort", () => aborted.resolve());
  await waitFor(aborted.promise);
  assert.equal((signal.reason as PortKilledError).reason, ["transport_error", "othernode", "no known address"]);
});

test("portSignal - something that is not a port ID throws a TypeError naming 'port'", () => {
  throwsSync(() => portSignal("nohash"), { instanceOf: TypeError, message: "'port'" });
});

test.run();
