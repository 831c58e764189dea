// Async ports, the public API: lib/async/ports.ts (portAsync, rcvAsync, get, getCond,
// messages, pevalAsync, mailboxOf) on top of the kernel.
import { getEventListeners, setMaxListeners } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type Message,
  NODE,
  PortContextError,
  PortKilledError,
  SELF,
  get,
  getCond,
  kil,
  mailboxOf,
  mon,
  messages,
  peval,
  pevalAsync,
  port,
  portAsync,
  portSignal,
  rcv,
  rcvAsync,
  snd,
} from "../lib/index.ts";
import { isLivePort } from "../lib/kernel/ports.ts";
import { activeTimers, deferred, flushRunQueue, latch, portDeath, rejects, throwsSync, waitFor } from "./helpers.ts";

/**
 * Runs `body` as an async port's function and resolves with what it returns (the port
 * then dies normally) or rejects with what it throws. Checks made inside `body` with
 * `assert` therefore fail the test with their own message.
 */
function inPort<T>(body: (self: string) => Promise<T>, ms = 2000): Promise<T> {
  const d = deferred<T>();
  portAsync(async (self) => {
    try {
      d.resolve(await body(self));
    } catch (err) {
      d.reject(err);
    }
  });
  return waitFor(d.promise, ms, "the async port's function");
}

/** The outcome of a promise, as data: ["resolved", value] or ["rejected", error]. */
function settled(p: Promise<unknown>): Promise<["resolved" | "rejected", unknown]> {
  return p.then(
    (v) => ["resolved", v],
    (e: unknown) => ["rejected", e],
  );
}

/** Whether `p` is still pending after the current run of microtasks and one macrotask turn. */
async function isPending(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol("pending");
  const turn = new Promise((resolve) => setImmediate(resolve, marker));
  return (await Promise.race([p.then(() => null, () => null), turn])) === marker;
}

/** A callback port that kills whatever port it is sent, with the given reason. */
function killer(...reason: unknown[]): string {
  return port((victim: string) => kil(victim, ...reason));
}

/** The mailbox of the running async port. */
function box(): { readonly size: number; readonly pending: number } {
  const b = mailboxOf(SELF());
  assert.ok(b !== undefined, "the running port has a mailbox");
  return b;
}

// ---- portAsync -----------------------------------------------------------------------

test("portAsync - runs fn later, never before portAsync returns", async () => {
  const ran = deferred<void>();
  let started = false;
  const p = portAsync(() => {
    started = true;
    ran.resolve();
  });
  assert.not.ok(started, "fn has not run inside portAsync");
  assert.ok(isLivePort(p));
  await waitFor(ran.promise, 2000, "fn to start");
  assert.ok(started);
});

test("portAsync - fn receives the port ID and runs with SELF() set to it", async () => {
  const seen = deferred<[string, string]>();
  const p = portAsync((self) => seen.resolve([self, SELF()]));
  assert.equal(await waitFor(seen.promise), [p, p]);
  assert.ok(p.startsWith(`${NODE()}#`));
});

test("portAsync - SELF() survives awaits of timers, immediates, unrelated promises and messages", async () => {
  const outside = deferred<string>();
  const helper = port(() => outside.resolve(SELF())); // settles a promise in another port's context
  const selves: [string, string][] = [];
  const p = portAsync(async (self) => {
    selves.push(["start", SELF()]);
    await delay(1);
    selves.push(["timer", SELF()]);
    await new Promise((resolve) => setImmediate(resolve));
    selves.push(["immediate", SELF()]);
    snd(helper, "go");
    const helperSelf = await outside.promise;
    selves.push(["unrelated promise", SELF()]);
    selves.push(["helper saw", helperSelf]);
    await Promise.all([delay(1), Promise.resolve(1)]);
    selves.push(["Promise.all", SELF()]);
    snd(self, "msg");
    await get("msg");
    selves.push(["get", SELF()]);
    return ["done"];
  });
  assert.equal(await portDeath(p), ["done"]);
  assert.equal(selves, [
    ["start", p],
    ["timer", p],
    ["immediate", p],
    ["unrelated promise", p],
    ["helper saw", helper],
    ["Promise.all", p],
    ["get", p],
  ]);
  kil(helper);
});

test("portAsync - two async ports awaiting at the same time each keep their own SELF()", async () => {
  const mixups: string[] = [];
  const all = latch(2, 2000, "both ports to finish");
  const body = async (self: string): Promise<void> => {
    for (let i = 0; i < 20; i++) {
      await (i % 2 === 0 ? delay(1) : new Promise((resolve) => setImmediate(resolve)));
      if (SELF() !== self) mixups.push(`${self} saw ${SELF()}`);
    }
    all.countDown();
  };
  portAsync(body);
  portAsync(body);
  await all.wait();
  assert.equal(mixups, []);
});

test("portAsync - a port killed before fn starts never runs fn", async () => {
  let ran = false;
  const p = portAsync(() => {
    ran = true;
  });
  kil(p);
  await flushRunQueue();
  await flushRunQueue();
  assert.not.ok(ran);
});

test("portAsync - a non-function fn throws a TypeError naming 'fn'", () => {
  throwsSync(() => portAsync("nope" as unknown as () => void), { instanceOf: TypeError, message: "'fn'" });
});

