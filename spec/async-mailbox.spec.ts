// The mailbox data structures alone: lib/async/mailbox.ts (Mailbox, Waiter) and the
// queue under it, lib/async/message-queue.ts.
// No ports, no run queue: messages are pushed and taken directly.
import { getEventListeners } from "node:events";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PortKilledError } from "../lib/errors.ts";
import { Mailbox, Waiter } from "../lib/async/mailbox.ts";
import type { Message } from "../lib/kernel/ports.ts";
import { timer as startTimer } from "../lib/kernel/timers.ts";
import { activeTimers, deferred, rejects, waitFor } from "./helpers.ts";

/** The private parts of a mailbox's queue (null when nothing is queued), for white-box checks. */
function queueOf(box: Mailbox): { slots: unknown[]; byTag: unknown } | null {
  return (box as unknown as { queue: { slots: unknown[]; byTag: unknown } | null }).queue;
}

/** The queue's array of slots, to check that a rebuild or a prefix drop really happened. */
function slotCount(box: Mailbox): number {
  return queueOf(box)?.slots.length ?? 0;
}

/** A waiter plus a promise of how it ended. */
function waiter(match: Waiter["match"]): { w: Waiter; result: Promise<unknown> } {
  const d = deferred<unknown>();
  return { w: new Waiter(match, d.resolve, d.reject), result: d.promise };
}

/** Takes every message with takeNext. */
function drain(box: Mailbox): Message[] {
  const out: Message[] = [];
  for (let m = box.takeNext(); m !== undefined; m = box.takeNext()) out.push(m);
  return out;
}

// ---- takeTag ---------------------------------------------------------------------------

test("mailbox - takeTag returns the whole messages of one tag in arrival order", () => {
  const box = new Mailbox("n#p");
  for (let i = 0; i < 5; i++) {
    box.push(["a", i]);
    box.push(["b", i]);
  }
  assert.is(box.size, 10);
  for (let i = 0; i < 5; i++) assert.equal(box.takeTag("b"), ["b", i]);
  assert.is(box.takeTag("b"), undefined);
  assert.is(box.size, 5);
  assert.equal(drain(box), [0, 1, 2, 3, 4].map((i) => ["a", i]));
});

test("mailbox - takeTag of an unknown tag, or on an empty mailbox, returns undefined", () => {
  const box = new Mailbox("n#p");
  assert.is(box.takeTag("x"), undefined);
  box.push(["a", 1]);
  assert.is(box.takeTag("x"), undefined);
  assert.is(box.size, 1);
});

test("mailbox - messages without a string tag are queued but reachable only by takeNext and takeFirst", () => {
  const box = new Mailbox("n#p");
  box.push([]);
  box.push([42, "x"]);
  box.push([null]);
  box.push(["t"]);
  assert.is(box.takeTag("42"), undefined);
  assert.is(box.takeTag("undefined"), undefined);
  assert.is(box.takeTag("null"), undefined);
  assert.equal(box.takeFirst((m) => m[0] === 42), [[42, "x"], true]);
  assert.equal(drain(box), [[], [null], ["t"]]);
});

test("mailbox - holes left by any way of taking are skipped by the other ways", () => {
  const box = new Mailbox("n#p");
  const msgs: Message[] = [["a", 0], ["b", 0], ["a", 1], ["c", 0], ["b", 1], ["a", 2], ["c", 1]];
  for (const m of msgs) box.push(m);
  assert.equal(box.takeTag("a"), ["a", 0]); // the head
  assert.equal(box.takeFirst((m) => m[0] === "a"), [["a", 1], true]); // a middle one
  assert.equal(box.takeNext(), ["b", 0]);
  assert.equal(box.takeTag("c"), ["c", 0]);
  assert.equal(box.takeTag("a"), ["a", 2]); // skips the hole takeFirst left in a's queue
  assert.is(box.takeTag("a"), undefined);
  assert.equal(box.takeNext(), ["b", 1]); // skips the holes c and a left
  assert.equal(box.takeTag("c"), ["c", 1]);
  assert.is(box.size, 0);
  assert.is(box.takeNext(), undefined);
});

