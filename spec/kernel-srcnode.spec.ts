/**
 * `SRCNODE()` (Perl's `$SRCNODE`): the node a message came from, in receiver callbacks
 * and for the message an async port took last; and node IDs as targets: `snd`/`cal` to
 * a node ID without `#` address its node port, and the node port's `snd` relay splits
 * its target the same way. Remote arrivals are simulated with `deliverLocal` (what the
 * node layer calls) and a recording router; net-basic.spec.ts does it over real links.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, PortContextError, SRCNODE, cal, get, getCond, messages, port, portAsync, rcv, snd } from "../lib/index.ts";
import { handleNodeRequest } from "../lib/kernel/node-port.ts";
import { deliverLocal } from "../lib/kernel/ports.ts";
import { type Router, currentRouter, setRouter } from "../lib/kernel/remote.ts";
import { deferred, flushRunQueue, latch, throwsSync, waitFor } from "./helpers.ts";

/** Runs `fn` with a router that records what would go to other nodes. */
async function withRecordingRouter(fn: (sent: [string, string, unknown[]][]) => Promise<void> | void): Promise<void> {
  const previous = currentRouter();
  const sent: [string, string, unknown[]][] = [];
  const recording: Router = { ...previous, send: (nodeId, portId, msg) => void sent.push([nodeId, portId, msg]) };
  setRouter(recording);
  try {
    await fn(sent);
  } finally {
    setRouter(previous);
  }
}

test("SRCNODE - in a callback: the sending node for remote messages, ours for local ones, in queue order", async () => {
  const seen: [string, string][] = [];
  const p = port((tag: string) => void seen.push([tag, SRCNODE()]));
  snd(p, "local-1");
  deliverLocal(p, ["remote-a"], "peer/a");
  snd(p, "local-2");
  deliverLocal(p, ["remote-b"], "peer/b");
  await flushRunQueue();
  assert.equal(seen, [["local-1", NODE()], ["remote-a", "peer/a"], ["local-2", NODE()], ["remote-b", "peer/b"]]);
});

test("SRCNODE - tagged callbacks too; a remote message for a dead port is dropped", async () => {
  const seen: string[] = [];
  const p = rcv(port(), "hello", () => void seen.push(SRCNODE()));
  deliverLocal(p, ["hello"], "peer/t");
  deliverLocal(`${NODE()}#no-such-port`, ["hello"], "peer/t");
  await flushRunQueue();
  assert.equal(seen, ["peer/t"]);
});

test("SRCNODE - outside port context is a PortContextError", () => {
  throwsSync(() => SRCNODE(), (e) => e instanceof PortContextError && /SRCNODE\(\) called outside port context/.test(e.message));
});

test("SRCNODE - an async port: the node of the message it took last, queued or awaited", async () => {
  const seen: string[] = [];
  const done = deferred<void>();
  const p = portAsync(async () => {
    seen.push(SRCNODE()); // before any message: ours
    await get("start"); // queued before the port ran
    seen.push(SRCNODE());
    await get("next"); // arrives while waiting
    seen.push(SRCNODE());
    await getCond((m) => m[0] === "cond");
    seen.push(SRCNODE());
    for await (const m of messages()) {
      seen.push(`${String(m[0])}:${SRCNODE()}`);
      if (m[0] === "last") break;
    }
    done.resolve();
  });
  deliverLocal(p, ["start"], "peer/1");
  await flushRunQueue();
  await flushRunQueue();
  deliverLocal(p, ["next"], "peer/2");
  await flushRunQueue();
  snd(p, "cond");
  deliverLocal(p, ["x"], "peer/3");
  snd(p, "last");
  await waitFor(done.promise, 2000, "the async port");
  assert.equal(seen, [NODE(), "peer/1", "peer/2", NODE(), "x:peer/3", `last:${NODE()}`]);
});

test("SRCNODE - an async port that takes messages out of order gets each one's own node", async () => {
  const seen: string[] = [];
  const done = deferred<void>();
  const p = portAsync(async () => {
    await get("go");
    for (const tag of ["c", "a", "b"]) {
      await get(tag);
      seen.push(`${tag}:${SRCNODE()}`);
    }
    done.resolve();
  });
  deliverLocal(p, ["a"], "peer/a");
  snd(p, "b");
  deliverLocal(p, ["c"], "peer/c");
  snd(p, "go");
  await waitFor(done.promise, 2000, "the async port");
  assert.equal(seen, ["c:peer/c", "a:peer/a", `b:${NODE()}`]);
});

test("snd - a node ID without '#' is that node's node port", async () => {
  await withRecordingRouter((sent) => {
    snd("other/node", "devnull");
    snd("other/node#", "devnull");
    snd("other/node#p", "x", 1);
    assert.equal(sent, [["other/node", "other/node#", ["devnull"]], ["other/node", "other/node#", ["devnull"]], ["other/node", "other/node#p", ["x", 1]]]);
  });
  throwsSync(() => snd("", "x"), { instanceOf: TypeError, message: "'port'" });
  throwsSync(() => snd("#p", "x"), { instanceOf: TypeError, message: "'port'" });
});

test("snd and cal - our own node ID reaches our own node port", async () => {
  const reply = deferred<unknown[]>();
  cal(NODE(), "time", (...r: unknown[]) => reply.resolve(r), 2);
  const [t] = await waitFor(reply.promise, 2000, "our node port's time");
  assert.ok(Math.abs((t as number) - Date.now() / 1000) < 5, String(t));
  const got = latch(1, 2000, "the can reply");
  const r = port((answer: unknown) => {
    assert.is(answer, "1");
    got.countDown();
  });
  snd(`${NODE()}#`, "can", "time", r);
  await got.wait();
});

test("node port relay - ['', 'snd', TARGET, ...]: a bare node ID is its node port; a local port sees the relaying node", async () => {
  const seen: [unknown[], string][] = [];
  const p = port((...m: unknown[]) => void seen.push([m, SRCNODE()]));
  await withRecordingRouter(async (sent) => {
    // As captured from Perl: relay a time request to the sender's own node port.
    handleNodeRequest("ev_pclient", ["snd", "ev_pclient", "time", "ev_pclient#gLVlGefiOb", "relay-np"]);
    handleNodeRequest("ev_pclient", ["snd", "third/node#q", "hi"]);
    handleNodeRequest("relay/node", ["snd", p, "relayed", 1]);
    handleNodeRequest("relay/node", ["snd", "", "ignored"]);
    await flushRunQueue();
    assert.equal(sent, [["ev_pclient", "ev_pclient#", ["time", "ev_pclient#gLVlGefiOb", "relay-np"]], ["third/node", "third/node#q", ["hi"]]]);
  });
  assert.equal(seen, [[["relayed", 1], "relay/node"]]);
});

test.run();
