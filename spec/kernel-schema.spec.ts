/**
 * Ports with a schema (lib/kernel/schema.ts), in one process: `deliverLocal` is the
 * kernel's entry for messages from other nodes, so calling it stands for a remote
 * message here (spec/net-validate.spec.ts sends real ones from another process).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as v from "valibot";
import * as z from "zod";
import { type Message, type MessageSchema, type PortId, type PortOptions, kil, mailboxOf, port, portAsync, rcv, snd } from "../lib/index.ts";
import { deliverLocal } from "../lib/kernel/ports.ts";
import { captureLog, deferred, flushRunQueue, portDeath, throwsSync, waitFor } from "./helpers.ts";

/** A port with a schema that records each message it receives. */
function recording(options: MessageSchema | PortOptions): { id: string; got: Message[] } {
  const got: Message[] = [];
  const id: string = port(options, (...msg) => {
    got.push(msg);
  });
  return { id, got };
}

/** The node the messages handed to deliverLocal here stand for coming from. */
const PEER = "spec-peer/1";

const add = z.tuple([z.literal("add"), z.number()]);

test("schema - a remote message that passes reaches the receiver; one that fails is dropped with a warning naming the port and the first issue", async () => {
  using log = captureLog();
  const { id, got } = recording(add);
  deliverLocal(id, ["add", 1], PEER);
  deliverLocal(id, ["add", "two"], PEER);
  deliverLocal(id, ["add", 3], PEER);
  await flushRunQueue();
  assert.equal(got, [["add", 1], ["add", 3]]);
  const warning = await log.until("dropped a message");
  assert.is(warning.level, 5);
  assert.ok(warning.text.includes(`from ${PEER} for port ${id}`), warning.text);
  assert.match(warning.text, /expected number.*\(at 1\)/i);
  kil(id);
});

test("schema - for a union of tagged tuples (zod, valibot) the warning says what was wrong in the alternative whose tag matched", async () => {
  using log = captureLog();
  const zodUnion = recording(z.union([z.tuple([z.literal("open"), z.string()]), z.tuple([z.literal("data"), z.string(), z.union([z.string(), z.instanceof(Uint8Array)])])]));
  const valibotUnion = recording(v.union([v.tuple([v.literal("open"), v.string()]), v.tuple([v.literal("data"), v.string(), v.union([v.string(), v.instance(Uint8Array)])])]));
  deliverLocal(zodUnion.id, ["data", "src", 5], PEER);
  deliverLocal(valibotUnion.id, ["data", "src", 5], PEER);
  assert.match((await log.until(zodUnion.id)).text, /expected string, received number \(at 2\)$/);
  assert.match((await log.until(valibotUnion.id)).text, /Expected string but received 5 \(at 2\)$/);
  kil(zodUnion.id);
  kil(valibotUnion.id);
});

test("schema - the receiver gets the schema's output (transforms and defaults apply to remote messages)", async () => {
  const { id, got } = recording(z.tuple([z.literal("set"), z.coerce.number(), z.string().default("none")]).rest(z.unknown()));
  deliverLocal(id, ["set", "42", undefined], PEER);
  await flushRunQueue();
  assert.equal(got, [["set", 42, "none"]]);
  kil(id);
});

test("schema - local sends are not checked: the compiler does that, at no run-time cost", async () => {
  const { id, got } = recording(add);
  snd(id, "add", "not a number");
  await flushRunQueue();
  assert.equal(got, [["add", "not a number"]]);
  kil(id);
});

test("schema - onInvalid kill: what was queued before the bad message is delivered, then the port dies with invalid_message", async () => {
  const { id, got } = recording({ schema: v.tuple([v.literal("add"), v.number()]), onInvalid: "kill" });
  const death = portDeath(id);
  snd(id, "add", 1);
  deliverLocal(id, ["add", 2], PEER);
  deliverLocal(id, ["sub", 3], PEER);
  deliverLocal(id, ["add", 4], PEER);
  const reason = await death;
  assert.equal(got, [["add", 1], ["add", 2]]);
  assert.is(reason[0], "invalid_message");
  assert.match(String(reason[1]), /Invalid type: Expected "add" but received "sub" \(at 0\)/);
});

