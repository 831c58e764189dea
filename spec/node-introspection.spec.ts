/**
 * The introspection requests (lib/node/introspection.ts): `aemp_info` asked of a test
 * node in a child process over a real link, and this process's own snapshot
 * (`nodeInfo`) for what is easier to arrange locally (mailboxes, the run queue, lag).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { cal, configure, get, kil, port, portAsync, shutdown, snd } from "../lib/index.ts";
import { MAX_MAILBOXES, type NodeInfo, nodeInfo } from "../lib/node/introspection.ts";
import { VERSION } from "../lib/version.ts";
import { captureLog, deferred, latch, waitFor } from "./helpers.ts";
import { SECRET, type TestNode, startNode, stopAllNodes } from "./net-helpers.ts";

let child: TestNode;
let self = "";

/** A node-port request to the child with a reply (as `aemp observe` asks). */
function ask(tag: string, ...args: unknown[]): Promise<unknown[]> {
  const d = deferred<unknown[]>();
  cal(`${child.nodeId}#`, tag, ...args, (...reply: unknown[]) => d.resolve(reply), 5);
  return waitFor(d.promise, 6000, `the answer to ${tag}`);
}

test.before(async () => {
  const result = await configure({ norc: true, nodeid: "introspect/%u", binds: ["127.0.0.1:*"], secret: SECRET });
  self = result.nodeId;
  child = await startNode({ seeds: result.addresses }, { name: "asked" });
  await child.linkedTo(self);
});

test.after(async () => {
  await stopAllNodes();
  await shutdown();
});

test("introspection - an aemp node says it answers aemp_info, and answers it", async () => {
  assert.equal(await ask("can", "aemp_info"), ["1"]);
  const [info] = (await ask("aemp_info")) as [NodeInfo];
  assert.is(info.node, child.nodeId);
  assert.is(info.provider, `aemp-ts/${VERSION}`);
  assert.is(info.version, VERSION);
  assert.match(info.runtime, /^v\d+\./);
  assert.ok(info.uptime > 0 && info.uptime < 600, `uptime ${info.uptime}`);
  assert.ok(Math.abs(info.time - Date.now() / 1000) < 5, "its clock, in seconds");
  assert.ok(info.rss > info.heapUsed && info.heapUsed > 0);
  assert.ok(info.ports >= 0 && info.asyncPorts === 0 && info.mailboxMessages === 0);
  assert.equal(info.mailboxes, []);
  assert.is(typeof info.runQueue, "number");
  for (const k of ["mean", "p99", "max"] as const) assert.ok(info.eventLoopLag[k] >= 0);
  const db = info.db as { families: string[]; global: boolean; master: string | null };
  assert.equal(db, { families: [], global: false, master: self });
  const link = info.links.find((l) => l.peer === self)!;
  assert.ok(link !== undefined, "its link to us is listed");
  assert.equal([link.framingOut, link.framingIn, link.tls, link.dialled], ["superjson-bin", "superjson-bin", false, true]);
  assert.match(link.address, /^127\.0\.0\.1:\d+$/);
  assert.ok(link.since > 0 && link.since <= info.time);
});

test("introspection - the link counters move with the traffic, in both directions and on both ends", async () => {
  const [before] = (await ask("aemp_info")) as [NodeInfo];
  const mineBefore = nodeInfo().links.find((l) => l.peer === child.nodeId)!;
  const got = latch(201, 5000, "the child's burst");
  const p = port(() => got.countDown());
  await child.call("burst", { to: p, n: 200 });
  await got.wait();
  const [after] = (await ask("aemp_info")) as [NodeInfo];
  const mine = nodeInfo().links.find((l) => l.peer === child.nodeId)!;
  const theirs = (i: NodeInfo) => i.links.find((l) => l.peer === self)!;
  // The child sent the burst plus its answer to our first aemp_info request.
  assert.ok(theirs(after).packetsOut - theirs(before).packetsOut >= 202, "packets out, at the sender");
  assert.ok(theirs(after).bytesOut - theirs(before).bytesOut >= 200 * 15, "bytes out, at the sender");
  assert.ok(mine.packetsIn - mineBefore.packetsIn >= 202, "packets in, here");
  assert.ok(mine.bytesIn - mineBefore.bytesIn >= 200 * 15, "bytes in, here");
  assert.is(theirs(after).packetsIn - theirs(before).packetsIn, 1, "the child received one request between its two answers");
  kil(p);
});

