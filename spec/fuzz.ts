/**
 * A seeded fuzzer for a node's network input, run against the node of the calling
 * process (spec/net-fuzz.spec.ts on every `npm test`, `npm run fuzz -- --cases N` for
 * long runs). Each case is one of:
 * - `greeting`: a connection that sends a mangled handshake (random bytes, broken or
 *   hostile greeting lines, claimed node IDs, odd key=value pairs, an auth line or not)
 *   and goes away;
 * - `packet`: a random packet, or random bytes, on an authenticated link;
 * - `request`: the semantic class, a node request `["", TAG, ...args]` with a known (or
 *   unknown) TAG and arguments of random arity and type, drawn from port IDs, node IDs,
 *   port and spawn names (live ones included), families, databases whose `'l` entries
 *   hold addresses no one can dial, reply ports;
 * - `nodeid`: a complete, valid handshake under a strange node ID, then a few requests.
 * The same seed gives the same cases. After every batch the node must still answer a
 * good peer and deliver to a port the cases never name, and nothing may have escaped to the process
 * (`uncaughtException`, `unhandledRejection`, a line on stderr while logging is off, a
 * log record with a raw control character): each of those is a crash. Addresses it
 * makes the node dial are never live ports of this machine other than the node's own
 * (invalid ones, a closed port, itself), so no other process is disturbed.
 */
import { createServer } from "node:net";
import { NODE, port } from "../lib/index.ts";
import { isLivePort } from "../lib/kernel/ports.ts";
import { onLog, setLogLevel, logLevel } from "../lib/log.ts";
import { buildAuthLine } from "../lib/transport/handshake.ts";
import { deferred, waitFor } from "./helpers.ts";
import { FakePeer, SECRET } from "./net-helpers.ts";

export type CaseClass = "greeting" | "packet" | "request" | "nodeid";

export interface FuzzOptions {
  cases: number;
  seed: number;
  /** The node's listen address ("127.0.0.1:PORT"). */
  address: string;
  /** Called after each batch with the cases run so far. */
  progress?(done: number): void;
}

export interface FuzzReport {
  cases: number;
  byClass: Record<CaseClass, number>;
  /** What went wrong: escaped exceptions, failed health checks, raw log lines. */
  crashes: string[];
  seconds: number;
}

