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
import { NODE, cal, configure, kil, mon, port, rcv, snd } from "aemp";

type Command = { id: number; cmd: string } & Record<string, any>;
/** What the `stream` commands take (the bare one names the server's TCP port instead of `to`). */
interface StreamCommand {
  n: number;
  chunk: number;
  window: number;
  size?: number;
  kind?: "text" | "bytes";
  ackEvery?: number;
}
const clock = (): number => performance.timeOrigin + performance.now();
const out = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
/** The receiver of a stream acknowledges every this many messages (for the sender's window), unless told otherwise. */
const ACK_EVERY = 10_000;

/**
 * The third element of every streamed message, when a stream carries a payload: `size`
 * bytes of ASCII text (JSON needs a few escapes in it) or of binary data.
 */
function makePayload(size: number | undefined, kind: "text" | "bytes" | undefined): string | Uint8Array | undefined {
  if (size === undefined) return undefined;
  if (kind === "bytes") {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 7919) & 0xff;
    return bytes;
  }
  const line = 'Lorem ipsum dolor sit amet, "consectetur" adipiscing elit \\ sed do eiusmod tempor.\n';
  return line.repeat(Math.ceil(size / line.length)).slice(0, size);
}

/** CPU time (user + system) this process used since `since`, in microseconds. */
const cpuUs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---- aemp node ----------------------------------------------------------------------

/** The small zod schema of the stream's messages (validation figures). */
const streamSchema = z.union([z.tuple([z.literal("m"), z.number()]), z.tuple([z.literal("start"), z.number(), z.string(), z.number()])]);

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
   * A port counting `["m", i, payload?]`: after `["start", n, donePort, ackEvery?]`, it
   * sends donePort `["ack", count]` every `ackEvery` (default ACK_EVERY) messages and
   * `["done", n, inOrder, cpuUs]` at the n-th. With `validated`, the port has the zod
   * schema of those messages.
   */
  async counter(c) {
    let count = 0;
    let expected = 0;
    let done = "";
    let inOrder = true;
    let ackEvery = ACK_EVERY;
    let cpu0 = process.cpuUsage();
    const p = rcv(c.validated === true ? port(streamSchema) : port(), "start", (n: number, replyTo: string, every?: number) => {
      count = 0;
      expected = n;
      done = replyTo;
      ackEvery = every ?? ACK_EVERY;
      inOrder = true;
      cpu0 = process.cpuUsage();
    }, "m", (i: number) => {
      if (i !== count) inOrder = false;
      if (++count === expected) snd(done, "done", count, inOrder, cpuUs(cpu0));
      else if (count % ackEvery === 0) snd(done, "ack", count);
    });
    return { port: p };
  },
  /**
   * Streams n `["m", i]` to `to` (`["m", i, payload]` with `size`, see makePayload),
   * `chunk` per event-loop turn, at most `window` unacknowledged (0: no limit), the
   * receiver acknowledging every `ackEvery`; resolves when all arrived.
   */
  async stream(c) {
    const { to, n, chunk, window, size, kind, ackEvery } = c as unknown as StreamCommand & { to: string };
    const payload = makePayload(size, kind);
    const box = inbox();
    snd(to, "start", n, box.id, ackEvery ?? ACK_EVERY);
    const cpu0 = process.cpuUsage();
    const t0 = clock();
    let acked = 0;
    for (let sent = 0; sent < n; ) {
      while (window > 0 && sent - acked >= window) acked = (await box.next())[1] as number;
      const stop = Math.min(n, sent + chunk);
      if (payload === undefined) for (; sent < stop; sent++) snd(to, "m", sent);
      else for (; sent < stop; sent++) snd(to, "m", sent, payload);
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
   * Validation in this process: `n` messages `["m", i]` relayed by our own node port
   * (`["", "snd", port, ...msg]`: the path of messages from other nodes, validated as
   * they are) to a plain port and to one with `streamSchema`;
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
        for (let i = 0; i < n; i++) snd(NODE(), "snd", p, "m", i);
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

/**
 * Reads newline-separated JSON from a socket, calling `onValue` for each. A line cut
 * across chunks is kept in pieces and joined once, when its newline arrives (only the
 * new chunk is searched), as a careful hand-written reader would do.
 */
function readLines(socket: Socket, onValue: (v: unknown) => void): void {
  let pieces: string[] = [];
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    let nl = chunk.indexOf("\n");
    if (nl < 0) {
      pieces.push(chunk);
      return;
    }
    let start = 0;
    if (pieces.length > 0) {
      pieces.push(chunk.slice(0, nl));
      onValue(JSON.parse(pieces.join("")));
      pieces = [];
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    }
    for (; nl >= 0; nl = chunk.indexOf("\n", start)) {
      onValue(JSON.parse(chunk.slice(start, nl)));
      start = nl + 1;
    }
    if (start < chunk.length) pieces.push(chunk.slice(start));
  });
}