// ---- rcvAsync ------------------------------------------------------------------------

test("rcvAsync - attaches a mailbox to an existing port; fn gets the port ID with SELF() set", async () => {
  const p = port();
  snd(p, "early", 1); // sent before rcvAsync, still on the run queue: lands in the mailbox
  const seen = deferred<unknown[]>();
  assert.is(
    rcvAsync(p, async (self) => {
      seen.resolve([self, SELF(), await get("early"), await get("later")]);
    }),
    p,
  );
  snd(p, "later", 2);
  assert.equal(await waitFor(seen.promise), [p, p, [1], [2]]);
});

test("rcvAsync - replaces the port's default receiver", async () => {
  let called = 0;
  const p = port(() => {
    called++;
  });
  const got = deferred<Message | undefined>();
  rcvAsync(p, async () => {
    got.resolve(await getCond());
    await get("never");
  });
  snd(p, "hello", 1);
  assert.equal(await waitFor(got.promise), ["hello", 1]);
  assert.is(called, 0);
  throwsSync(() => rcv(p, () => {}), { instanceOf: TypeError, message: "async mailbox" });
  kil(p);
});

test("rcvAsync - a second rcvAsync on the same port throws a TypeError", async () => {
  const p = port();
  rcvAsync(p, () => get("never"));
  throwsSync(() => rcvAsync(p, async () => {}), { instanceOf: TypeError, message: "already has an async mailbox" });
  const q = portAsync(() => get("never"));
  throwsSync(() => rcvAsync(q, async () => {}), TypeError);
  kil(p);
  kil(q);
});

test("rcvAsync - a dead, unknown or remote port throws a TypeError", () => {
  const dead = port();
  kil(dead);
  throwsSync(() => rcvAsync(dead, async () => {}), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => rcvAsync(`${NODE()}#no-such-port`, async () => {}), TypeError);
  throwsSync(() => rcvAsync("some-other-node#p1", async () => {}), TypeError);
  throwsSync(() => rcvAsync(42 as unknown as string, async () => {}), TypeError);
  throwsSync(() => rcvAsync(port(), "nope" as unknown as () => void), { instanceOf: TypeError, message: "'fn'" });
});

test("rcvAsync - tagged rcv callbacks on the same port still win; the mailbox gets the rest", async () => {
  const tagged: unknown[] = [];
  const p = rcv(port(), "cb", (n: number) => {
    tagged.push([n, SELF()]);
  });
  const got = deferred<Message[]>();
  rcvAsync(p, async () => {
    const out: Message[] = [];
    for (let i = 0; i < 3; i++) out.push((await getCond())!);
    got.resolve(out);
  });
  snd(p, "cb", 1);
  snd(p, "mb", 1);
  snd(p, "cb", 2);
  snd(p, "other", 2);
  snd(p, "cb", 3);
  snd(p, "mb", 3);
  assert.equal(await waitFor(got.promise), [["mb", 1], ["other", 2], ["mb", 3]]);
  assert.equal(tagged, [[1, p], [2, p], [3, p]]);
});

// ---- get -------------------------------------------------------------------------------

test("get - resolves to the message without its tag", async () => {
  const r = await inPort(async (self) => {
    snd(self, "point", 1, { y: 2 }, [3]);
    return get("point");
  });
  assert.equal(r, [1, { y: 2 }, [3]]);
});

test("get - a tag-only message resolves to an empty array", async () => {
  assert.equal(
    await inPort(async (self) => {
      snd(self, "bare");
      return get("bare");
    }),
    [],
  );
});

test("get - takes the oldest queued message of its tag and leaves the others queued in order", async () => {
  const r = await inPort(async (self) => {
    for (const m of [["a", 1], ["b", 1], ["a", 2], ["c", 1]]) snd(self, ...m);
    await get("c"); // all four are queued now
    const first = await get("a");
    const rest: Message[] = [];
    for (let m = await getCond(undefined, 0); m !== undefined; m = await getCond(undefined, 0)) rest.push(m);
    return [first, rest];
  });
  assert.equal(r, [[1], [["b", 1], ["a", 2]]]);
});

test("get - keeps order within a tag: 10,000 messages interleaved with other tags", async () => {
  const n = 10_000;
  const p = portAsync(async () => {
    await get("go"); // everything else is queued behind it by now
    for (const tag of ["b", "c", "a"]) {
      for (let i = 0; i < n; i++) {
        const m = (await get(tag))!;
        if (m[0] !== i) throw new Error(`tag ${tag}: expected ${i}, got ${String(m[0])}`);
      }
    }
    if (box().size !== 0) throw new Error(`${box().size} messages left`);
    // The same interleaving, arriving while the port waits.
    const waited = (async () => {
      for (let i = 0; i < n; i++) if ((await get("w"))![0] !== i) throw new Error(`w: out of order at ${i}`);
    })();
    snd(helperPort, "start");
    await waited;
    for (let i = 0; i < n; i++) if ((await get("x"))![0] !== i) throw new Error(`x: out of order at ${i}`);
    return ["ok"];
  });
  const helperPort = port(() => {
    for (let i = 0; i < n; i++) {
      snd(p, "x", i);
      snd(p, "w", i);
    }
  });
  const died = portDeath(p, 5000);
  for (let i = 0; i < n; i++) {
    snd(p, "a", i);
    snd(p, "b", i);
    snd(p, "c", i);
  }
  snd(p, "go");
  assert.equal(await died, ["ok"]);
  kil(helperPort);
});

