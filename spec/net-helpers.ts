/**
 * Helpers for the network specs: test nodes in child processes and a scripted fake
 * peer that writes exact wire bytes.
 *
 * - `startNode(options)` starts spec/fixtures/node.ts as a child process (one node per
 *   process) on 127.0.0.1 with an OS-chosen port, waits for it to be ready and returns
 *   a `TestNode`: `call(cmd, args)` runs a fixture command and resolves with its answer,
 *   `event(pred)` waits for an event it emitted; every wait has a deadline.
 * - `stopAllNodes()` kills every child still running; call it in `test.after` (and it
 *   also runs when the spec process exits, however it exits). Children exit by
 *   themselves when their stdin closes, so none outlives the spec.
 * - `Program` runs any TypeScript file (a sample) as one child process and collects its
 *   output lines; it is stopped by `stopAllNodes()` too.
 * - `FakePeer` is a plain net.Socket speaking AEMP by hand: `handshake()` does a valid
 *   greeting and auth with the handshake module's own builders, after which it decodes
 *   the node's json packets and can send packets or arbitrary bytes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type Socket, connect, createServer } from "node:net";
import { createInterface } from "node:readline";
import SuperJSON from "superjson";
import type { ConfigureOptions } from "../lib/config/configure.ts";
import { configure, monNodes } from "../lib/index.ts";
import { JsonSplitter } from "../lib/transport/json-splitter.ts";
import {
  type GreetingLines,
  buildAuthLine,
  buildGreeting,
  greetingExtras,
  makeNonce,
  verifyAuthLine,
} from "../lib/transport/handshake.ts";
import { ChildNode, type ChildEvent, EVENT_TIMEOUT_MS, type LineCodec, stopChildren, track } from "./child-node.ts";
import { SpecTimeoutError, deferred, waitFor } from "./helpers.ts";

/** The shared secret of every test network. */
export const SECRET = "aemp spec secret";
/** Deadline for a child node to start (tsx compiles on first run). */
export const START_TIMEOUT_MS = 15_000;
export { EVENT_TIMEOUT_MS };

const root = new URL("..", import.meta.url).pathname;
const fixture = new URL("./fixtures/node.ts", import.meta.url).pathname;

/** One line a test node wrote: an answer (`re`) or an event (`ev`). */
export type NodeEvent = ChildEvent;

const superjsonLines: LineCodec = { parse: (line) => SuperJSON.parse(line), stringify: (v) => SuperJSON.stringify(v) };

export class TestNode extends ChildNode<NodeEvent> {
  constructor(child: ChildProcess, name: string) {
    super(child, name, superjsonLines);
  }

  /** A new port of the given kind on this node (see the fixture). */
  async port(kind: "record" | "echo" | "counter" = "record"): Promise<string> {
    return (await this.call("port", { kind })).port as string;
  }

  /** Starts monitoring `target`; resolves with the reason once the monitor fires. */
  async mon(target: string, ms = EVENT_TIMEOUT_MS): Promise<(wait?: number) => Promise<unknown[]>> {
    const id = this.command("mon", { target });
    await this.event((e) => e.re === id, ms, "the answer to mon");
    return async (wait = ms) => (await this.event((e) => e.ev === "mon" && e.tag === id, wait, `monitor of ${target}`)).reason as unknown[];
  }

  /** The next message recorded on `port` whose first element is `tag` (any if omitted). */
  async message(port: string, tag?: unknown, ms = EVENT_TIMEOUT_MS): Promise<unknown[]> {
    const e = await this.event((e) => e.ev === "msg" && e.port === port && (tag === undefined || e.msg[0] === tag), ms, `a message ${tag === undefined ? "" : `'${String(tag)}' `}on ${port}`);
    return e.msg as unknown[];
  }

  /** Resolves once this node has had a link up to `nodeId` (now or earlier). */
  async linkedTo(nodeId: string, ms = EVENT_TIMEOUT_MS): Promise<void> {
    await this.event((e) => e.ev === "node" && e.nodeId === nodeId && e.up === true, ms, `a link to ${nodeId}`);
  }

