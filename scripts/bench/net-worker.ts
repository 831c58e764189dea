/**
 * One process of the network benchmark (scripts/bench/net.ts starts these; not meant
 * to be run by hand). Role from argv[2]:
 * - `node CONFIG_JSON`: an aemp node configured with CONFIG_JSON (its `ready` line
 *   gives `metrics`, the Prometheus address, when CONFIG_JSON asks for metrics);
 * - `bare`: plain Node TCP, newline-separated JSON (the baselines).
 * Reads commands from stdin, one JSON line each (`{id, cmd, ...}`), answers one JSON line
 * `{re: id, ...}` when the command is done. Prints `{ready: ...}` first. Exits when stdin
 * closes. Times are milliseconds from `performance.timeOrigin + performance.now()`, a
 * clock every process on this machine shares.
 */
import { type Socket, connect, createServer } from "node:net";
import { createInterface } from "node:readline";
import * as z from "zod";
import { cal, configure, kil, mon, port, rcv, snd } from "../../lib/index.ts";
import { deliverLocal } from "../../lib/kernel/ports.ts";

type Command = { id: number; cmd: string } & Record<string, any>;
const clock = (): number => performance.timeOrigin + performance.now();
const out = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
/** The receiver of a stream acknowledges every this many messages (for the sender's window). */
const ACK_EVERY = 10_000;

/** CPU time (user + system) this process used since `since`, in microseconds. */
const cpuUs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---- aemp node ----------------------------------------------------------------------

/** The small zod schema of the stream's messages (validation figures). */
const streamSchema = z.union([z.tuple([z.literal("m"), z.number()]), z.tuple([z.literal("start"), z.number(), z.string()])]);

/** Replies arrive here: a tiny promise-based receive on one port. */
function inbox(): { id: string; next(): Promise<unknown[]> } {
  const queue: unknown[][] = [];
  let waiter: ((m: unknown[]) => void) | undefined;
  const id = port((...m: unknown[]) => {
    if (waiter !== undefined) {
      const w = waiter;
      waiter = undefined;
      w(m);
    } else queue.push(m);
  });
  return {
    id,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiter = r))),
  };
}

let poller: NodeJS.Timeout | undefined;