test("mailbox - a mailbox emptied and refilled keeps tag indexes right", () => {
  const box = new Mailbox("n#p");
  for (let round = 0; round < 3; round++) {
    box.push(["a", round, 0]);
    box.push(["b", round]);
    box.push(["a", round, 1]);
    assert.equal(box.takeTag("a"), ["a", round, 0]);
    assert.equal(box.takeNext(), ["b", round]);
    assert.equal(box.takeTag("a"), ["a", round, 1]);
    assert.is(box.size, 0);
  }
});

test("mailbox - order within a tag survives a long tag queue taken half way (queue trimmed)", () => {
  const box = new Mailbox("n#p");
  for (let i = 0; i < 1000; i++) {
    box.push(["a", i]);
    box.push(["keep", i]); // keeps the slots from being dropped wholesale
  }
  for (let i = 0; i < 600; i++) assert.equal(box.takeTag("a"), ["a", i]);
  for (let i = 1000; i < 1100; i++) box.push(["a", i]);
  for (let i = 600; i < 1100; i++) assert.equal(box.takeTag("a"), ["a", i]);
  assert.is(box.takeTag("a"), undefined);
  assert.is(box.size, 1000);
  assert.equal(box.takeNext(), ["keep", 0]);
});

// ---- rebuilding ------------------------------------------------------------------------

test("mailbox - taking a long prefix in order drops it, and tag indexes stay correct", () => {
  const box = new Mailbox("n#p");
  const n = 6000;
  for (let i = 0; i < n; i++) box.push([i % 3 === 0 ? "x" : "y", i]);
  // Take the first 4000 in arrival order: far more than 1024 holes at the head.
  for (let i = 0; i < 4000; i++) assert.equal(box.takeNext(), [i % 3 === 0 ? "x" : "y", i]);
  assert.ok(slotCount(box) < n, `the taken prefix was dropped (slots: ${slotCount(box)})`);
  // Tag queues still hold positions of the dropped prefix: they must be skipped.
  const xs: number[] = [];
  for (let m = box.takeTag("x"); m !== undefined; m = box.takeTag("x")) xs.push(m[1] as number);
  const expected: number[] = [];
  for (let i = 4000; i < n; i++) if (i % 3 === 0) expected.push(i);
  assert.equal(xs, expected);
  box.push(["x", n]);
  assert.equal(box.takeTag("x"), ["x", n]);
  const rest = drain(box).map((m) => m[1]);
  assert.equal(rest, Array.from({ length: n - 4000 }, (_, k) => 4000 + k).filter((i) => i % 3 !== 0));
});

test("mailbox - compaction with more than 1024 holes keeps order and tag indexes correct", () => {
  const box = new Mailbox("n#p");
  const tags = ["a", "b", "c"];
  const n = 6000;
  for (let i = 0; i < n; i++) box.push([tags[i % 3], i]);
  // Holes in the middle (the head, a's first message, stays): all of b, then c.
  for (let i = 1; i < n; i += 3) assert.equal(box.takeTag("b"), ["b", i]);
  assert.is(slotCount(box), n, "2000 holes but fewer than live messages: no rebuild yet");
  let i = 2;
  for (; i < 3600; i += 3) assert.equal(box.takeTag("c"), ["c", i]);
  assert.ok(slotCount(box) < n, `the holes were squeezed out (slots: ${slotCount(box)})`);
  // Both the remaining tag queues and arrival order are intact after the rebuild...
  box.push(["c", n]);
  box.push(["a", n + 1]);
  for (; i < n; i += 3) assert.equal(box.takeTag("c"), ["c", i]);
  assert.equal(box.takeTag("c"), ["c", n]);
  assert.is(box.takeTag("c"), undefined);
  assert.is(box.takeTag("b"), undefined);
  assert.equal(box.takeTag("a"), ["a", 0]);
  const rest = drain(box).map((m) => m[1]);
  const expected: number[] = [];
  for (let k = 3; k < n; k += 3) expected.push(k);
  expected.push(n + 1);
  assert.equal(rest, expected);
});

