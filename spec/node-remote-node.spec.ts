// RemoteNode (lib/node/remote-node.ts) alone, with a fake host and fake links: the
// queue while connecting, flushing in order, monitors and their mon1/mon0 requests, and
// the "no holes" failure that fires every monitor once. The same behaviour over real
// sockets is in the net-*.spec.ts files.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Link } from "../lib/transport/connection.ts";
import { type NodeHost, RemoteNode } from "../lib/node/remote-node.ts";
import { setTracing } from "../lib/log.ts";
import { captureLog } from "./helpers.ts";

interface Host extends NodeHost {
  connects: number;
  events: [string, boolean, string | undefined][];
  forgotten: string[];
}

function host(): Host {
  const h: Host = {
    connects: 0,
    events: [],
    forgotten: [],
    connect() {
      h.connects++;
    },
    nodeEvent(nodeId, up, text) {
      h.events.push([nodeId, up, text]);
    },
    forgetPeer(nodeId) {
      h.forgotten.push(nodeId);
    },
  };
  return h;
}

/** A stand-in for a Link: records what is sent on it. */
function link(): Link & { sent: unknown[][] } {
  const sent: unknown[][] = [];
  return { sent, send: (p: unknown[]) => sent.push(p) } as unknown as Link & { sent: unknown[][] };
}

test("remote node - sends queue while connecting and flush in order once attached", () => {
  const h = host();
  const n = new RemoteNode("peer/1", h);
  n.send(["p", 1]);
  n.send(["p", 2]);
  assert.is(h.connects, 1, "one connection attempt for both");
  assert.is(n.connecting, true);
  const l = link();
  n.attach(l);
  n.send(["p", 3]);
  assert.equal(l.sent, [["p", 1], ["p", 2], ["p", 3]]);
  assert.equal(h.events, [["peer/1", true, undefined]]);
  assert.is(n.isUp, true);
  assert.is(n.connecting, false);
});

test("remote node - a failed connection drops the queue and fires every monitor once", () => {
  const h = host();
  const n = new RemoteNode("peer/1", h);
  const fired: [string, unknown[]][] = [];
  n.monitor("peer/1#a", (r) => fired.push(["a", r]));
  n.monitor("peer/1#a", (r) => fired.push(["a2", r]));
  n.monitor("peer/1#b", (r) => fired.push(["b", r]));
  n.monitor(null, (r) => fired.push(["node", r]));
  n.send(["a", "lost"]);
  n.fail("connect timeout");
  const reason = ["transport_error", "peer/1", "connect timeout"];
  assert.equal(fired, [["a", reason], ["a2", reason], ["b", reason], ["node", reason]]);
  assert.equal(h.events, [], "never up, so no down event");
  assert.equal(h.forgotten, ["peer/1"]);
  // A later attempt starts afresh: nothing of the old queue is sent, no monitor left.
  n.send(["a", "new"]);
  const l = link();
  n.attach(l);
  assert.equal(l.sent, [["a", "new"]]);
  n.fail("Unexpected end-of-file");
  assert.is(fired.length, 4);
  assert.equal(h.events.at(-1), ["peer/1", false, "Unexpected end-of-file"]);
});

test("remote node - the first monitor of a port sends mon1, cancelling the last sends mon0", () => {
  const h = host();
  const n = new RemoteNode("peer/1", h);
  const l = link();
  n.attach(l);
  const g1 = n.monitor("peer/1#a", () => {});
  const g2 = n.monitor("peer/1#a", () => {});
  g1();
  g1(); // twice is harmless
  assert.equal(l.sent, [["", "mon1", "a"]]);
  g2();
  assert.equal(l.sent, [["", "mon1", "a"], ["", "mon0", "a"]]);
});

test("remote node - a monitor cancelled while connecting queues its mon0 behind the mon1", () => {
  const h = host();
  const n = new RemoteNode("peer/1", h);
  const cancel = n.monitor("peer/1#a", () => {});
  cancel();
  const l = link();
  n.attach(l);
  assert.equal(l.sent, [["", "mon1", "a"], ["", "mon0", "a"]]);
});

test("remote node - kil0 fires that port's monitors once; monitoring again asks again", () => {
  const h = host();
  const n = new RemoteNode("peer/1", h);
  const l = link();
  n.attach(l);
  const fired: unknown[][] = [];
  n.monitor("peer/1#a", (r) => fired.push(r));
  n.portDied("a", ["die", "oops"]);
  n.portDied("a", ["again"]);
  n.portDied("unknown", []);
  assert.equal(fired, [["die", "oops"]]);
  n.monitor("peer/1#a", (r) => fired.push(r));
  assert.equal(l.sent, [["", "mon1", "a"], ["", "mon1", "a"]]);
});

test("remote node - a monitor callback that throws does not stop the others", () => {
  const h = host();
  const n = new RemoteNode("peer/1", h);
  const fired: string[] = [];
  n.monitor("peer/1#a", () => {
    throw new Error("bad monitor");
  });
  n.monitor("peer/1#a", () => fired.push("second"));
  using log = captureLog();
  n.fail("x");
  assert.equal(fired, ["second"]);
  assert.equal(log.texts(4), ["monitor action threw (monitor callbacks must not throw): bad monitor"]);
});

test("remote node - AEMP_TRACE: every packet for the node, queued or sent, as SND node <- [portname, ...]", () => {
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  setTracing(true);
  try {
    const n = new RemoteNode("peer/t", host());
    n.send(["p", "queued", 1]);
    n.attach(link());
    n.send(["", "mon1", "q"]);
  } finally {
    setTracing(false);
    process.stderr.write = write;
  }
  assert.equal(lines.filter((l) => l.startsWith("SND")), ['SND peer/t <- ["p","queued",1]\n', 'SND peer/t <- ["","mon1","q"]\n']);
});

test.run();