const nodeCommands: Record<string, (c: Command) => Promise<Record<string, unknown>>> = {
  /**
   * A port counting `["m", i]`: after `["start", n, donePort]`, it sends donePort
   * `["ack", count]` every ACK_EVERY messages and `["done", n, inOrder, cpuUs]` at the n-th.
   * With `validated`, the port has the zod schema of those messages.
   */
  async counter(c) {
    let count = 0;
    let expected = 0;
    let done = "";
    let inOrder = true;
    let cpu0 = process.cpuUsage();
    const p = rcv(c.validated === true ? port(streamSchema) : port(), "start", (n: number, replyTo: string) => {
      count = 0;
      expected = n;
      done = replyTo;
      inOrder = true;
      cpu0 = process.cpuUsage();
    }, "m", (i: number) => {
      if (i !== count) inOrder = false;
      if (++count === expected) snd(done, "done", count, inOrder, cpuUs(cpu0));
      else if (count % ACK_EVERY === 0) snd(done, "ack", count);
    });
    return { port: p };
  },
  /**
   * Streams n `["m", i]` to `to`, `chunk` per event-loop turn, at most `window`
   * unacknowledged (0: no limit); resolves when all arrived.
   */
  async stream(c) {
    const { to, n, chunk, window } = c as unknown as { to: string; n: number; chunk: number; window: number };
    const box = inbox();
    snd(to, "start", n, box.id);
    const cpu0 = process.cpuUsage();
    const t0 = clock();
    let acked = 0;
    for (let sent = 0; sent < n; ) {
      while (window > 0 && sent - acked >= window) acked = (await box.next())[1] as number;
      const stop = Math.min(n, sent + chunk);
      for (; sent < stop; sent++) snd(to, "m", sent);
      await nextTurn();
    }
    let reply = await box.next();
    while (reply[0] === "ack") reply = await box.next();
    const [, count, inOrder, receiverCpu] = reply;
    const ms = clock() - t0;
    const senderCpu = cpuUs(cpu0);
    kil(box.id);
    return { ms, count, inOrder, senderCpu, receiverCpu };
  },
  async echo() {
    return { port: port((...m: unknown[]) => snd(m[m.length - 1] as string, ...m.slice(0, -1))) };
  },
  /**
   * Validation in this process: `n` messages `["m", i]` handed to `deliverLocal` (where
   * messages from other nodes enter) for a plain port and for one with `streamSchema`;
   * best of 3, nanoseconds per message, delivery to a tag callback included.
   */
  async validation(c) {
    const n = c.n as number;
    const perMessage = async (validated: boolean): Promise<number> => {
      let best = Infinity;
      for (let run = 0; run < 3; run++) {
        let count = 0;
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        const p = rcv(validated ? port(streamSchema) : port(), "m", () => {
          if (++count === n) done();
        });
        const t0 = performance.now();
        for (let i = 0; i < n; i++) deliverLocal(p, ["m", i], "peer");
        await finished;
        best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
        kil(p);
      }
      return best;
    };
    await perMessage(true); // warm-up
    return { plainNs: await perMessage(false), zodNs: await perMessage(true) };
  },
  /** k sequential cal round trips to `to`; returns each in microseconds. */
  async cal(c) {
    const { to, k } = c as unknown as { to: string; k: number };
    const us: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < k; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => cal(to, "ping", i, () => resolve(), 5));
      us.push((performance.now() - t0) * 1000);
    }
    return { us, cpuUs: cpuUs(cpu0) / k };
  },
  /** A port that monitors ports on request: `["watch", p, replyTo]`. */
  async watcher() {
    const w = rcv(port(), "watch", (p: string, replyTo: string) => {
      mon(p, () => snd(replyTo, "fired", clock()));
      snd(replyTo, "watching");
    });
    return { port: w };
  },
  /** k times: a new port, watched by `watcher` on the other node, killed here. */
  async monitor(c) {
    const { watcher, k } = c as unknown as { watcher: string; k: number };
    const box = inbox();
    const us: number[] = [];
    for (let i = 0; i < k; i++) {
      const p = port(() => {});
      snd(watcher, "watch", p, box.id);
      await box.next(); // "watching": the mon1 for p arrived before it
      const t0 = clock();
      kil(p);
      const [, t1] = await box.next();
      us.push(((t1 as number) - t0) * 1000);
    }
    kil(box.id);
    return { us };
  },
  /**
   * Asks each of `targets` for `aemp_info` every `interval` seconds, as `aemp observe`
   * does, until `unpoll`.
   */
  async poll(c) {
    const { targets, interval } = c as unknown as { targets: string[]; interval: number };
    clearInterval(poller);
    const ask = (): void => {
      for (const t of targets) cal(`${t}#`, "aemp_info", () => {}, Math.max(interval, 1));
    };
    ask();
    poller = setInterval(ask, interval * 1000);
    return {};
  },
  async unpoll() {
    clearInterval(poller);
    return {};
  },
  /** A port that answers `["stamp", t0, replyTo]` with the one-way time in microseconds. */
  async stamper() {
    return { port: rcv(port(), "stamp", (t0: number, replyTo: string) => snd(replyTo, "us", (clock() - t0) * 1000)) };
  },
  /** k one-way snd latencies to a stamper on the other node. */
  async oneway(c) {
    const { to, k } = c as unknown as { to: string; k: number };
    const box = inbox();
    const us: number[] = [];
    for (let i = 0; i < k; i++) {
      snd(to, "stamp", clock(), box.id);
      us.push((await box.next())[1] as number);
    }
    kil(box.id);
    return { us };
  },
};

// ---- bare TCP -----------------------------------------------------------------------

/** Reads newline-separated JSON from a socket, calling `onValue` for each. */
function readLines(socket: Socket, onValue: (v: unknown) => void): void {
  let rest = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    const text = rest + chunk;
    let start = 0;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
      onValue(JSON.parse(text.slice(start, nl)));
      start = nl + 1;
    }
    rest = text.slice(start);
  });
}

let bareServerPort = 0;

/**
 * The bare server: per line `["p", "m", i]` counts (after `["start", n]`, writes
 * `["done", n]` at the n-th); `["p", "ping", i]` is echoed back; `["p", "stamp", t0]`
 * is answered with the one-way time.
 */