test("mailbox - random pushes and takes agree with a plain array model", () => {
  let seed = 12345; // mulberry32: deterministic, and its low bits are not periodic
  const rand = (n: number): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
  const tags = ["a", "b", "c", "d", 7, undefined];
  const box = new Mailbox("n#p");
  const model: Message[] = [];
  let next = 0;
  let shrinks = 0;
  for (let step = 0; step < 60_000; step++) {
    // Phases: mostly filling, then mostly taking, so the queue grows and shrinks a lot.
    const filling = Math.floor(step / 10_000) % 2 === 0;
    const op = rand(10);
    const before = slotCount(box);
    if (op < (filling ? 7 : 3)) {
      const tag = tags[rand(tags.length)];
      const m: Message = tag === undefined ? [] : [tag, next++];
      box.push(m);
      model.push(m);
    } else if (op < 8) {
      const tag = tags[rand(4)] as string;
      const i = model.findIndex((m) => m[0] === tag);
      const got = box.takeTag(tag);
      if (i < 0) assert.is(got, undefined);
      else assert.ok(got === model.splice(i, 1)[0], `takeTag ${tag} at step ${step}`);
    } else if (op < 9) {
      const want = rand(3);
      const test = (m: Message): boolean => typeof m[1] === "number" && m[1] % 3 === want;
      const i = model.findIndex(test);
      const got = box.takeFirst(test);
      if (i < 0) assert.is(got, undefined);
      else assert.ok(got !== undefined && got[0] === model.splice(i, 1)[0], `takeFirst at step ${step}`);
    } else {
      const got = box.takeNext();
      assert.ok(got === model.shift(), `takeNext at step ${step}`);
    }
    assert.is(box.size, model.length);
    if (slotCount(box) < before && box.size > 0) shrinks++;
  }
  assert.ok(shrinks > 2, `the run exercised rebuilds or prefix drops (${shrinks})`);
  const rest = drain(box);
  assert.is(rest.length, model.length);
  for (let i = 0; i < rest.length; i++) assert.ok(rest[i] === model[i]);
});

test("mailbox - tag queues dropped after many in-order takes and rebuilt on a miss keep every tag's order", () => {
  const box = new Mailbox("n#p");
  const indexed = (): boolean => (queueOf(box)?.byTag ?? null) !== null;
  const model: Message[] = [];
  let next = 0;
  let drops = 0;
  let builds = 0;
  const push = (): void => {
    // Mostly "a", sometimes a "b" to be taken out of order later.
    const m: Message = [next % 17 === 0 ? "b" : "a", next++];
    box.push(m);
    model.push(m);
  };
  const take = (tag: string): void => {
    const was = indexed();
    const i = model.findIndex((m) => m[0] === tag);
    const got = box.takeTag(tag);
    if (i < 0) assert.is(got, undefined);
    else assert.ok(got === model.splice(i, 1)[0], `takeTag ${tag} at message ${next}`);
    if (was && !indexed() && box.size > 0) drops++;
    if (!was && indexed()) builds++;
  };
  const other = (tag: unknown): string => (tag === "a" ? "b" : "a");
  for (let cycle = 0; cycle < 5; cycle++) {
    for (let i = 0; i < 2000; i++) push();
    // A few misses at the head build the queues; long in-order runs then drop them.
    for (let i = 0; i < 10; i++) take(other(model[0]![0]));
    for (let i = 0; i < 1500 && model.length > 0; i++) {
      push();
      take(model[0]![0] as string);
      if (i % 2 === 0) take(model[0]![0] as string);
    }
  }
  assert.ok(drops > 0 && builds > 1, `tag queues were dropped (${drops}) and built again (${builds})`);
  const rest = drain(box);
  assert.equal(rest, model);
});

// ---- takeFirst and takeNext ------------------------------------------------------------

test("mailbox - takeFirst takes the first accepted message with its verdict, testing each message once", () => {
  const box = new Mailbox("n#p");
  for (let i = 0; i < 10; i++) box.push(["m", i]);
  const seen: unknown[] = [];
  const handler = (): string => "handled";
  const hit = box.takeFirst((m) => {
    seen.push(m[1]);
    return m[1] === 6 ? handler : undefined;
  });
  assert.equal(seen, [0, 1, 2, 3, 4, 5, 6]);
  assert.ok(hit !== undefined);
  assert.equal(hit[0], ["m", 6]);
  assert.is(hit[1], handler);
  assert.equal(drain(box).map((m) => m[1]), [0, 1, 2, 3, 4, 5, 7, 8, 9]);
});

