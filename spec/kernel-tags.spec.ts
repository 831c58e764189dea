// A port's tag table: lib/kernel/tags.ts (a flat array for a few tags, a Map beyond).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { kil, port, rcv, snd } from "../lib/index.ts";
import { type TagTable, findTag, withTag, withoutTag } from "../lib/kernel/tags.ts";
import { latch } from "./helpers.ts";

const cbs = Array.from({ length: 30 }, (_, i) => Object.assign(() => i, { i }));

test("tags - the first tags are found, replaced and removed", () => {
  let t: TagTable | null = withTag(null, "a", cbs[0]!);
  t = withTag(t, "b", cbs[1]!);
  t = withTag(t, "a", cbs[2]!);
  assert.is(findTag(t, "a"), cbs[2]);
  assert.is(findTag(t, "b"), cbs[1]);
  assert.is(findTag(t, "c"), undefined);
  t = withoutTag(t, "a");
  assert.is(findTag(t!, "a"), undefined);
  assert.is(findTag(t!, "b"), cbs[1]);
  t = withoutTag(t!, "missing");
  assert.is(findTag(t!, "b"), cbs[1]);
  assert.is(withoutTag(t!, "b"), null);
});

test("tags - past eight tags the table becomes a Map holding every tag", () => {
  let t: TagTable | null = null;
  for (let i = 0; i < 8; i++) t = withTag(t, `t${i}`, cbs[i]!);
  assert.not.instance(t, Map);
  for (let i = 0; i < 8; i++) assert.is(findTag(t!, `t${i}`), cbs[i], `t${i}`);
  t = withTag(t, "t8", cbs[8]!);
  assert.instance(t, Map);
  for (let i = 0; i < 9; i++) assert.is(findTag(t, `t${i}`), cbs[i], `t${i}`);
  t = withTag(t, "t3", cbs[20]!);
  assert.is(findTag(t, "t3"), cbs[20]);
  for (let i = 0; i < 9; i++) t = withoutTag(t!, `t${i}`);
  assert.is(t, null);
});

test("tags - a port with twenty tags, some removed again, delivers each to its own callback", async () => {
  const got: string[] = [];
  const done = latch(15, 2000, "tagged messages");
  const p = port((tag: string) => {
    got.push(`default:${tag}`);
    done.countDown();
  });
  for (let i = 0; i < 20; i++) {
    rcv(p, `t${i}`, (n: number) => {
      got.push(`t${i}:${n}`);
      done.countDown();
    });
  }
  for (let i = 0; i < 20; i += 4) rcv(p, `t${i}`, undefined);
  for (let i = 0; i < 15; i++) snd(p, `t${i}`, i);
  await done.wait();
  assert.equal(got, Array.from({ length: 15 }, (_, i) => (i % 4 === 0 ? `default:t${i}` : `t${i}:${i}`)));
  kil(p);
});

test.run();
