// Silent partitions between two real nodes, each in its own network namespace
// (spec/netns-helpers.ts; needs root, else a SKIPPED line): A is a seed (global node),
// B its slave, monitor_timeout 2 s, connect_interval 0.5 s, each sending the other a
// tick every 50 ms. When the veth link drops every packet, in both directions or in
// one, neither TCP notices for many minutes; liveness between our own nodes must fail
// the link on both sides with "link timeout" within 2 x monitor_timeout. After the heal
// the ticks must flow again at once (the senders dial the last known addresses), not
// after the seed keeper's backoff. The times measured are printed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type TestNode, startNode, stopAllNodes } from "./net-helpers.ts";
import { type NetnsPair, createNetnsPair, skipWithoutNetns } from "./netns-helpers.ts";

const FILE = "spec/net-partition.spec.ts";
// AEMP_SPEC_MONITOR_TIMEOUT and AEMP_SPEC_CONNECT_INTERVAL measure other settings.
const MONITOR_TIMEOUT = Number(process.env.AEMP_SPEC_MONITOR_TIMEOUT ?? 2);
const options = { monitor_timeout: MONITOR_TIMEOUT, connect_interval: Number(process.env.AEMP_SPEC_CONNECT_INTERVAL ?? 0.5) };

if (!skipWithoutNetns(FILE)) {
  let pair: NetnsPair;
  let A: TestNode;
  let B: TestNode;
  let recA = "";
  let recB = "";

  /** Milliseconds from `t0` until `node` reports `other` down (an event after the first `seen`), and the text. */
  async function downAfter(node: TestNode, other: TestNode, t0: number, seen: number): Promise<{ ms: number; text: string }> {
    const e = await node.event((x) => x.ev === "node" && x.nodeId === other.nodeId && x.up === false && node.events.indexOf(x) >= seen, 4 * MONITOR_TIMEOUT * 1000, `${node.name} to see ${other.name} down`);
    return { ms: Date.now() - t0, text: e.text as string };
  }

  /** Milliseconds from `t0` until `node` records a tick on `rec` (an event after the first `seen`). */
  async function tickAfter(node: TestNode, rec: string, t0: number, seen: number): Promise<number> {
    await node.event((x) => x.ev === "msg" && x.port === rec && x.msg[0] === "tick" && node.events.indexOf(x) >= seen, 10_000, `a tick on ${rec} after the heal`);
    return Date.now() - t0;
  }

  test.before(async () => {
    try {
      pair = createNetnsPair("i12");
      const seed = `${pair.a.ip}:4040`;
      A = await startNode({ ...options, binds: [seed], seeds: [seed] }, { name: "a", netns: pair.a.ns });
      B = await startNode({ ...options, binds: [`${pair.b.ip}:*`], seeds: [seed] }, { name: "b", netns: pair.b.ns });
      await B.joined(A);
      recA = await A.port("record");
      recB = await B.port("record");
      await A.call("ticker", { to: recB, every: 50 });
      await B.call("ticker", { to: recA, every: 50 });
      await A.message(recA, "tick");
      await B.message(recB, "tick");
    } catch (err) {
      console.error("net-partition setup failed:", err);
      pair?.cleanup();
      process.exit(1);
    }
  });

  test.after(async () => {
    await stopAllNodes();
    pair.cleanup();
  });

  for (const direction of ["both", "a->b"] as const) {
    test(`partition (${direction}) - both sides fail the link (liveness: 'link timeout') within 2 x monitor_timeout; ticks flow again soon after the heal`, async () => {
      const t0 = Date.now();
      pair.cut(direction);
      const [onA, onB] = await Promise.all([downAfter(A, B, t0, A.events.length), downAfter(B, A, t0, B.events.length)]);
      console.log(`  partition ${direction}: A saw B down after ${onA.ms} ms (${onA.text}), B saw A down after ${onB.ms} ms (${onB.text}); monitor_timeout ${MONITOR_TIMEOUT * 1000} ms`);
      // The side whose packets still arrive may see the other end close the link first;
      // with a longer monitor_timeout, TCP may give up first (the local qdisc drops).
      for (const seen of [onA, onB]) assert.match(seen.text, /^(link timeout|Unexpected end-of-file|Connection reset by peer|Connection timed out)$/);
      const slack = 750; // event delivery to this process, a loaded machine
      assert.ok(onA.ms < 2 * MONITOR_TIMEOUT * 1000 + slack && onB.ms < 2 * MONITOR_TIMEOUT * 1000 + slack, `${onA.ms} / ${onB.ms} ms`);
      // Stay cut long enough for the seed keeper's retry delay to reach its maximum.
      await new Promise<void>((r) => setTimeout(r, 2 * MONITOR_TIMEOUT * 1000));
      const [seenA, seenB] = [A.events.length, B.events.length];
      const t1 = Date.now();
      pair.heal();
      const [toA, toB] = await Promise.all([tickAfter(A, recA, t1, seenA), tickAfter(B, recB, t1, seenB)]);
      console.log(`  heal ${direction}: ticks arrived at A after ${toA} ms, at B after ${toB} ms`);
      assert.ok(toA < 2500 && toB < 2500, `${toA} / ${toB} ms`);
    });
  }

  test.run();
}