test("get - with a timeout, resolves undefined when no message comes, and leaves no timer", async () => {
  const r = await inPort(async (self) => {
    const before = activeTimers();
    snd(self, "other", 1);
    const got = await get("x", 0.001);
    return { got, timers: activeTimers() - before, pending: box().pending, size: box().size };
  });
  assert.equal(r, { got: undefined, timers: 0, pending: 0, size: 1 });
});

test("get - timeout 0 takes a message only if it is already queued", async () => {
  const r = await inPort(async (self) => {
    snd(self, "x", 1);
    snd(self, "sync");
    await get("sync"); // "x" is queued now
    const queued = await get("x", 0);
    const before = activeTimers();
    const polled = get("x", 0);
    const afterCall = { timers: activeTimers() - before, pending: box().pending };
    snd(self, "x", 2); // arrives later: must not satisfy the poll above
    const missed = await polled;
    const later = await get("x");
    return { queued, afterCall, missed, later };
  });
  assert.equal(r, { queued: [1], afterCall: { timers: 0, pending: 0 }, missed: undefined, later: [2] });
});

test("get - without a timeout waits for ever (no timer) until a message comes", async () => {
  const r = await inPort(async (self) => {
    const before = activeTimers();
    const waiting = get("late");
    const timersWhileWaiting = activeTimers() - before;
    await get("nothing", 0.02); // let time pass: a timed wait of our own expires meanwhile
    const stillPending = await isPending(waiting);
    snd(self, "late", "finally");
    return { timersWhileWaiting, stillPending, got: await waiting };
  });
  assert.equal(r, { timersWhileWaiting: 0, stillPending: true, got: ["finally"] });
});

test("get - a bad tag or wait argument rejects with a TypeError, even with a message queued", async () => {
  const r = await inPort(async (self) => {
    snd(self, "x", 1);
    snd(self, "sync");
    await get("sync"); // everything sent before it is queued now
    const errors = [
      await settled(get(1 as unknown as string)),
      await settled(get("x", -1)),
      await settled(get("x", Number.NaN)),
      await settled(get("x", "5" as unknown as number)),
      await settled(get("x", { signal: "nope" as unknown as AbortSignal })),
    ];
    return { errors, size: box().size };
  });
  for (const [state, err] of r.errors) {
    assert.is(state, "rejected");
    assert.instance(err, TypeError);
  }
  assert.match(String(r.errors[1][1]), /'timeout'/);
  assert.is(r.size, 1, "the queued message is still there");
});

// ---- the ways a wait can end, for get and getCond ------------------------------------------

interface WaitKind {
  name: string;
  /** Starts a wait for the message ["x", 1] with the given options. */
  wait(opts: { timeout?: number; signal?: AbortSignal }): Promise<unknown>;
  /** What that wait resolves to when ["x", 1] comes. */
  expected: unknown;
}

const kinds: WaitKind[] = [
  { name: "get", wait: (opts) => get("x", opts), expected: [1] },
  { name: "getCond", wait: (opts) => getCond((m) => m[0] === "x", opts), expected: ["x", 1] },
];

