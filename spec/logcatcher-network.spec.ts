/**
 * The log catcher across processes: this process is the seed and the catcher; three
 * child nodes (spec/fixtures/stream-node.ts) log, two started before the catcher and
 * one after it.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type CaughtLog, NODE, cal, catchLogs, configure } from "../lib/index.ts";
import { globalService } from "../lib/global/current.ts";
import { log, logCaptureLevel } from "../lib/log.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { deferred, waitFor } from "./helpers.ts";
import { SECRET, type StreamNode, startStreamNode, stopStreamNodes } from "./stream-helpers.ts";

const { addresses } = await configure({ nodeid: "log-seed/%u", binds: ["127.0.0.1:*"], secret: SECRET });
const seed = addresses[0];

/** Resolves once `pred` holds for the `'l` family (node ID -> addresses). */
function directory(pred: (family: Record<string, unknown>) => boolean, label: string, ms = 5000): Promise<void> {
  const d = deferred<void>();
  const stop = globalService().watch("'l", (family) => {
    if (pred(family)) d.resolve();
  });
  return waitFor(d.promise, ms, label).finally(stop);
}

/** Records caught so far, and waiting for one. */
function collector() {
  const records: CaughtLog[] = [];
  const waiters = new Set<() => void>();
  return {
    records,
    cb: (r: CaughtLog) => {
      records.push(r);
      for (const w of waiters) w();
    },
    until(pred: (r: CaughtLog) => boolean, label: string, ms = 5000): Promise<CaughtLog> {
      const d = deferred<CaughtLog>();
      const check = (): void => {
        const found = records.find(pred);
        if (found !== undefined) d.resolve(found);
      };
      waiters.add(check);
      check();
      return waitFor(d.promise, ms, label).finally(() => waiters.delete(check));
    },
  };
}

/** A round trip to `node`'s node port: everything we sent it before has been handled. */
function roundTrip(node: string): Promise<void> {
  return waitFor(new Promise<void>((resolve) => cal(`${node}#`, "time", () => resolve(), 3)), 4000, `a round trip to ${node}`);
}

let a: StreamNode;
let b: StreamNode;

test.before(async () => {
  [a, b] = await Promise.all([startStreamNode({ seeds: [seed] }, "alpha"), startStreamNode({ seeds: [seed] }, "beta")]);
  await directory((f) => a.nodeId in f && b.nodeId in f, "alpha and beta in 'l");
});

test.after(async () => {
  await stopStreamNodes();
  await currentNetwork()?.stop();
});

test("logcatcher - nobody listening: a node builds no records beyond its own level", async () => {
  const s = await a.call("subscribers");
  assert.equal([s.count, s.capture], [0, 0]);
});

test("logcatcher - records of three nodes, one joining later, reach one catcher, each with its node", async () => {
  await a.call("log", { level: 5, text: "early warning from alpha" });
  const c = collector();
  const catcher = catchLogs(7, c.cb, { backlog: true });
  try {
    assert.equal(await catcher.settled(5), [], "every node confirmed its subscription");
    assert.equal(new Set(catcher.nodes()), new Set([a.nodeId, b.nodeId, NODE()]));

    // What alpha printed before we came is its backlog.
    const early = await c.until((r) => r.text === "early warning from alpha", "alpha's backlog");
    assert.equal([early.node, early.level, early.context, early.backlog], [a.nodeId, 5, "main", true]);
    assert.ok(Math.abs(early.time - Date.now() / 1000) < 60, "time is in seconds");

    // Above beta's printed level (5, warn) but within the catcher's (7): built and sent.
    assert.is((await b.call("subscribers")).capture, 7);
    await b.call("log", { level: 8, text: "debug from beta" });
    await b.call("log", { level: 7, text: "info from beta", context: "Beta::Service" });
    await a.call("log", { level: 6, text: "note from alpha" });
    const info = await c.until((r) => r.text === "info from beta", "beta's info record");
    assert.equal([info.node, info.level, info.context, info.backlog], [b.nodeId, 7, "Beta::Service", false]);
    assert.is((await c.until((r) => r.text === "note from alpha", "alpha's note")).node, a.nodeId);
    // Beta's records keep their order: the debug one, had it been sent, came first.
    assert.not.ok(c.records.some((r) => r.text === "debug from beta"), "a record above the catcher's level was sent");

    // A node that starts after the catcher is caught too.
    const gamma = await startStreamNode({ seeds: [seed] }, "gamma");
    await directory((f) => gamma.nodeId in f, "gamma in 'l");
    assert.equal(await catcher.settled(5), []);
    await gamma.call("log", { level: 4, text: "error from gamma" });
    const late = await c.until((r) => r.text === "error from gamma", "gamma's record");
    assert.equal([late.node, late.level, late.backlog], [gamma.nodeId, 4, false]);

    // Our own records, with our node ID.
    log("note", "note from the catcher's node");
    assert.is((await c.until((r) => r.text === "note from the catcher's node", "our own record")).node, NODE());

    // A node that goes away is dropped.
    await gamma.kill();
    await directory((f) => !(gamma.nodeId in f), "gamma gone from 'l");
    assert.not.ok(catcher.nodes().includes(gamma.nodeId));
  } finally {
    catcher.cancel();
  }
  // Cancelling kills our ports; the nodes hear it (before our next request) and stop.
  for (const n of [a, b]) {
    await roundTrip(n.nodeId);
    const after = await n.call("subscribers");
    assert.equal([after.count, after.capture], [0, 0], `${n.name} still sends records`);
  }
  assert.is(logCaptureLevel(), 0);
  const count = c.records.length;
  await a.call("log", { level: 4, text: "nobody hears this" });
  await roundTrip(a.nodeId);
  assert.is(c.records.length, count);
});

test.run();