test("mailbox - takeFirst with no match tests each message once and leaves the queue as it was", () => {
  const box = new Mailbox("n#p");
  for (let i = 0; i < 5; i++) box.push(["m", i]);
  box.takeTag("m"); // a hole at the head is not tested
  let calls = 0;
  assert.is(
    box.takeFirst(() => {
      calls++;
      return 0;
    }),
    undefined,
  );
  assert.is(calls, 4);
  assert.equal(drain(box).map((m) => m[1]), [1, 2, 3, 4]);
});

/** Counts the reads of the mailbox's slots from now on (a proxy in front of its array). */
function countSlotReads(box: Mailbox): { readonly reads: number } {
  const holder = queueOf(box)!;
  const counter = { reads: 0 };
  holder.slots = new Proxy(holder.slots, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) counter.reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  return counter;
}

test("mailbox - what takeFirst reads depends on the messages in front, not on how many were taken before", () => {
  const box = new Mailbox("n#p");
  for (let i = 0; i < 100; i++) box.push(["other", i]);
  for (let i = 0; i < 30_000; i++) box.push(["wanted", i]);
  const wanted = (m: Message): boolean => m[0] === "wanted";
  // 20,000 takes leave 20,000 holes right behind the 100 others (too few to rebuild).
  for (let i = 0; i < 20_000; i++) assert.equal(box.takeFirst(wanted)?.[0], ["wanted", i]);
  const counter = countSlotReads(box);
  for (let i = 20_000; i < 20_010; i++) assert.equal(box.takeFirst(wanted)?.[0], ["wanted", i]);
  // Each scan: the 100 others, a hole or two, the match; 20,000 holes would be read otherwise.
  assert.ok(counter.reads < 10 * 110, `${counter.reads} slot reads for 10 scans`);
  assert.equal(box.takeTag("other"), ["other", 0]);
  assert.equal(box.takeNext(), ["other", 1]);
  assert.is(box.size, 30_100 - 20_012);
});

test("mailbox - a throwing test in takeFirst propagates and takes nothing", () => {
  const box = new Mailbox("n#p");
  box.push(["m", 1]);
  assert.throws(() =>
    box.takeFirst(() => {
      throw new Error("bad test");
    }),
  /bad test/);
  assert.is(box.size, 1);
});

test("mailbox - takeNext returns messages in arrival order, then undefined", () => {
  const box = new Mailbox("n#p");
  const msgs: Message[] = [["a"], [1, 2], ["b", { x: 1 }], []];
  for (const m of msgs) box.push(m);
  for (const m of msgs) assert.ok(box.takeNext() === m, "the very same array");
  assert.is(box.takeNext(), undefined);
  assert.is(box.size, 0);
});

// ---- waiters -----------------------------------------------------------------------------

test("mailbox - a tag waiter is offered a new message before it is queued, and gets it without the tag", async () => {
  const box = new Mailbox("n#p");
  const { w, result } = waiter("x");
  box.addWaiter(w);
  assert.is(box.pending, 1);
  box.push(["other", 1]);
  assert.is(box.size, 1, "a message the waiter does not want is queued");
  box.push(["x", 1, 2]);
  assert.equal(await waitFor(result), [1, 2]);
  assert.is(box.size, 1, "the wanted message was never queued");
  assert.is(box.pending, 0);
  assert.equal(drain(box), [["other", 1]]);
});

test("mailbox - a test waiter resolves to [message, verdict] and tests each new message once", async () => {
  const box = new Mailbox("n#p");
  const tested: unknown[] = [];
  const { w, result } = waiter((m) => {
    tested.push(m[1]);
    return m[1] === 3 ? "yes" : false;
  });
  box.addWaiter(w);
  for (let i = 1; i <= 4; i++) box.push(["m", i]);
  assert.equal(await waitFor(result), [["m", 3], "yes"]);
  assert.equal(tested, [1, 2, 3], "message 4 came after the waiter was done");
  assert.equal(drain(box).map((m) => m[1]), [1, 2, 4]);
});

test("mailbox - waiters are offered a message in the order they were added", async () => {
  const box = new Mailbox("n#p");
  const first = waiter("x");
  const second = waiter("x");
  const any = waiter(() => true);
  box.addWaiter(first.w);
  box.addWaiter(second.w);
  box.addWaiter(any.w);
  box.push(["x", 1]);
  box.push(["x", 2]);
  box.push(["x", 3]);
  assert.equal(await waitFor(first.result), [1]);
  assert.equal(await waitFor(second.result), [2]);
  assert.equal(await waitFor(any.result), [["x", 3], true]);
  assert.is(box.pending, 0);
  assert.is(box.size, 0);
});