/** mulberry32: small, fast, good enough to draw cases from. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TAGS = [
  "", "mon1", "mon0", "kil0", "kil1", "snd", "can", "time", "devnull", "eval", "AnyEvent::MP::_spawn",
  "g_slave", "g_set", "g_upd", "g_find", "g_found", "g_global", "g_mon1", "g_mon0", "g_db_family", "g_db_keys",
  "g_db_values", "g_reply", "g_chg1", "g_chg2", "aemp_links", "aemp_shutdown", "AnyEvent::MP::DataConn::_expect",
  "AnyEvent::MP::DataConn::_connect", "AnyEvent::MP::LogCatcher::connect", "no_such_request", "test::x",
];

class Draw {
  constructor(
    readonly r: () => number,
    private readonly world: { nodeId: string; inbox: string; self: string; closed: string; fake: string },
  ) {}

  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.r() < p;
  }

  text(): string {
    switch (this.int(9)) {
      case 0: return "";
      case 1: return String.fromCharCode(...Array.from({ length: 1 + this.int(12) }, () => 32 + this.int(95)));
      case 2: return String.fromCharCode(...Array.from({ length: 1 + this.int(8) }, () => this.int(32)));
      case 3: return "é✓𝄞\u202e\u2028";
      case 4: return "x".repeat(1000 + this.int(20_000));
      case 5: return this.pick(["#", ";", "a#b#c", "../..", "%n%u", "__proto__", "constructor", "\r\n", "\u001b[2J"]);
      case 6: return String(this.int(100_000));
      case 7: return this.pick(TAGS);
      default: return `s${this.int(1000)}`;
    }
  }

  value(depth = 0): unknown {
    const k = this.int(depth > 3 ? 6 : 9);
    switch (k) {
      case 0: return null;
      case 1: return this.chance(0.5);
      case 2: return this.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, 12]);
      case 3: case 4: return this.text();
      case 5: return this.portId();
      case 6: return Array.from({ length: this.int(5) }, () => this.value(depth + 1));
      case 7: return Object.fromEntries(Array.from({ length: this.int(4) }, () => [this.text().slice(0, 50), this.value(depth + 1)]));
      default: return this.db();
    }
  }

  portName(): string {
    return this.pick([this.world.inbox.slice(this.world.inbox.indexOf("#") + 1), "", this.text(), "r"]);
  }

  nodeId(): string {
    return this.pick([this.world.nodeId, this.world.fake, `ghost/${this.int(50)}`, this.text(), "aemp/x/y"]);
  }

  portId(): string {
    switch (this.int(6)) {
      case 0: return this.world.inbox;
      case 1: return `${this.world.fake}#r`;
      case 2: return `${this.nodeId()}#${this.portName()}`;
      case 3: return this.pick(["#", "a#", "#b", "x#y#z"]);
      default: return `ghost/${this.int(50)}#p`;
    }
  }

  /** Addresses as a database may hold them: none of them dials anything but this node. */
  address(): unknown {
    return this.pick([
      "127.0.0.1:99999", "127.0.0.1:", ":", "[::1]", "127.0.0.1:-1", "*:*", "127.0.0.1:0", "1e3:80", "[::1]:0x10",
      " 127.0.0.1:80", this.world.closed, this.world.self, `localhost:${this.world.closed.split(":")[1]}`, 12, null, [], {},
    ]);
  }

  db(): unknown {
    if (this.chance(0.1)) return this.pick(["not a db", 7, null, []]);
    const db: Record<string, unknown> = {};
    if (this.chance(0.8)) {
      // Not for the fuzzer's own ID: the node would dial those addresses for it, and its
      // own dial (rightly) wins over the fuzzer's next link, which would look like a crash.
      const ids = () => this.pick([this.world.nodeId, `ghost/${this.int(50)}`, this.text(), "aemp/x/y"]);
      db["'l"] = Object.fromEntries(Array.from({ length: 1 + this.int(3) }, () => [ids(), this.chance(0.9) ? Array.from({ length: 1 + this.int(3) }, () => this.address()) : this.value(2)]));
    }
    if (this.chance(0.3)) db["'g"] = { [this.nodeId()]: null };
    if (this.chance(0.5)) db[this.pick(["fuzz::a", "fuzz::b", this.text().slice(0, 30)])] = { [this.text().slice(0, 30)]: this.value(2) };
    return db;
  }

  /** A node request with a (usually) known tag and arguments of random arity and types. */
  request(): unknown[] {
    const tag = this.chance(0.95) ? this.pick(TAGS) : this.value(1);
    const args: unknown[] = [];
    const n = this.int(7);
    for (let i = 0; i < n; i++) {
      switch (this.int(6)) {
        case 0: args.push(this.portName()); break;
        case 1: args.push(this.portId()); break;
        case 2: args.push(this.db()); break;
        case 3: args.push(this.pick(["'l", "'g", "fuzz::a", this.text().slice(0, 40)])); break;
        default: args.push(this.value(1));
      }
    }
    // Requests that reply: often give them a real reply port on the fake peer.
    if (this.chance(0.3)) args.push(`${this.world.fake}#r`, "tag");
    return ["", tag, ...args];
  }

  packet(): unknown[] {
    if (this.chance(0.5)) return this.request();
    const first = this.pick<unknown>(["", this.portName(), this.int(3), null, [], this.text()]);
    return [first, ...Array.from({ length: this.int(5) }, () => this.value(1))];
  }

  greetingLine(): string {
    const fields = [
      this.pick(["aemp", "aemp", "aemp-dataconn", "AEMP", this.text()]),
      this.pick(["1", "1", "1.0", "2", "", "x", "-1"]),
      this.nodeId(),
      this.pick(["hmac_sha3_512", "tls_sha3_512,hmac_sha3_512,tls_anon,cleartext", "", ",,,", this.text()]),
      this.pick(["json", "superjson,json", "cbor", "", this.text()]),
    ];
    const pairs = Array.from({ length: this.int(5) }, () =>
      this.pick([
        "provider=aemp-ts/0.0.0", "tls=1.0", `monitor_timeout=${this.pick(["0", "-1", "1e-9", "NaN", "1e308", "x"])}`,
        `max_packet_size=${this.pick(["0", "1", "-5", "1e20", "big"])}`, `dataconn_id=${this.text()}`, this.text(), "=", "k=",
      ]),
    );
    return [...fields, ...pairs].join(";").slice(0, this.chance(0.9) ? 3000 : 6000);
  }
}

