// Memory a peer can make a node hold. This spec process is a node (no seeds); scripted
// fake peers send it what a hostile one would: huge port names, many node IDs, relays
// to node IDs nobody knows. What the node keeps must stay bounded by size, and node
// entries must go once the node is down and nothing refers to it.
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { configure, port } from "../lib/index.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { deferred, waitFor } from "./helpers.ts";
import { FakePeer, SECRET } from "./net-helpers.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let address = "";
let inbox = "";
let received = 0;
let onReceived: (() => void) | undefined;

function heapMiB(): number {
  gc();
  gc();
  return getHeapStatistics().used_heap_size / 2 ** 20;
}

/** Waits until the table of remote nodes holds at most `n` entries. */
async function nodeTable(n: number, ms = 5000): Promise<void> {
  const net = currentNetwork()!;
  const d = deferred<void>();
  const check = (): void => {
    if (net.nodes.size <= n) d.resolve();
    else if (!d.settled) setTimeout(check, 20);
  };
  check();
  await waitFor(d.promise, ms, `at most ${n} node entries (have ${net.nodes.size})`);
}

test.before(async () => {
  try {
    ({ addresses: [address] } = await configure({ nodeid: "memory/%u", binds: ["127.0.0.1:*"], secret: SECRET, norc: true }));
    inbox = port(() => {
      received++;
      onReceived?.();
    });
  } catch (err) {
    console.error("net-memory setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  await currentNetwork()?.stop();
});

test("port names - 60 packets to distinct 1 MiB port names leave no trace in the heap", async () => {
  const peer = await FakePeer.connect(address);
  await peer.handshake({ nodeId: "bignames/1" });
  try {
    await peer.ping();
    const before = heapMiB();
    for (let i = 0; i < 60; i++) await peer.sendPacket([`${i}.${"n".repeat(2 ** 20)}`, "hello"]);
    // The inbox's message comes after all of them on the same link.
    const done = deferred<void>();
    onReceived = () => done.resolve();
    await peer.sendPacket([inbox.slice(inbox.indexOf("#") + 1), "after"]);
    await waitFor(done.promise, 10_000, "the message after the big ones");
    const grown = heapMiB() - before;
    assert.ok(grown < 16, `the heap grew by ${grown.toFixed(1)} MiB`);
  } finally {
    peer.close();
  }
});

test("node entries - 200 peers that come and go leave the node table as it was", async () => {
  const baseline = currentNetwork()!.nodes.size;
  for (let i = 0; i < 200; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, async (_, j) => {
      const peer = await FakePeer.connect(address);
      await peer.handshake({ nodeId: `visitor/${i + j}` });
      await peer.ping();
      return peer;
    }));
    for (const peer of batch) peer.close();
  }
  await nodeTable(baseline);
});

test("node entries - relays to 300 unknown 10 kB node IDs are forgotten once they failed", async () => {
  const baseline = currentNetwork()!.nodes.size;
  const peer = await FakePeer.connect(address);
  await peer.handshake({ nodeId: "relayer/1" });
  try {
    const before = heapMiB();
    for (let i = 0; i < 300; i++) await peer.sendPacket(["", "snd", `${i}.${"u".repeat(10_000)}#p`, "lost"]);
    await peer.ping();
    await nodeTable(baseline + 1); // the relayer itself
    // 3 MB of node IDs went by; the send-target cache keeps some of them, within its budget.
    const grown = heapMiB() - before;
    assert.ok(grown < 4, `the heap grew by ${grown.toFixed(1)} MiB`);
  } finally {
    peer.close();
  }
});

test.run();