/**
 * Reads length-prefixed binary frames (u32 big-endian length, then the bytes) from a
 * socket, calling `onFrame` with each frame's bytes, joined once when complete.
 */
function readFrames(socket: Socket, onFrame: (frame: Buffer) => void): void {
  let pieces: Buffer[] = [];
  let have = 0;
  socket.on("data", (chunk: Buffer) => {
    pieces.push(chunk);
    have += chunk.length;
    while (have >= 4) {
      const head = pieces[0].length >= 4 ? pieces[0] : Buffer.concat(pieces);
      const length = head.readUInt32BE(0);
      if (have < 4 + length) return;
      const all = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
      onFrame(all.subarray(4, 4 + length));
      const rest = all.subarray(4 + length);
      pieces = rest.length > 0 ? [rest] : [];
      have = rest.length;
    }
  });
}

/**
 * The bare server: per line `["p", "m", i, payload?]` counts (after `["start", n,
 * ackEvery?]`, writes `["ack", count]` every ackEvery and `["done", n]` at the n-th);
 * `["p", "ping", i]` is echoed back; `["p", "stamp", t0]` is answered with the one-way
 * time.
 */
async function bareServer(): Promise<number> {
  const server = createServer({ noDelay: true }, (socket) => {
    let expected = 0;
    let count = 0;
    let ackEvery = ACK_EVERY;
    let cpu0 = process.cpuUsage();
    readLines(socket, (v) => {
      const m = v as unknown[];
      switch (m[1]) {
        case "m":
          if (++count === expected) socket.write(`${JSON.stringify(["done", count, true, cpuUs(cpu0)])}\n`);
          else if (count % ackEvery === 0) socket.write(`${JSON.stringify(["ack", count])}\n`);
          break;
        case "start":
          expected = m[2] as number;
          ackEvery = (m[3] as number | undefined) ?? ACK_EVERY;
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

/**
 * The bare binary server: length-prefixed frames; the first of a connection is the
 * JSON text `["start", n, ackEvery]`, each later one is counted, answered like the
 * line server (JSON lines back).
 */
async function bareBytesServer(): Promise<number> {
  const server = createServer({ noDelay: true }, (socket) => {
    let expected = -1;
    let count = 0;
    let ackEvery = ACK_EVERY;
    let cpu0 = process.cpuUsage();
    readFrames(socket, (frame) => {
      if (expected < 0) {
        [, expected, ackEvery] = JSON.parse(frame.toString()) as [string, number, number];
        cpu0 = process.cpuUsage();
      } else if (++count === expected) socket.write(`${JSON.stringify(["done", count, true, cpuUs(cpu0)])}\n`);
      else if (count % ackEvery === 0) socket.write(`${JSON.stringify(["ack", count])}\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as { port: number }).port;
}

/** The head of a binary frame of `length` bytes. */
function frameHead(length: number): Buffer {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(length, 0);
  return head;
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
  /**
   * n lines `["p", "m", i]` (`["p", "m", i, payload]` with `size`), `chunk` per write
   * and per event-loop turn; with `kind: "bytes"`, n binary frames of the payload to the
   * bytes server (`port` is then its port).
   */
  async stream(c) {
    const { port: to, n, chunk, window, size, kind, ackEvery } = c as unknown as StreamCommand & { port: number };
    const payload = makePayload(size, kind);
    const { socket, next } = await bareConnect(to);
    const bytes = payload instanceof Uint8Array ? payload : undefined;
    if (bytes !== undefined) {
      const start = Buffer.from(JSON.stringify(["start", n, ackEvery ?? ACK_EVERY]));
      socket.write(Buffer.concat([frameHead(start.length), start]));
    }
    else socket.write(`${JSON.stringify(["p", "start", n, ackEvery ?? ACK_EVERY])}\n`);
    const cpu0 = process.cpuUsage();
    const t0 = clock();
    let acked = 0;
    for (let sent = 0; sent < n; ) {
      while (window > 0 && sent - acked >= window) acked = (await next())[1] as number;
      const stop = Math.min(n, sent + chunk);
      if (bytes !== undefined) {
        // The frame's head and the payload as they are: no copy on this side.
        const head = frameHead(bytes.length);
        socket.cork();
        for (; sent < stop; sent++) {
          socket.write(head);
          socket.write(bytes);
        }
        socket.uncork();
      } else {
        let batch = "";
        if (payload === undefined) for (; sent < stop; sent++) batch += `${JSON.stringify(["p", "m", sent])}\n`;
        else for (; sent < stop; sent++) batch += `${JSON.stringify(["p", "m", sent, payload])}\n`;
        socket.write(batch);
      }
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
  const [linesPort, bytesPort] = await Promise.all([bareServer(), bareBytesServer()]);
  commands = bareCommands;
  out({ ready: true, port: linesPort, bytesPort });
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
