// The ring buffer under the run queue: lib/kernel/ring.ts.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Ring } from "../lib/kernel/ring.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

test("ring - values come out in the order they went in, across wraps and growth", () => {
  const ring = new Ring(4);
  const reference: number[] = [];
  let next = 0;
  let seed = 14;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let step = 0; step < 20_000; step++) {
    // Bursts of pushes and of shifts, so the ring wraps while full and grows mid-wrap.
    if (random() < 0.55) {
      for (let k = Math.floor(random() * 9); k > 0; k--) {
        ring.push(next);
        reference.push(next++);
      }
    } else {
      for (let k = Math.floor(random() * 9); k > 0; k--) assert.is(ring.shift(), reference.shift());
    }
    assert.is(ring.length, reference.length);
  }
  while (reference.length > 0) assert.is(ring.shift(), reference.shift());
  assert.ok(next > 10_000);
});

test("ring - shift on an empty ring gives undefined and leaves it empty", () => {
  const ring = new Ring();
  assert.is(ring.shift(), undefined);
  assert.is(ring.length, 0);
  ring.push(undefined);
  ring.push(null);
  assert.is(ring.length, 2);
  assert.is(ring.shift(), undefined);
  assert.is(ring.shift(), null);
  assert.is(ring.length, 0);
});

test("ring - capacity is a power of two, doubles when full, and shrink gives it back only when empty", () => {
  const ring = new Ring(1000);
  assert.is(ring.capacity, 1024);
  for (let i = 0; i < 5000; i++) ring.push(i);
  assert.is(ring.capacity, 8192);
  ring.shrink();
  assert.is(ring.capacity, 8192, "not while values are queued");
  for (let i = 0; i < 5000; i++) assert.is(ring.shift(), i);
  ring.shrink();
  assert.is(ring.capacity, 1024);
  ring.push("after");
  assert.is(ring.shift(), "after");
});

test("ring - a shifted value is not kept alive by the ring", async () => {
  const ring = new Ring(8);
  // Made and dropped in a function of its own: a suspended async function keeps its locals.
  const fillAndEmpty = (): WeakRef<object>[] => {
    const made: WeakRef<object>[] = [];
    for (let i = 0; i < 4; i++) {
      const value = { i };
      made.push(new WeakRef(value));
      ring.push(value);
    }
    for (let i = 0; i < 4; i++) ring.shift();
    return made;
  };
  let refs = fillAndEmpty();
  ring.push("keeps the ring in use");
  // A WeakRef holds its target until the current job ends.
  await new Promise((r) => setImmediate(r));
  gc();
  assert.ok(
    refs.every((r) => r.deref() === undefined),
    "shifted values were collected",
  );
  refs = [];
});

test.run();