  /**
   * Resolves once `seed` has processed everything this node sent it so far, in
   * particular its `g_slave` registration (sent as soon as the seed link is up): the
   * link comes up, then a `time` request on the seed's node port gets its answer.
   * After this, any node asking the seed (`g_find`) learns this node's addresses.
   */
  async joined(seed: TestNode | string, ms = EVENT_TIMEOUT_MS): Promise<void> {
    const seedId = typeof seed === "string" ? seed : seed.nodeId;
    await this.linkedTo(seedId, ms);
    const answer = await this.call("cal", { to: `${seedId}#`, msg: ["time"], timeout: ms / 1000 }, ms);
    if (typeof (answer.reply as unknown[])[0] !== "number") throw new Error(`${this.name}: no time from ${seedId}: ${JSON.stringify(answer.reply)}`);
  }

  /** Log texts it emitted so far. */
  logs(): string[] {
    return this.events.filter((e) => e.ev === "log").map((e) => e.text as string);
  }
}

export interface StartOptions {
  /** Name for messages and the node ID prefix (`NAME/%u`). */
  name?: string;
  /** Extra environment (e.g. `AEMP_VERBOSE`). */
  env?: Record<string, string>;
  /** A network namespace to run the node in (spec/netns-helpers.ts; needs root). */
  netns?: string;
}

/**
 * Starts a test node; `options` are configure()'s, defaulting to the test secret, a
 * bind on 127.0.0.1 with a free port, node ID `NAME/%u` and `norc` (a developer's rc
 * file must not change what the specs test).
 */
export async function startNode(options: ConfigureOptions = {}, start: StartOptions = {}): Promise<TestNode> {
  const name = start.name ?? "node";
  const config: ConfigureOptions = { nodeid: `${name}/%u`, binds: ["127.0.0.1:*"], secret: SECRET, norc: true, ...options };
  const argv = [process.execPath, "--import", "tsx", fixture, JSON.stringify(config)];
  // `ip netns exec` execs the command: the child is still the node's own process.
  const [command, ...args] = start.netns === undefined ? argv : ["ip", "netns", "exec", start.netns, ...argv];
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", ...start.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  return new TestNode(child, name).ready(START_TIMEOUT_MS);
}

/**
 * Any TypeScript program run as `node --import tsx FILE ARGS` (one process, so killing
 * it leaves nothing behind), with its output collected line by line: for the samples.
 */