test("mailbox - removeWaiter takes one waiter out and keeps the others in order", async () => {
  const box = new Mailbox("n#p");
  const ws = [waiter("x"), waiter("x"), waiter("x")];
  for (const { w } of ws) box.addWaiter(w);
  box.removeWaiter(ws[1].w);
  assert.is(box.pending, 2);
  box.push(["x", "first"]);
  box.push(["x", "second"]);
  assert.equal(await waitFor(ws[0].result), ["first"]);
  assert.equal(await waitFor(ws[2].result), ["second"]);
  box.removeWaiter(ws[1].w); // not there: harmless
  assert.is(box.pending, 0);
});

test("mailbox - a throwing test fails only its own wait, and the message goes on to the others", async () => {
  const box = new Mailbox("n#p");
  const bad = waiter(() => {
    throw new Error("bad test");
  });
  const good = waiter("x");
  box.addWaiter(bad.w);
  box.addWaiter(good.w);
  box.push(["x", 1]);
  await rejects(bad.result, /bad test/);
  assert.equal(await waitFor(good.result), [1]);
  assert.is(box.pending, 0);
  assert.is(box.size, 0);
});

test("mailbox - a message a throwing test saw is queued when nobody else takes it", async () => {
  const box = new Mailbox("n#p");
  const bad = waiter(() => {
    throw undefined; // even a thrown undefined is a failure, not a resolution
  });
  box.addWaiter(bad.w);
  box.push(["x", 1]);
  let failed = false;
  await waitFor(bad.result.then(() => undefined, () => (failed = true)));
  assert.ok(failed, "the wait rejected");
  assert.equal(drain(box), [["x", 1]]);
});

test("mailbox - kill rejects every waiter with PortKilledError and drops the queue", async () => {
  const box = new Mailbox("n#p");
  box.push(["queued", 1]);
  const a = waiter("x");
  const b = waiter(() => false);
  box.addWaiter(a.w);
  box.addWaiter(b.w);
  box.kill(["boom", 42]);
  for (const { result } of [a, b]) {
    const err = (await rejects(result, PortKilledError)) as PortKilledError;
    assert.is(err.port, "n#p");
    assert.equal(err.reason, ["boom", 42]);
  }
  assert.is(box.pending, 0);
  assert.is(box.size, 0);
  assert.is(box.takeNext(), undefined);
  assert.ok(box.death instanceof PortKilledError);
  assert.equal(box.death.reason, ["boom", 42]);
});

test("mailbox - a normal kill gives an empty reason", async () => {
  const box = new Mailbox("n#p");
  const a = waiter("x");
  box.addWaiter(a.w);
  box.kill([]);
  const err = (await rejects(a.result, PortKilledError)) as PortKilledError;
  assert.equal(err.reason, []);
  assert.match(err.message, /killed normally/);
});

test("mailbox - settle and fail release the waiter's timer and abort listener, once", async () => {
  for (const how of ["settle", "fail"] as const) {
    const timersBefore = activeTimers();
    const ctl = new AbortController();
    const { w, result } = waiter("x");
    const onAbort = (): void => {};
    const timer = startTimer(60, () => {});
    ctl.signal.addEventListener("abort", onAbort, { once: true });
    w.extras = { timer, signal: ctl.signal, onAbort };
    assert.is(activeTimers(), timersBefore + 1);
    assert.is(getEventListeners(ctl.signal, "abort").length, 1);
    if (how === "settle") w.settle("value");
    else w.fail(new Error("failed"));
    assert.is(activeTimers(), timersBefore, `${how} cleared the timer`);
    assert.is(getEventListeners(ctl.signal, "abort").length, 0, `${how} removed the listener`);
    w.settle("again");
    w.fail(new Error("again"));
    const outcome = await waitFor(result.then((v) => ["resolved", v], (e: Error) => ["rejected", e.message]));
    assert.equal(outcome, how === "settle" ? ["resolved", "value"] : ["rejected", "failed"]);
  }
});

test.run();
