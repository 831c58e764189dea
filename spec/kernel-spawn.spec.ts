// spawn and the init registry: lib/kernel/spawn.ts (spawn, registerInit).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, SELF, UnknownInitError, kil, mon, nodeOf, port, portIsLocal, rcv, registerInit, snd, spawn } from "../lib/index.ts";
import { isLivePort, portCount } from "../lib/kernel/ports.ts";
import { findInit } from "../lib/kernel/spawn.ts";
import { deferred, flushRunQueue, latch, throwsSync, waitFor } from "./helpers.ts";

/** Resolves with the kill reason of `p` (empty for a normal kill). */
function death(p: string, ms = 2000): Promise<unknown[]> {
  const d = deferred<unknown[]>();
  mon(p, (...reason: unknown[]) => d.resolve(reason));
  return waitFor(d.promise, ms, `death of ${p}`);
}

// Init functions report to whoever passes a port to report to.
registerInit("spec::report", (to: string, ...args: unknown[]) => {
  snd(to, "init", SELF(), ...args);
});
registerInit("spec::echo", () => {
  rcv(SELF(), (...m: unknown[]) => snd(m[1] as string, "echo", m[0], ...m.slice(2)));
});
registerInit("spec::throws", () => {
  throw new Error("init failed");
});
registerInit("spec::rejects", async () => {
  await Promise.resolve();
  throw new Error("async init failed");
});
registerInit("spec::nothing", () => {});
registerInit("spec::quits", () => kil(SELF(), "quit", "early"));

test("spawn - returns a local port ID at once", () => {
  const id = spawn(NODE(), "spec::nothing");
  assert.type(id, "string");
  assert.is(nodeOf(id), NODE());
  assert.ok(portIsLocal(id));
  assert.ok(isLivePort(id), "the port exists as soon as spawn returns");
  kil(id);
});

test("spawn - the init function runs later, not before spawn returns", async () => {
  let ran = false;
  const done = deferred<void>();
  registerInit("spec::flag", () => {
    ran = true;
    done.resolve();
  });
  spawn(NODE(), "spec::flag");
  assert.not.ok(ran, "init must have no visible effect before spawn returns");
  await waitFor(done.promise);
});

test("spawn - init runs with SELF() set to the new port and receives the args", async () => {
  const got = deferred<unknown[]>();
  const reporter = port((...m: unknown[]) => got.resolve(m));
  const id = spawn(NODE(), "spec::report", reporter, 1, "two", { three: 3 });
  assert.equal(await waitFor(got.promise), ["init", id, 1, "two", { three: 3 }]);
  kil(id);
  kil(reporter);
});

test("spawn - messages sent right after spawn arrive after init has set its receivers", async () => {
  const replies: unknown[][] = [];
  const done = latch(3, 2000, "three echoes");
  const me = port((...m: unknown[]) => {
    replies.push(m);
    done.countDown();
  });
  const id = spawn(NODE(), "spec::echo");
  snd(id, "a", me, 1);
  snd(id, "b", me, 2);
  snd(id, "c", me, 3);
  await done.wait();
  assert.equal(replies, [["echo", "a", 1], ["echo", "b", 2], ["echo", "c", 3]]);
  kil(id);
  kil(me);
});

test("spawn - the new port can be monitored at once, before its init ran", async () => {
  const id = spawn(NODE(), "spec::quits");
  // Were the port not there yet, this monitor would report no_such_port.
  assert.equal(await death(id), ["quit", "early"]);
});

test("spawn - an init that throws kills the spawned port with die", async () => {
  const id = spawn(NODE(), "spec::throws");
  const reason = death(id);
  assert.equal(await reason, ["die", "init failed"]);
  assert.not.ok(isLivePort(id));
});

test("spawn - an init whose promise rejects kills the spawned port with die", async () => {
  const id = spawn(NODE(), "spec::rejects");
  assert.equal(await death(id), ["die", "async init failed"]);
});

test("spawn - an init that sets no receiver leaves a port that dies on its first message", async () => {
  const id = spawn(NODE(), "spec::nothing");
  const reason = death(id);
  snd(id, "hello");
  assert.equal(await reason, ["unhandled_message", "no callback found for message 'hello'"]);
});