export class Program {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = "";
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  constructor(file: string, args: string[] = [], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, ["--import", "tsx", file, ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    track(this);
    const exited = deferred<number | null>();
    this.exited = exited.promise;
    this.child.on("exit", (code) => {
      exited.resolve(code);
      for (const w of this.waiters) w();
    });
    this.child.stderr!.setEncoding("utf8");
    this.child.stderr!.on("data", (d: string) => {
      this.stderr += d;
    });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      for (const w of this.waiters) w();
    });
  }

  /** The first stdout line (already printed or still to come) matching `re`. */
  line(re: RegExp, ms = EVENT_TIMEOUT_MS): Promise<RegExpExecArray> {
    const d = deferred<RegExpExecArray>();
    const check = (): void => {
      for (const l of this.lines) {
        const m = re.exec(l);
        if (m !== null) return d.resolve(m);
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        d.reject(new Error(`program exited before printing ${re}; stdout:\n${this.lines.join("\n")}\nstderr:\n${this.stderr}`));
      }
    };
    this.waiters.add(check);
    check();
    return waitFor(d.promise, ms, `a line matching ${re}`).finally(() => this.waiters.delete(check));
  }

  /** Waits for the program to exit by itself; resolves with its exit code. */
  exit(ms = EVENT_TIMEOUT_MS): Promise<number | null> {
    return waitFor(this.exited, ms, "the program to exit");
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await waitFor(this.exited, 5000, "the program to exit after SIGKILL");
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (for nodes that must know their
 * address before they start, e.g. a seed listing itself).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * Starts a seed in a child process and configures this process as node `spec/%u` with
 * it as its only seed; resolves with the seed once the link to it is up.
 */
export async function joinNewSeed(): Promise<TestNode> {
  const seed = await startNode({}, { name: "seed" });
  const seedUp = deferred<void>();
  const g = monNodes((nodeId, up) => {
    if (nodeId === seed.nodeId && up) seedUp.resolve();
  });
  await configure({ nodeid: "spec/%u", binds: ["127.0.0.1:*"], seeds: [seed.addresses[0]], secret: SECRET, norc: true });
  await waitFor(seedUp.promise, 5000, "the link to the seed");
  g.cancel();
  return seed;
}

/** Kills every test node and program still running and waits for them to be gone. */
export const stopAllNodes = stopChildren;

// ---- a scripted fake peer -------------------------------------------------------------

export interface FakeHandshake {
  nodeId?: string;
  secret?: string;
  /** Framings we claim to read (and the one we write is the first of these the node reads). */
  framings?: string[];
  /** The greeting's `provider=` (ours by default; Perl's is `AE-2.01`). */
  provider?: string;
}

/**
 * A raw TCP peer in the spec process. Until `handshake()` it sees bytes and lines;
 * after it, packets (json framing only).
 */
export class FakePeer {
  readonly socket: Socket;
  nodeId = "fake/peer";
  /** Our greeting lines and the node's, once exchanged. */
  ourLines: GreetingLines | undefined;
  peerLines: GreetingLines | undefined;
  /** Packets decoded after the handshake, in order. */
  readonly packets: unknown[][] = [];
  /** Called with each packet as it is decoded (to answer requests, as a peer would). */
  onPacket: ((packet: unknown[]) => void) | undefined;
  /** Resolves when the node closes the connection (or it fails). */
  readonly closed: Promise<void>;
  private buffer = Buffer.alloc(0);
  private splitter: JsonSplitter | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    const closed = deferred<void>();
    this.closed = closed.promise;
    socket.on("data", (chunk: Buffer) => {
      if (this.splitter !== undefined) this.splitter.write(chunk);
      else this.buffer = Buffer.concat([this.buffer, chunk]);
      for (const w of this.waiters) w();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed.resolve();
      for (const w of this.waiters) w();
    });
  }

  /** Opens a TCP connection to `address` ("host:port"). */
  static async connect(address: string): Promise<FakePeer> {
    const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
    const socket = connect({ host, port });
    await waitFor(new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    }), 2000, `a TCP connection to ${address}`);
    socket.setNoDelay(true);
    return new FakePeer(socket);
  }

  /** A fake peer on a socket the spec accepted (a node dialled the spec's listener). */
  static wrap(socket: Socket): FakePeer {
    socket.setNoDelay(true);
    return new FakePeer(socket);
  }

  /** Whether the node has closed the connection. */
  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  private until<T>(get: () => T | undefined, ms: number, label: string): Promise<T> {
    const d = deferred<T>();
    const check = (): void => {
      const v = get();
      if (v !== undefined) d.resolve(v);
      else if (this.socket.destroyed) d.reject(new Error(`connection closed while waiting for ${label}`));
    };
    this.waiters.add(check);
    check();
    return waitFor(d.promise, ms, label).finally(() => this.waiters.delete(check));
  }

  /** The next LF-terminated line from the node (handshake phase), without its LF. */
  readLine(ms = 2000): Promise<string> {
    return this.until(() => {
      const end = this.buffer.indexOf(0x0a);
      if (end < 0) return undefined;
      const line = this.buffer.toString("utf8", 0, end);
      this.buffer = this.buffer.subarray(end + 1);
      return line;
    }, ms, "a line from the node");
  }

  /** Writes bytes; resolves once they were handed to the OS. */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Builds our greeting lines. */
  greeting(options: FakeHandshake = {}): GreetingLines {
    return [
      buildGreeting({
        nodeId: options.nodeId ?? this.nodeId,
        auths: ["hmac_sha3_512"],
        framings: options.framings ?? ["json"],
        extras: { ...greetingExtras(), ...(options.provider === undefined ? {} : { provider: options.provider }) },
      }),
      makeNonce(),
    ];
  }

  /** Reads the node's two greeting lines. */
  async readGreeting(): Promise<GreetingLines> {
    this.peerLines = [await this.readLine(), await this.readLine()];
    return this.peerLines;
  }

  /**
   * A complete valid handshake (or, with a wrong secret, one the node refuses): sends
   * our greeting, reads the node's, sends our auth line, and checks the node's auth line
   * with the real secret. Resolves once packets may flow.
   */
  async handshake(options: FakeHandshake = {}): Promise<void> {
    this.nodeId = options.nodeId ?? this.nodeId;
    this.ourLines = this.greeting(options);
    await this.write(`${this.ourLines[0]}\n${this.ourLines[1]}\n`);
    const peer = await this.readGreeting();
    await this.write(buildAuthLine("hmac_sha3_512", options.secret ?? SECRET, this.ourLines, peer, "json"));
    const authLine = await this.readLine();
    verifyAuthLine(authLine, { secret: SECRET, ourLines: this.ourLines, peerLines: peer, tlsActive: false, accept: ["hmac_sha3_512"] });
    this.startPackets();
  }

  /** From now on, bytes from the node are json packets. */
  startPackets(): void {
    this.splitter = new JsonSplitter(
      {
        push: (p) => {
          this.packets.push(p as unknown[]);
          this.onPacket?.(p as unknown[]);
        },
      },
      { topLevel: "array" },
    );
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    if (rest.length > 0) this.splitter.write(rest);
  }

  /** Sends one packet in json framing. */
  sendPacket(packet: unknown[]): Promise<void> {
    return this.write(JSON.stringify(packet));
  }

  /** The first packet (already received or still to come) that `pred` accepts. */
  packet(pred: (p: unknown[]) => boolean, ms = 2000, label = "a packet"): Promise<unknown[]> {
    return this.until(() => this.packets.find(pred), ms, label);
  }

  /** Resolves once the node closed the connection; rejects after `ms`. */
  waitClosed(ms = 2000): Promise<void> {
    return waitFor(this.closed, ms, "the node to close the connection");
  }

  /**
   * Asks the node for its time with a reply to our port `fake#r`, and waits for the
   * answer: proof that the link is up and the node still serves it.
   */
  async ping(ms = 2000): Promise<unknown[]> {
    const tag = `t${Math.random()}`;
    await this.sendPacket(["", "time", `${this.nodeId}#r`, tag]);
    return this.packet((p) => p[0] === "r" && p[1] === tag, ms, "the node's time reply");
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Tells the node at `address` (it becomes, or is, a global node) where nodes listen, as
 * their own registration would: a fake slave sends `g_slave` with those `'l` entries and
 * waits until the node has processed it. Returns the fake (close it when done).
 */
export async function registerListeners(address: string, listeners: Record<string, unknown>): Promise<FakePeer> {
  const registrar = await FakePeer.connect(address);
  await registrar.handshake({ nodeId: `registrar/${Math.random().toString(36).slice(2)}` });
  await registrar.sendPacket(["", "g_slave", { "'l": listeners }]);
  await registrar.ping();
  return registrar;
}

/** Rejects with a clear message if `p` settles before `ms`: for "nothing happens" checks. */
export async function stays<T>(p: Promise<T>, ms: number, label: string): Promise<void> {
  const result = await Promise.race([p.then(() => "settled", () => "settled"), new Promise<string>((r) => setTimeout(() => r("quiet"), ms))]);
  if (result !== "quiet") throw new SpecTimeoutError(`expected ${label} not to happen within ${ms} ms, but it did`);
}