/** Runs `cases` fuzz cases against the node listening at `address` (this process's node). */
export async function fuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const crashes: string[] = [];
  const record = (what: string): void => {
    if (crashes.length < 50) crashes.push(what);
  };
  const onException = (err: unknown): void => record(`escaped: ${err instanceof Error ? err.stack : String(err)}`);
  process.on("uncaughtException", onException);
  process.on("unhandledRejection", onException);
  // Print nothing (thousands of refusals), but build every record: none may hold a
  // raw control character, whatever a case sent.
  const level = logLevel();
  setLogLevel(0);
  const stopLog = onLog((r) => {
    if (/[\x00-\x1f\x7f]/.test(r.text)) record(`raw control character in a log record: ${JSON.stringify(r.text.slice(0, 200))}`);
  }, 9);
  // With the level at 0, anything still written to stderr is a handler that failed
  // (a log sink that threw, say): a crash in all but name.
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    record(`written to stderr: ${String(chunk).slice(0, 200).trim()}`);
    return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  const closed = await closedPort();
  // The cases may do to `victim` whatever a peer may (kill it, monitor it, spawn over its
  // name); the health check uses a port they never hear of.
  const victim = port(() => {});
  let received = 0;
  let onMessage: (() => void) | undefined;
  const healthPort = port(() => {
    received++;
    onMessage?.();
  });
  const world = { nodeId: NODE(), inbox: victim, self: options.address, closed, fake: "fuzz/peer" };
  const d = new Draw(prng(options.seed), world);
  const byClass: Record<CaseClass, number> = { greeting: 0, packet: 0, request: 0, nodeid: 0 };
  let link: FakePeer | undefined;
  const authenticated = async (): Promise<FakePeer> => {
    if (link === undefined || link.isClosed) {
      link = await FakePeer.connect(options.address);
      await link.handshake({ nodeId: world.fake });
    }
    return link;
  };
  const health = async (): Promise<void> => {
    const good = await FakePeer.connect(options.address);
    try {
      await good.handshake({ nodeId: "fuzz/health" });
      await good.ping(5000);
      if (!isLivePort(healthPort)) throw new Error("the health port is gone");
      const before = received;
      const got = deferred<void>();
      onMessage = () => got.resolve();
      await good.sendPacket([healthPort.slice(healthPort.indexOf("#") + 1), "health"]);
      await waitFor(got.promise, 5000, "the health port to receive");
      if (received <= before) throw new Error("the health port did not receive");
    } finally {
      good.close();
    }
  };
  const BATCH = 100;
  try {
    for (let done = 0; done < options.cases; ) {
      const n = Math.min(BATCH, options.cases - done);
      const pending: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const k = d.r();
        const cls: CaseClass = k < 0.25 ? "greeting" : k < 0.45 ? "packet" : k < 0.9 ? "request" : "nodeid";
        byClass[cls]++;
        if (cls === "greeting") pending.push(greetingCase(d, options.address));
        else if (cls === "nodeid") pending.push(nodeIdCase(d, options.address));
        else {
          const peer = await authenticated().catch((err: unknown) => {
            record(`no authenticated link: ${String(err)}`);
            return undefined;
          });
          if (peer === undefined) continue;
          if (cls === "packet" && d.chance(0.03)) await peer.write(Buffer.from(Array.from({ length: 1 + d.int(40) }, () => d.int(256)))).catch(() => {});
          else await peer.sendPacket(cls === "packet" ? d.packet() : d.request()).catch(() => {});
        }
      }
      await Promise.all(pending);
      done += n;
      try {
        await health();
      } catch (err) {
        record(`health check after ${done} cases: ${err instanceof Error ? err.message : String(err)}`);
      }
      options.progress?.(done);
      if (crashes.length >= 50) break;
    }
  } finally {
    link?.close();
    process.stderr.write = write;
    stopLog();
    setLogLevel(level);
    process.off("uncaughtException", onException);
    process.off("unhandledRejection", onException);
  }
  return { cases: Object.values(byClass).reduce((a, b) => a + b, 0), byClass, crashes, seconds: (performance.now() - started) / 1000 };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port: p } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return `127.0.0.1:${p}`;
}

async function greetingCase(d: Draw, address: string): Promise<void> {
  let peer: FakePeer | undefined;
  try {
    peer = await FakePeer.connect(address);
    const parts: (string | Buffer)[] = [];
    if (d.chance(0.15)) parts.push(Buffer.from(Array.from({ length: 1 + d.int(300) }, () => d.int(256))));
    else {
      parts.push(`${d.greetingLine()}${d.pick(["\n", "\r\n", ""])}`);
      if (d.chance(0.8)) parts.push(`${d.pick([peer.greeting()[1], "", d.text()])}\n`);
      if (d.chance(0.5)) parts.push(`${d.pick(["hmac_sha3_512", "cleartext", "tls_anon", "x"])};${d.pick(["", "00", d.text()])};${d.pick(["json", "superjson", "superjson-bin", "", "cbor"])}\n`);
      if (d.chance(0.3)) parts.push(JSON.stringify(d.packet()));
    }
    for (const part of parts) await peer.write(part);
    if (d.chance(0.3)) await peer.readLine(200).catch(() => {});
  } catch {
    // The node may close at any point: that is its right.
  } finally {
    peer?.close();
  }
}

async function nodeIdCase(d: Draw, address: string): Promise<void> {
  // Not the fuzzer's own "fuzz/peer": a valid link under its ID would (rightly) replace its link.
  const id = d.pick(["\u001b[31mred", "é✓𝄞", "x".repeat(3000), "a,b", "k=v", "aemp", "ghost/1", " ", "\u202eevil", d.text().replace(/[;#\r\n]/g, "") || "e"]);
  let peer: FakePeer | undefined;
  try {
    peer = await FakePeer.connect(address);
    const ours = peer.greeting({ nodeId: id });
    peer.ourLines = ours;
    await peer.write(`${ours[0]}\n${ours[1]}\n`);
    const theirs = await peer.readGreeting();
    await peer.write(buildAuthLine("hmac_sha3_512", SECRET, ours, theirs, "json"));
    for (let i = d.int(4); i > 0; i--) await peer.sendPacket(d.request());
    await peer.readLine(300).catch(() => {});
  } catch {
    // refused: fine
  } finally {
    peer?.close();
  }
}
