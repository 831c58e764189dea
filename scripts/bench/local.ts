/**
 * Local kernel figures (npm run bench:local), each next to a baseline from this run:
 * - snd -> tagged rcv throughput vs a plain Map lookup + call of the same messages;
 * - port create+kill rate vs creating and deleting Map entries holding a closure;
 * - heap bytes per idle callback port vs one Map entry (id -> function).
 */
import { kil, port, rcv, snd } from "../../lib/index.ts";
import { best, fmt, gc, now, rate, row } from "./util.ts";

const N = 2_000_000;

function baselineDelivery(): number {
  const tags = new Map<string, (x: number) => void>();
  let sum = 0;
  tags.set("tick", (x) => {
    sum += x;
  });
  const ports = new Map<string, Map<string, (x: number) => void>>([["anon/x#p.1", tags]]);
  const target = "anon/x#p.1";
  const t0 = now();
  for (let i = 0; i < N; i++) {
    const msg = ["tick", i];
    ports.get(target)!.get(msg[0] as string)!(msg[1] as number);
  }
  const ms = now() - t0;
  if (sum !== (N * (N - 1)) / 2) throw new Error("baseline miscounted");
  return rate(N, ms);
}

/**
 * A producer port streams N messages in chunks of `chunk` (one chunk per run-queue
 * turn, as a port answering a stream of requests would); a consumer with a tag
 * callback counts them. chunk = N sends everything up front, so the whole backlog is
 * alive at once: that shows the cost of a 2M-message queue (mostly GC), not delivery.
 */
function kernelDelivery(chunk: number): Promise<number> {
  return new Promise((resolve) => {
    let count = 0;
    let sent = 0;
    const t0 = now();
    // Typed ports: the types are gone at run time, so the figures are those of plain ports.
    const consumer = rcv(port<["tick", number]>(), "tick", () => {
      if (++count === N) {
        kil(consumer);
        resolve(rate(N, now() - t0));
      }
    });
    const producer = rcv(port<["go"]>(), "go", () => {
      for (let i = 0; i < chunk && sent < N; i++, sent++) snd(consumer, "tick", sent);
      if (sent < N) snd(producer, "go");
      else kil(producer);
    });
    snd(producer, "go");
  });
}

function baselineCreateKill(): number {
  const map = new Map<string, () => void>();
  const t0 = now();
  for (let i = 0; i < 1_000_000; i++) {
    const id = `anon/x#p.${i.toString(36)}`;
    map.set(id, () => {});
    map.delete(id);
  }
  return rate(1_000_000, now() - t0);
}

function kernelCreateKill(): number {
  const cb = () => {};
  const t0 = now();
  for (let i = 0; i < 1_000_000; i++) kil(port(cb));
  return rate(1_000_000, now() - t0);
}

function heapPerEntry(make: (i: number) => unknown): number {
  const M = 1_000_000;
  gc();
  const before = process.memoryUsage().heapUsed;
  const keep = make(M);
  gc();
  const after = process.memoryUsage().heapUsed;
  if (keep === undefined) throw new Error("unreachable");
  return (after - before) / M;
}

console.log(`aemp bench:local (node ${process.version}, ${N.toLocaleString()} messages)`);
const base = await best(3, baselineDelivery);
const ours = await best(3, () => kernelDelivery(1000));
row("snd -> tagged rcv, streamed (msgs/s)", fmt(ours), fmt(base), ours / base, "target >= 0.25x, > 9.7M/s (Erlang)");
const bulk = await best(3, () => kernelDelivery(N));
row("  same, all 2M queued up front (msgs/s)", fmt(bulk), fmt(base), bulk / base, "(informational: GC of the backlog)");

const baseCk = await best(3, baselineCreateKill);
const oursCk = await best(3, kernelCreateKill);
row("port create+kill (ports/s)", fmt(oursCk), fmt(baseCk), oursCk / baseCk, "target >= 1M/s");

const baseMem = heapPerEntry((m) => {
  const map = new Map<string, () => void>();
  const cb = () => {};
  for (let i = 0; i < m; i++) map.set(`anon/xxxxxxxxxx#abcd.${i.toString(36)}`, cb);
  return map;
});
const cb = () => {};
const oursMem = heapPerEntry((m) => {
  const ids: string[] = [];
  for (let i = 0; i < m; i++) port(cb);
  return ids;
});
row("heap per idle callback port (bytes)", oursMem.toFixed(0), baseMem.toFixed(0), oursMem / baseMem, "target <= 200 bytes");