test("spawn - a port killed before its init ran never runs it", async () => {
  let ran = false;
  registerInit("spec::never", () => {
    ran = true;
  });
  const id = spawn(NODE(), "spec::never");
  kil(id);
  await flushRunQueue();
  assert.not.ok(ran);
});

test("spawn - an unknown init name throws UnknownInitError and creates no port", () => {
  const before = portCount();
  const err = throwsSync(() => spawn(NODE(), "spec::does-not-exist"), {
    instanceOf: UnknownInitError,
    code: "ERR_UNKNOWN_INIT",
  }) as UnknownInitError;
  assert.is(err.init, "spec::does-not-exist");
  assert.is(err.name, "UnknownInitError");
  assert.match(err.message, /spec::does-not-exist/);
  assert.is(portCount(), before);
});

test("spawn - a port ID as node means that port's node", async () => {
  const anchor = port();
  const got = deferred<unknown[]>();
  const reporter = port((...m: unknown[]) => got.resolve(m));
  const id = spawn(anchor, "spec::report", reporter, "via-port");
  assert.is(nodeOf(id), NODE());
  assert.equal(await waitFor(got.promise), ["init", id, "via-port"]);
  for (const p of [id, anchor, reporter]) kil(p);
});

test("spawn - spawned port IDs are distinct", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) ids.add(spawn(NODE(), "spec::nothing"));
  assert.is(ids.size, 1000);
  for (const id of ids) kil(id);
});

test("spawn - two-way monitoring: init links itself to the spawner", async () => {
  registerInit("spec::linked", (parent: string) => {
    mon(parent); // kill SELF if the parent dies abnormally
    rcv(SELF(), () => {});
  });
  const parent = port(() => {});
  const child = spawn(NODE(), "spec::linked", parent);
  await flushRunQueue();
  const childReason = death(child);
  kil(parent, "parent crashed");
  assert.equal(await childReason, ["parent crashed"]);
});

test("spawn - on a remote node before networking returns that node's port ID and it is reported lost", async () => {
  const id = spawn("othernode", "spec::anything", 1);
  assert.is(nodeOf(id), "othernode");
  assert.not.ok(portIsLocal(id));
  assert.equal(await death(id), ["transport_error", "othernode", "no known address"]);
});

test("spawn - with a remote port ID as node spawns on that port's node", () => {
  const id = spawn("othernode#someport", "spec::anything");
  assert.is(nodeOf(id), "othernode");
  assert.is.not(id, "othernode#someport");
});

test("spawn - bad node or init arguments throw TypeErrors naming them", () => {
  throwsSync(() => spawn(5 as unknown as string, "spec::nothing"), { instanceOf: TypeError, message: "'node'" });
  throwsSync(() => spawn("", "spec::nothing"), { instanceOf: TypeError, message: "'node'" });
  throwsSync(() => spawn(NODE(), 5 as unknown as string), { instanceOf: TypeError, message: "'init'" });
  throwsSync(() => spawn(NODE(), ""), { instanceOf: TypeError, message: "'init'" });
});

test("registerInit - registering a name again replaces the function", async () => {
  const got = deferred<string>();
  registerInit("spec::replaced", () => got.resolve("old"));
  registerInit("spec::replaced", () => got.resolve("new"));
  spawn(NODE(), "spec::replaced");
  assert.is(await waitFor(got.promise), "new");
});

test("registerInit - a non-function throws a TypeError naming 'fn'", () => {
  throwsSync(() => registerInit("spec::bad", "not a function" as unknown as () => void), { instanceOf: TypeError, message: "'fn'" });
  throwsSync(() => registerInit("spec::bad", undefined as unknown as () => void), { instanceOf: TypeError, message: "'fn'" });
  assert.is(findInit("spec::bad"), undefined, "a rejected registration registers nothing");
});

test("registerInit - an empty or non-string name throws a TypeError naming 'name'", () => {
  throwsSync(() => registerInit("", () => {}), { instanceOf: TypeError, message: "'name'" });
  throwsSync(() => registerInit(3 as unknown as string, () => {}), { instanceOf: TypeError, message: "'name'" });
});

test.run();