test("schema - a schema whose validate returns a promise fails every remote message, saying so; the rejection is handled", async () => {
  using log = captureLog();
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => {
    unhandled.push(err);
  };
  process.on("unhandledRejection", onUnhandled);
  try {
    const zodAsync = recording(z.tuple([z.literal("x")]).refine(async () => true));
    const rejecting = recording({ "~standard": { version: 1, vendor: "spec", validate: () => Promise.reject(new Error("async failure")) } });
    deliverLocal(zodAsync.id, ["x"], PEER);
    deliverLocal(rejecting.id, ["x"], PEER);
    await flushRunQueue();
    assert.equal([zodAsync.got, rejecting.got], [[], []]);
    for (const p of [zodAsync, rejecting]) {
      await log.until((r) => r.text.includes(p.id) && r.text.includes("validates asynchronously"));
      kil(p.id);
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

/** A hand-written Standard Schema: callable, as arktype's are, so not to be taken for a callback. */
function callableSchema(validate: (value: unknown) => unknown): MessageSchema<["ok"]> {
  const schema = () => "a callable schema is not a receiver";
  return Object.assign(schema, { "~standard": { version: 1 as const, vendor: "spec", validate } }) as unknown as MessageSchema<["ok"]>;
}

test("schema - a callable schema is a schema; one that throws, or outputs no array, fails the message", async () => {
  using log = captureLog();
  const throwing = recording(callableSchema(() => {
    throw new Error("schema bug");
  }));
  const scalar = recording(callableSchema(() => ({ value: "ok" })));
  const fine = recording(callableSchema((value) => ({ value })));
  deliverLocal(throwing.id, ["ok"], PEER);
  deliverLocal(scalar.id, ["ok"], PEER);
  deliverLocal(fine.id, ["ok"], PEER);
  await flushRunQueue();
  assert.equal([throwing.got, scalar.got, fine.got], [[], [], [["ok"]]]);
  await log.until((r) => r.text.includes(throwing.id) && r.text.includes("the schema threw: schema bug"));
  await log.until((r) => r.text.includes(scalar.id) && r.text.includes("not an array"));
  for (const p of [throwing, scalar, fine]) kil(p.id);
});

test("schema - warnings are limited to one a second per port; the next one counts the others", async () => {
  using log = captureLog();
  const { id } = recording(add);
  for (let i = 0; i < 5; i++) deliverLocal(id, ["bad", i], PEER);
  const mine = () => log.texts().filter((t) => t.includes(id));
  assert.is(mine().length, 1);
  // Keep failing until the second warning comes, a second after the first.
  const counted = log.until((r) => r.text.includes(id) && /and \d+ more since the last warning/.test(r.text), 3000);
  const timer = setInterval(() => deliverLocal(id, ["bad"], PEER), 100);
  try {
    const more = Number(/and (\d+) more/.exec((await counted).text)?.[1]);
    assert.ok(more >= 4, `counted ${more}`);
  } finally {
    clearInterval(timer);
  }
  assert.is(mine().length, 2);
  kil(id);
});

test("schema - an async port with a schema: failing remote messages never reach the mailbox", async () => {
  const taken = deferred<unknown[]>();
  const p = portAsync({ schema: z.union([z.tuple([z.literal("job"), z.number()]), z.tuple([z.literal("quit")])]) }, async (_self, { get }) => {
    const [n] = await get("job");
    await get("quit");
    taken.resolve([n]);
  });
  deliverLocal(p, ["job", "one"], PEER);
  deliverLocal(p, ["other"], PEER);
  await flushRunQueue();
  assert.is(mailboxOf(p)?.size, 0);
  deliverLocal(p, ["job", 7], PEER);
  deliverLocal(p, ["quit"], PEER);
  assert.equal(await waitFor(taken.promise, 2000, "the job"), [7]);
});

test("schema - a typed port without a schema is a plain port at run time", async () => {
  const seen = deferred<unknown[]>();
  const p: PortId<["n", number]> = port<["n", number]>();
  rcv(p, "n", (n) => seen.resolve([n]));
  deliverLocal(p, ["n", "anything goes"], PEER);
  assert.equal(await waitFor(seen.promise), ["anything goes"]);
  assert.is(typeof p, "string");
  kil(p);
});

test("schema - bad options throw TypeErrors naming the parameter", () => {
  throwsSync(() => port({ schema: 5 } as never), { instanceOf: TypeError, message: "'schema'" });
  throwsSync(() => port({ schema: add, onInvalid: "ignore" } as never), { instanceOf: TypeError, message: "'onInvalid'" });
  throwsSync(() => port(add, 5 as never), { instanceOf: TypeError, message: "'cb'" });
  throwsSync(() => port(null as never), { instanceOf: TypeError, message: "'cb'" });
  throwsSync(() => portAsync(add as never), { instanceOf: TypeError, message: "'fn'" });
});


test.run();