for (const kind of kinds) {
  test(`${kind.name} - a matching message ends the wait and releases its timer and abort listener`, async () => {
    const ctl = new AbortController();
    const r = await inPort(async (self) => {
      const before = activeTimers();
      const waiting = kind.wait({ timeout: 5, signal: ctl.signal });
      const during = { timers: activeTimers() - before, listeners: getEventListeners(ctl.signal, "abort").length, pending: box().pending };
      snd(self, "other", 0); // not a match: stays queued, the wait goes on
      snd(self, "x", 1);
      const got = await waiting;
      return { during, got, timers: activeTimers() - before, listeners: getEventListeners(ctl.signal, "abort").length, pending: box().pending, size: box().size };
    });
    assert.equal(r, { during: { timers: 1, listeners: 1, pending: 1 }, got: kind.expected, timers: 0, listeners: 0, pending: 0, size: 1 });
  });

  test(`${kind.name} - a timeout ends the wait with undefined and leaves no timer, listener or waiter`, async () => {
    const ctl = new AbortController();
    const r = await inPort(async () => {
      const before = activeTimers();
      const got = await kind.wait({ timeout: 0.001, signal: ctl.signal });
      return { got, timers: activeTimers() - before, listeners: getEventListeners(ctl.signal, "abort").length, pending: box().pending };
    });
    assert.equal(r, { got: undefined, timers: 0, listeners: 0, pending: 0 });
  });

  test(`${kind.name} - an abort ends the wait with signal.reason and leaves no timer, listener or waiter`, async () => {
    const ctl = new AbortController();
    const reason = new Error("changed my mind");
    const r = await inPort(async (self) => {
      const before = activeTimers();
      const waiting = settled(kind.wait({ timeout: 5, signal: ctl.signal }));
      ctl.abort(reason);
      const outcome = await waiting;
      const left = { timers: activeTimers() - before, listeners: getEventListeners(ctl.signal, "abort").length, pending: box().pending };
      snd(self, "x", 1); // comes after the abort: no stale waiter may swallow it
      return { outcome, left, next: await get("x", 0.5) };
    });
    assert.equal(r.outcome[0], "rejected");
    assert.ok(r.outcome[1] === reason, "rejects with the signal's own reason");
    assert.equal(r.left, { timers: 0, listeners: 0, pending: 0 });
    assert.equal(r.next, [1]);
  });

  test(`${kind.name} - an abort from another port's code while waiting without a timeout`, async () => {
    const ctl = new AbortController();
    const aborter = port(() => ctl.abort(new Error("from elsewhere")));
    const r = await inPort(async () => {
      const waiting = settled(kind.wait({ signal: ctl.signal }));
      snd(aborter, "abort");
      return waiting;
    });
    assert.is(r[0], "rejected");
    assert.match(String(r[1]), /from elsewhere/);
    assert.is(getEventListeners(ctl.signal, "abort").length, 0);
    kil(aborter);
  });

  test(`${kind.name} - an already-aborted signal rejects at once, even with a match queued (which stays)`, async () => {
    const r = await inPort(async (self) => {
      snd(self, "x", 1);
      snd(self, "sync");
      await get("sync");
      const signal = AbortSignal.abort(new Error("too late"));
      const outcome = await settled(kind.wait({ signal }));
      const outcomeWithTimeout = await settled(kind.wait({ signal, timeout: 5 }));
      return { outcome, outcomeWithTimeout, size: box().size, still: await get("x", 0) };
    });
    assert.is(r.outcome[0], "rejected");
    assert.match(String(r.outcome[1]), /too late/);
    assert.is(r.outcomeWithTimeout[0], "rejected");
    assert.is(r.size, 1);
    assert.equal(r.still, [1]);
  });

  test(`${kind.name} - the port's death ends the wait with PortKilledError and leaves no timer or listener`, async () => {
    const ctl = new AbortController();
    const k = killer("shot", 7);
    let before = 0;
    const r = deferred<unknown>();
    // A plain monitor: a waitFor deadline ending meanwhile would upset the timer count.
    const died = deferred<unknown[]>();
    const p = portAsync(async (self) => {
      before = activeTimers();
      const waiting = kind.wait({ timeout: 5, signal: ctl.signal });
      snd(k, self);
      try {
        await waiting;
        r.resolve("resolved?");
      } catch (err) {
        r.resolve({ err, timers: activeTimers() - before, listeners: getEventListeners(ctl.signal, "abort").length });
      }
    });
    mon(p, (...reason: unknown[]) => died.resolve(reason));
    const { err, timers, listeners } = (await waitFor(r.promise)) as { err: PortKilledError; timers: number; listeners: number };
    assert.instance(err, PortKilledError);
    assert.equal(err.reason, ["shot", 7]);
    assert.is(err.port, p);
    assert.equal({ timers, listeners }, { timers: 0, listeners: 0 });
    assert.equal(await waitFor(died.promise), ["shot", 7]);
    kil(k);
  });
}

test("get - 100,000 get(tag, 0) polls leave no timer, listener or waiter behind", async () => {
  const r = await inPort(async (self) => {
    snd(self, "other", 1);
    await get("other");
    snd(self, "kept", 1);
    snd(self, "sync");
    await get("sync"); // everything sent before it is queued now
    const before = activeTimers();
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if ((await get("x", 0)) !== undefined) hits++;
    return { hits, timers: activeTimers() - before, pending: box().pending, size: box().size };
  }, 5000);
  assert.equal(r, { hits: 0, timers: 0, pending: 0, size: 1 });
});

test("get - 1,000 timed-out waits leave no timer, listener or waiter behind", async () => {
  const ctl = new AbortController();
  setMaxListeners(200, ctl.signal); // 100 waits share it at a time
  const r = await inPort(async () => {
    const before = activeTimers();
    let peak = { pending: 0, listeners: 0, timers: 0 };
    const results: unknown[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const waits: Promise<unknown>[] = [];
      for (let i = 0; i < 100; i++) {
        const opts = { timeout: 0.001, signal: ctl.signal };
        waits.push(i % 2 === 0 ? get(`t${i}`, opts) : getCond((m) => m[0] === "never", opts));
      }
      if (batch === 0) peak = { pending: box().pending, listeners: getEventListeners(ctl.signal, "abort").length, timers: activeTimers() - before };
      results.push(...(await Promise.all(waits)));
    }
    return {
      peak,
      allUndefined: results.length === 1000 && results.every((x) => x === undefined),
      timers: activeTimers() - before,
      listeners: getEventListeners(ctl.signal, "abort").length,
      pending: box().pending,
    };
  }, 5000);
  assert.equal(r, { peak: { pending: 100, listeners: 100, timers: 100 }, allUndefined: true, timers: 0, listeners: 0, pending: 0 });
});

// ---- getCond ---------------------------------------------------------------------------

test("getCond - without a predicate takes the next whole message in arrival order", async () => {
  const sent: Message[] = [["a", 1], [42], [], ["b", { x: 1 }], ["a", 2]];
  const r = await inPort(async (self) => {
    for (const m of sent) snd(self, ...m);
    const out: Message[] = [];
    for (let i = 0; i < sent.length; i++) out.push((await getCond())!);
    return out;
  });
  assert.equal(r, sent);
});