test("introspection - the deepest mailboxes come first, at most MAX_MAILBOXES, with the sum of all", () => {
  const ports: string[] = [];
  for (let i = 1; i <= MAX_MAILBOXES + 5; i++) {
    const p = portAsync(async () => {
      await get("never");
    });
    for (let j = 0; j < i; j++) snd(p, "other", j);
    ports.push(p);
  }
  const queued = nodeInfo();
  assert.ok(queued.runQueue >= ((MAX_MAILBOXES + 5) * (MAX_MAILBOXES + 6)) / 2, `run queue ${queued.runQueue}: the messages are not delivered yet`);
  return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
    const info = nodeInfo();
    assert.is(info.asyncPorts, MAX_MAILBOXES + 5);
    assert.is(info.mailboxMessages, ((MAX_MAILBOXES + 5) * (MAX_MAILBOXES + 6)) / 2);
    assert.is(info.mailboxes.length, MAX_MAILBOXES);
    assert.equal(info.mailboxes.map((m) => m.messages), Array.from({ length: MAX_MAILBOXES }, (_, i) => MAX_MAILBOXES + 5 - i));
    assert.is(info.mailboxes[0].port, ports[ports.length - 1]);
    for (const p of ports) kil(p);
    assert.is(nodeInfo().asyncPorts, 0, "dead ports are not counted");
  });
});

test("introspection - a mailbox its port emptied is no longer listed, and is listed again when messages wait", async () => {
  const taken = latch(3, 2000, "three messages taken");
  const p = portAsync(async () => {
    await get("go");
    for (let i = 0; i < 3; i++) {
      await get("m");
      taken.countDown();
    }
    await get("never");
  });
  for (let i = 0; i < 3; i++) snd(p, "m", i);
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(nodeInfo().mailboxes, [{ port: p, messages: 3 }]);
  snd(p, "go");
  await taken.wait();
  assert.equal(nodeInfo().mailboxes, []);
  assert.is(nodeInfo().mailboxMessages, 0);
  snd(p, "x");
  snd(p, "y");
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(nodeInfo().mailboxes, [{ port: p, messages: 2 }]);
  kil(p);
  assert.equal(nodeInfo().mailboxes, [], "a dead port is not listed");
  assert.is(nodeInfo().asyncPorts, 0);
});

test("introspection - the event-loop lag shows a blocked loop", async () => {
  nodeInfo();
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      const until = performance.now() + 60;
      while (performance.now() < until);
      resolve();
    }, 20),
  );
  // The histogram's own timer, overdue during the block, fires in the next loop
  // iteration's timer phase: two check phases later it has recorded the delay.
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  const lag = nodeInfo().eventLoopLag;
  assert.ok(lag.max >= 0.04, `max ${lag.max}`);
  assert.ok(lag.mean <= lag.max);
});

test("introspection - requests without a reply port are ignored, and the node goes on answering", async () => {
  using log = captureLog();
  snd(`${child.nodeId}#`, "aemp_info");
  snd(`${child.nodeId}#`, "aemp_info", 42);
  snd(`${child.nodeId}#`, "aemp_links", "not a port");
  const [info] = (await ask("aemp_info")) as [NodeInfo];
  assert.is(info.node, child.nodeId);
  assert.equal(log.texts(4), []);
  assert.ok(child.alive);
});

test.run();