async function bareServer(): Promise<number> {
  const server = createServer({ noDelay: true }, (socket) => {
    let expected = 0;
    let count = 0;
    let cpu0 = process.cpuUsage();
    readLines(socket, (v) => {
      const m = v as unknown[];
      switch (m[1]) {
        case "m":
          if (++count === expected) socket.write(`${JSON.stringify(["done", count, true, cpuUs(cpu0)])}\n`);
          else if (count % ACK_EVERY === 0) socket.write(`${JSON.stringify(["ack", count])}\n`);
          break;
        case "start":
          expected = m[2] as number;
          count = 0;
          cpu0 = process.cpuUsage();
          break;
        case "ping":
          socket.write(`${JSON.stringify(m)}\n`);
          break;
        case "stamp":
          socket.write(`${JSON.stringify(["us", (clock() - (m[2] as number)) * 1000])}\n`);
          break;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as { port: number }).port;
}

function bareConnect(portNumber: number): Promise<{ socket: Socket; next(): Promise<unknown[]> }> {
  const socket = connect({ host: "127.0.0.1", port: portNumber, noDelay: true });
  const queue: unknown[][] = [];
  let waiter: ((m: unknown[]) => void) | undefined;
  readLines(socket, (v) => {
    if (waiter !== undefined) {
      const w = waiter;
      waiter = undefined;
      w(v as unknown[]);
    } else queue.push(v as unknown[]);
  });
  return new Promise((resolve) => socket.once("connect", () => resolve({
    socket,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiter = r))),
  })));
}

const bareCommands: Record<string, (c: Command) => Promise<Record<string, unknown>>> = {
  /** n lines `["p", "m", i]`, `chunk` per write and per event-loop turn. */
  async stream(c) {
    const { port: to, n, chunk, window } = c as unknown as { port: number; n: number; chunk: number; window: number };
    const { socket, next } = await bareConnect(to);
    socket.write(`${JSON.stringify(["p", "start", n])}\n`);
    const cpu0 = process.cpuUsage();
    const t0 = clock();
    let acked = 0;
    for (let sent = 0; sent < n; ) {
      while (window > 0 && sent - acked >= window) acked = (await next())[1] as number;
      const stop = Math.min(n, sent + chunk);
      let batch = "";
      for (; sent < stop; sent++) batch += `${JSON.stringify(["p", "m", sent])}\n`;
      socket.write(batch);
      await nextTurn();
    }
    let reply = await next();
    while (reply[0] === "ack") reply = await next();
    const [, , , receiverCpu] = reply;
    const ms = clock() - t0;
    const senderCpu = cpuUs(cpu0);
    socket.destroy();
    return { ms, count: n, inOrder: true, senderCpu, receiverCpu };
  },
  async cal(c) {
    const { port: to, k } = c as unknown as { port: number; k: number };
    const { socket, next } = await bareConnect(to);
    const us: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < k; i++) {
      const t0 = performance.now();
      socket.write(`${JSON.stringify(["p", "ping", i, "reply#port"])}\n`);
      await next();
      us.push((performance.now() - t0) * 1000);
    }
    const cpu = cpuUs(cpu0) / k;
    socket.destroy();
    return { us, cpuUs: cpu };
  },
  async oneway(c) {
    const { port: to, k } = c as unknown as { port: number; k: number };
    const { socket, next } = await bareConnect(to);
    const us: number[] = [];
    for (let i = 0; i < k; i++) {
      socket.write(`${JSON.stringify(["p", "stamp", clock(), "reply#port"])}\n`);
      us.push((await next())[1] as number);
    }
    socket.destroy();
    return { us };
  },
};

// ---- main ---------------------------------------------------------------------------

const role = process.argv[2];
let commands: typeof nodeCommands;
if (role === "node") {
  const { nodeId, addresses, metrics } = await configure(JSON.parse(process.argv[3]));
  commands = nodeCommands;
  out({ ready: true, nodeId, addresses, metrics });
} else if (role === "bare") {
  bareServerPort = await bareServer();
  commands = bareCommands;
  out({ ready: true, port: bareServerPort });
} else {
  throw new Error(`net-worker: unknown role ${role}`);
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const c = JSON.parse(line) as Command;
  const run = commands[c.cmd];
  if (run === undefined) {
    out({ re: c.id, error: `unknown command ${c.cmd}` });
    return;
  }
  run(c).then(
    (r) => out({ re: c.id, ...r }),
    (err: unknown) => out({ re: c.id, error: String(err) }),
  );
});
lines.on("close", () => process.exit(0));