test("getCond - returns the first matching whole message and leaves the others queued in order", async () => {
  const r = await inPort(async (self) => {
    for (const m of [["data", "p1", "a"], ["data", "p2", "b"], ["write_file", "p3"], ["data", "p2", "c"]]) snd(self, ...m);
    snd(self, "sync");
    await get("sync"); // everything sent before it is queued now
    const hit = await getCond((m) => m[0] === "data" && m[1] === "p2");
    const rest: Message[] = [];
    for (let m = await getCond(undefined, 0); m !== undefined; m = await getCond(undefined, 0)) rest.push(m);
    return { hit, rest };
  });
  assert.equal(r, { hit: ["data", "p2", "b"], rest: [["data", "p1", "a"], ["write_file", "p3"], ["data", "p2", "c"]] });
});

test("getCond - a truthy non-function verdict resolves to the message itself", async () => {
  const r = await inPort(async (self) => {
    snd(self, "n", 5);
    return getCond((m) => (m[1] as number) * 2);
  });
  assert.equal(r, ["n", 5]);
});

test("getCond - switch form: resolves to the awaited result of the function pred returns", async () => {
  const r = await inPort(async (self) => {
    snd(self, "sync-handler", 2);
    snd(self, "async-handler", 3);
    const a = await getCond((m) => m[0] === "sync-handler" && (([, n]: Message) => (n as number) * 10));
    const b = await getCond((m) =>
      m[0] === "async-handler" &&
      (async ([, n]: Message) => {
        await delay(1);
        return { tripled: (n as number) * 3, self: SELF() === self };
      }),
    );
    return [a, b];
  });
  assert.equal(r, [20, { tripled: 9, self: true }]);
});

test("getCond - switch form: a loop can tell from the result whether to go on", async () => {
  const r = await inPort(async (self) => {
    const written: unknown[] = [];
    for (const m of [["data", "a"], ["noise"], ["data", "b"], ["close"], ["data", "after"]]) snd(self, ...m);
    const handle = (m: Message): ((m: Message) => boolean | Promise<boolean>) | undefined => {
      if (m[0] === "data") return async ([, chunk]) => (written.push(chunk), true);
      if (m[0] === "close") return () => false;
      return undefined; // "noise" stays queued
    };
    let rounds = 0;
    while (await getCond(handle)) rounds++;
    return { written, rounds, left: [await getCond(undefined, 0), await getCond(undefined, 0), await getCond(undefined, 0)] };
  });
  assert.equal(r, { written: ["a", "b"], rounds: 2, left: [["noise"], ["data", "after"], undefined] });
});

test("getCond - a throwing predicate rejects the call and leaves the message queued", async () => {
  const r = await inPort(async (self) => {
    snd(self, "weird", 1);
    snd(self, "sync");
    await get("sync"); // everything sent before it is queued now
    const queuedCase = await settled(
      getCond((m) => {
        throw new Error(`unexpected message ${String(m[0])}`);
      }),
    );
    const waiting = settled(
      getCond((m) => {
        if (m[0] === "weird2") throw new Error("unexpected while waiting");
        return false;
      }),
    );
    snd(self, "weird2");
    const waitingCase = await waiting;
    return { queuedCase, waitingCase, left: [await getCond(undefined, 0), await getCond(undefined, 0)] };
  });
  assert.is(r.queuedCase[0], "rejected");
  assert.match(String(r.queuedCase[1]), /unexpected message weird/);
  assert.is(r.waitingCase[0], "rejected");
  assert.match(String(r.waitingCase[1]), /unexpected while waiting/);
  assert.equal(r.left, [["weird", 1], ["weird2"]]);
});

test("getCond - a predicate or switch handler throwing uncaught kills the port with die", async () => {
  const byPred = portAsync(async () => {
    await getCond((m) => {
      throw new Error(`unexpected message ${String(m[0])}`);
    });
  });
  const byHandler = portAsync(async () => {
    await getCond(() => () => {
      throw new Error("handler failed");
    });
  });
  const died = [portDeath(byPred), portDeath(byHandler)];
  snd(byPred, "surprise");
  snd(byHandler, "anything");
  assert.equal(await died[0], ["die", "unexpected message surprise"]);
  assert.equal(await died[1], ["die", "handler failed"]);
});

test("getCond - a waiting getCond tests each message once: K queued + M arriving = K + M calls", async () => {
  const K = 50;
  const M = 200;
  const waiting = deferred<void>();
  let calls = 0;
  const result = deferred<unknown>();
  const p = portAsync(async () => {
    await get("go"); // the K messages are queued behind it
    const hit = await getCond((m) => {
      calls++;
      // The K queued ones are tested synchronously, and the waiter is in place before
      // the spec's continuation sends the M new ones.
      if (calls === K) waiting.resolve();
      return m[0] === "last";
    });
    result.resolve({ hit, size: box().size, calls });
  });
  for (let i = 0; i < K; i++) snd(p, "old", i);
  snd(p, "go");
  await waitFor(waiting.promise, 2000, "the K queued messages to be tested");
  for (let i = 0; i < M - 1; i++) snd(p, "new", i);
  snd(p, "last");
  assert.equal(await waitFor(result.promise), { hit: ["last"], size: K + M - 1, calls: K + M });
  kil(p);
});

test("getCond - a bad predicate or wait argument rejects with a TypeError", async () => {
  const r = await inPort(async () => [
    await settled(getCond("nope" as unknown as () => boolean)),
    await settled(getCond(undefined, -1)),
    await settled(getCond(() => true, Number.POSITIVE_INFINITY)),
  ]);
  for (const [state, err] of r) {
    assert.is(state, "rejected");
    assert.instance(err, TypeError);
  }
});

// ---- lifecycle -------------------------------------------------------------------------

test("lifecycle - returning kills the port normally (monitors get an empty reason)", async () => {
  const p = portAsync(async () => {
    await delay(1);
  });
  assert.equal(await portDeath(p), []);
  assert.not.ok(isLivePort(p));
});

test("lifecycle - returning an array kills the port with that array as the reason", async () => {
  const p = portAsync(async () => {
    await delay(1);
    return ["finished", 42];
  });
  const sync = portAsync(() => ["sync", "result"]);
  const nonArray = portAsync(async () => "a string is not a reason");
  const died = [portDeath(p), portDeath(sync), portDeath(nonArray)];
  assert.equal(await died[0], ["finished", 42]);
  assert.equal(await died[1], ["sync", "result"]);
  assert.equal(await died[2], []);
});

test("lifecycle - throwing kills the port with ['die', message]", async () => {
  const p = portAsync(async () => {
    await delay(1);
    throw new Error("it broke");
  });
  const sync = portAsync(() => {
    throw new Error("broke at once");
  });
  const notAnError = portAsync(async () => {
    throw "a string"; // eslint-disable-line no-throw-literal
  });
  const died = [portDeath(p), portDeath(sync), portDeath(notAnError)];
  assert.equal(await died[0], ["die", "it broke"]);
  assert.equal(await died[1], ["die", "broke at once"]);
  assert.equal(await died[2], ["die", "a string"]);
});

test("lifecycle - a kill from outside rejects the pending get with PortKilledError, so finally runs", async () => {
  const ready = deferred<void>();
  const caught = deferred<unknown>();
  const steps: string[] = [];
  const p = portAsync(async () => {
    try {
      ready.resolve();
      await get("never");
      steps.push("resolved?");
    } catch (err) {
      caught.resolve(err);
      throw err;
    } finally {
      steps.push("finally");
    }
  });
  const died = portDeath(p);
  await waitFor(ready.promise);
  kil(p, "stop", { code: 1 });
  const err = (await waitFor(caught.promise)) as PortKilledError;
  assert.instance(err, PortKilledError);
  assert.is(err.code, "ERR_PORT_KILLED");
  assert.is(err.port, p);
  assert.equal(err.reason, ["stop", { code: 1 }]);
  assert.equal(await died, ["stop", { code: 1 }], "rethrowing the error does not turn the reason into die");
  await flushRunQueue();
  assert.equal(steps, ["finally"]);
});

test("lifecycle - a kill from outside rejects a pending getCond; a normal kill gives an empty reason", async () => {
  const ready = deferred<void>();
  const caught = deferred<unknown>();
  const p = portAsync(async () => {
    ready.resolve();
    await getCond((m) => m[0] === "never").catch((err: unknown) => caught.resolve(err));
  });
  await waitFor(ready.promise);
  kil(p);
  const err = (await waitFor(caught.promise)) as PortKilledError;
  assert.instance(err, PortKilledError);
  assert.equal(err.reason, []);
  assert.is(err.port, p);
});

test("lifecycle - after the kill, every get and getCond rejects at once", async () => {
  const ready = deferred<void>();
  const later = deferred<unknown[]>();
  const p = portAsync(async () => {
    ready.resolve();
    try {
      await get("never");
    } catch {
      const calls = [get("x"), get("x", 0), get("x", 5), getCond(), getCond(() => true, 5)];
      const pending = await Promise.all(calls.map((c) => isPending(c)));
      later.resolve([pending, await Promise.all(calls.map(settled))]);
    }
  });
  const died = portDeath(p);
  await waitFor(ready.promise);
  kil(p, "gone");
  assert.equal(await died, ["gone"]);
  const [pending, outcomes] = (await waitFor(later.promise)) as [boolean[], [string, unknown][]];
  assert.equal(pending, [false, false, false, false, false]);
  for (const [state, err] of outcomes) {
    assert.is(state, "rejected");
    assert.instance(err, PortKilledError);
    assert.equal((err as PortKilledError).reason, ["gone"]);
  }
});

test("lifecycle - the port's signal (portSignal) aborts when it is killed", async () => {
  const aborted = deferred<unknown>();
  const timerOutcome = deferred<unknown>();
  const p = portAsync(async () => {
    const signal = portSignal();
    signal.addEventListener("abort", () => aborted.resolve(signal.reason));
    // Work handed the signal stops with the port.
    void settled(delay(60_000, undefined, { signal })).then(timerOutcome.resolve);
    await get("never");
  });
  const died = portDeath(p);
  await flushRunQueue();
  kil(p, "cancelled");
  assert.equal(await died, ["cancelled"]);
  const reason = (await waitFor(aborted.promise)) as PortKilledError;
  assert.instance(reason, PortKilledError);
  assert.equal(reason.reason, ["cancelled"]);
  const [state] = (await waitFor(timerOutcome.promise)) as [string];
  assert.is(state, "rejected");
});

// ---- port context ----------------------------------------------------------------------

test("context - get, getCond and messages outside an async port's function throw PortContextError", () => {
  for (const call of [() => get("x"), () => getCond(), () => getCond(() => true, 1), () => messages()]) {
    throwsSync(call, { instanceOf: PortContextError, message: "async port's own function" });
  }
});

test("context - get from a plain rcv callback of a port without a mailbox throws PortContextError", async () => {
  const got = deferred<unknown>();
  const p = port(() => {
    try {
      get("x").catch(() => {});
      got.resolve("no error");
    } catch (err) {
      got.resolve(err);
    }
  });
  snd(p, "go");
  const err = await waitFor(got.promise);
  assert.instance(err, PortContextError);
  assert.match((err as Error).message, /async port's own function/);
  kil(p);
});

test("context - get from a tagged rcv callback of an async port throws PortContextError", async () => {
  const got = deferred<unknown>();
  const p = portAsync(() => get("never"));
  rcv(p, "cb", () => {
    try {
      get("x").catch(() => {});
      got.resolve("no error");
    } catch (err) {
      got.resolve(err);
    }
  });
  snd(p, "cb");
  assert.instance(await waitFor(got.promise), PortContextError);
  kil(p);
});

test("context - get inside peval of a port without a mailbox, from an async port, throws PortContextError", async () => {
  const other = port();
  const err = await inPort(async () => {
    let caught: unknown;
    peval(other, () => {
      try {
        get("x").catch(() => {});
      } catch (e) {
        caught = e;
      }
    });
    return caught;
  });
  assert.instance(err, PortContextError);
  assert.match((err as Error).message, /no async mailbox/);
  kil(other);
});

// ---- messages() --------------------------------------------------------------------------

test("messages - yields whole messages in arrival order", async () => {
  const sent: Message[] = [["a", 1], ["b", 2], [3], ["a", 4]];
  const r = await inPort(async (self) => {
    for (const m of sent) snd(self, ...m);
    const out: Message[] = [];
    for await (const m of messages()) {
      out.push(m);
      if (out.length === sent.length) break;
    }
    return out;
  });
  assert.equal(r, sent);
});

test("messages - with a tag yields those messages without the tag and leaves the others queued", async () => {
  const r = await inPort(async (self) => {
    for (const m of [["a", 1], ["b", 1], ["a", 2], ["b", 2], ["a", 3]]) snd(self, ...m);
    const out: Message[] = [];
    for await (const m of messages("a")) {
      out.push(m);
      if (out.length === 3) break;
    }
    return { out, rest: [await getCond(undefined, 0), await getCond(undefined, 0)] };
  });
  assert.equal(r, { out: [[1], [2], [3]], rest: [["b", 1], ["b", 2]] });
});

test("messages - a second concurrent messages() throws", async () => {
  const r = await inPort(async () => {
    const first = messages();
    const second = (() => {
      try {
        messages("x");
        return "no error";
      } catch (err) {
        return err;
      }
    })();
    await first.return!();
    return second;
  });
  assert.instance(r, Error);
  assert.match((r as Error).message, /one iterator at a time/);
});

test("messages - break releases the reader and leaves no waiter; a new messages() then works", async () => {
  const r = await inPort(async (self) => {
    for (let i = 1; i <= 4; i++) snd(self, "m", i);
    const first: unknown[] = [];
    for await (const m of messages()) {
      first.push(m[1]);
      if (first.length === 2) break;
    }
    const pendingAfterBreak = box().pending;
    const second: unknown[] = [];
    for await (const m of messages("m")) {
      second.push(m[0]);
      if (second.length === 2) break;
    }
    return { first, pendingAfterBreak, second };
  });
  assert.equal(r, { first: [1, 2], pendingAfterBreak: 0, second: [3, 4] });
});

test("messages - await using releases the reader at the end of the block", async () => {
  const r = await inPort(async (self) => {
    snd(self, "m", 1);
    snd(self, "m", 2);
    let first: unknown;
    {
      await using it = messages();
      first = (await it.next()).value;
    }
    const it2 = messages(); // would throw if the first reader were still registered
    const second = (await it2.next()).value;
    await it2.return!();
    return [first, second];
  });
  assert.equal(r, [["m", 1], ["m", 2]]);
});

test("messages - killing the port ends the loop with PortKilledError", async () => {
  const seen: Message[] = [];
  const two = latch(2, 2000, "two messages through the loop");
  const ended = deferred<unknown>();
  const p = portAsync(async () => {
    try {
      for await (const m of messages()) {
        seen.push(m);
        two.countDown();
      }
      ended.resolve("loop ended without an error");
    } catch (err) {
      ended.resolve(err);
    }
  });
  const died = portDeath(p);
  snd(p, "a", 1);
  snd(p, "b", 2);
  await two.wait();
  kil(p, "enough");
  assert.equal(await died, ["enough"]);
  const err = await waitFor(ended.promise);
  assert.instance(err, PortKilledError);
  assert.equal((err as PortKilledError).reason, ["enough"]);
  assert.equal(seen, [["a", 1], ["b", 2]]);
});

// ---- pevalAsync --------------------------------------------------------------------------

test("pevalAsync - runs fn with SELF() set across awaits and resolves to its result", async () => {
  const p = port();
  const r = await waitFor(
    pevalAsync(p, async () => {
      const selves = [SELF()];
      await delay(1);
      selves.push(SELF());
      await new Promise((resolve) => setImmediate(resolve));
      selves.push(SELF());
      return selves;
    }),
  );
  assert.equal(r, [p, p, p]);
  assert.ok(isLivePort(p), "a result does not kill the port");
  kil(p);
});

test("pevalAsync - from another port's callback, SELF() is the target even before the first await", async () => {
  const target = port();
  const seen = deferred<string[]>();
  const caller = port(() => {
    void pevalAsync(target, async () => {
      const selves = [SELF()];
      await null;
      selves.push(SELF());
      seen.resolve(selves);
    });
  });
  snd(caller, "go");
  assert.equal(await waitFor(seen.promise), [target, target]);
  kil(target);
  kil(caller);
});

test("pevalAsync - a throw or a rejection kills the port with die and resolves undefined", async () => {
  const a = port();
  const b = port();
  const diedA = portDeath(a);
  const diedB = portDeath(b);
  const ra = await waitFor(
    pevalAsync(a, async () => {
      await delay(1);
      throw new Error("async failure");
    }),
  );
  const rb = await waitFor(
    pevalAsync(b, () => {
      throw new Error("sync failure");
    }),
  );
  assert.is(ra, undefined);
  assert.is(rb, undefined);
  assert.equal(await diedA, ["die", "async failure"]);
  assert.equal(await diedB, ["die", "sync failure"]);
});

test("pevalAsync - on a port with a mailbox, fn can use get", async () => {
  const p = portAsync(() => get("stop"));
  const r = await waitFor(
    pevalAsync(p, async () => {
      snd(SELF(), "data", 1);
      return get("data", 1);
    }),
  );
  assert.equal(r, [1]);
  const died = portDeath(p);
  snd(p, "stop");
  assert.equal(await died, []);
});

test("pevalAsync - on a port without a mailbox, get throws PortContextError (and kills it with die)", async () => {
  const p = port();
  const died = portDeath(p);
  const r = await waitFor(pevalAsync(p, () => get("x")));
  assert.is(r, undefined);
  const reason = await died;
  assert.is(reason[0], "die");
  assert.match(String(reason[1]), /no async mailbox/);
});

test("pevalAsync - bad arguments reject with a TypeError", async () => {
  await rejects(() => pevalAsync("no-hash", async () => {}), { instanceOf: TypeError, message: "'port'" });
  await rejects(() => pevalAsync(port(), "nope" as unknown as () => void), { instanceOf: TypeError, message: "'fn'" });
});

// ---- talking to callback ports -------------------------------------------------------

test("interop - a callback port and an async port ping-pong 10,000 round trips (callback side asks)", async () => {
  const n = 10_000;
  const server = portAsync(async () => {
    for (;;) {
      const [from, i] = (await get("ping"))!;
      snd(from as string, "pong", i);
    }
  });
  const done = deferred<number>();
  let expected = 0;
  const client = rcv(port(), "pong", (i: number) => {
    if (i !== expected) done.reject(new Error(`pong ${i}, expected ${expected}`));
    expected++;
    if (expected === n) done.resolve(expected);
    else snd(server, "ping", client, expected);
  });
  snd(server, "ping", client, 0);
  assert.is(await waitFor(done.promise, 5000, `${n} round trips`), n);
  kil(server);
  kil(client);
});

test("interop - an async port asks a callback port 10,000 times and gets every answer", async () => {
  const n = 10_000;
  const server = rcv(port(), "double", (from: string, i: number) => snd(from, "doubled", i, i * 2));
  const r = await inPort(async (self) => {
    for (let i = 0; i < n; i++) {
      snd(server, "double", self, i);
      const [j, d] = (await get("doubled"))!;
      if (j !== i || d !== i * 2) throw new Error(`round ${i}: got ${String(j)}, ${String(d)}`);
    }
    return n;
  }, 5000);
  assert.is(r, n);
  kil(server);
});

test("interop - two async ports ping-pong 100,000 messages", async () => {
  const n = 100_000;
  const ping = (peer: () => string, first: boolean) => async (self: string): Promise<unknown[]> => {
    if (first) snd(peer(), "ball", self, 0);
    for (;;) {
      const [from, count] = (await get("ball"))! as [string, number];
      if (count >= n - 1) return ["finished", count];
      snd(from, "ball", self, count + 1);
      if (count + 1 >= n - 1) return ["served last", count + 1];
    }
  };
  const b: string = portAsync(ping(() => a, false));
  const a: string = portAsync(ping(() => b, true));
  const [da, db] = [portDeath(a, 10_000), portDeath(b, 10_000)];
  const reasons = [await da, await db];
  // n messages in all: 0 .. n-1; whoever sends n-1 stops, the other receives it and stops.
  const counts = reasons.map((r) => r[1]).sort();
  assert.equal(counts, [n - 1, n - 1]);
  assert.equal(reasons.map((r) => r[0]).sort(), ["finished", "served last"]);
});

test.run();
