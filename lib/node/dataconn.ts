/**
 * Data connections (AnyEvent::MP::DataConn): a byte stream between two nodes, beside
 * the message link, for bulk data that should neither queue behind messages nor be
 * JSON-encoded.
 *
 * `dataConn(node, timeout, "Pkg::init", ...args)` resolves to a `DataConn` (a Node
 * `Duplex`) whose other end is handed to the init function registered on `node` as
 * `init(...args, conn)`. It must be called in port context; if the connection cannot
 * be made the calling port is killed with `["AnyEvent::MP::DataConn", text]` and the
 * promise rejects with a `DataConnError` (`ERR_DATACONN`) carrying that reason.
 *
 * The protocol is Perl's, so data connections work with Perl nodes both ways:
 * 1. The caller A (port P) picks an ID `N@A` and sends B's node port
 *    `["AnyEvent::MP::DataConn::_expect", id, P, timeout, init, ...args]`. B checks
 *    that `init` is registered (else it kills P at once with that reason) and expects a
 *    data link from A with that ID for `timeout` seconds (then it kills P).
 * 2. A sends `["", "snd", probe]` to B, which relays it back: when the probe returns,
 *    B has processed step 1 (the link keeps order).
 * 3. A looks up B's addresses as any send to B would (known ones, else the global
 *    resolver) and dials them one at a time. The data link runs the node handshake
 *    (same secret, TLS when configured) with protocol `aemp-dataconn` and greeting key
 *    `dataconn_id=ID`; B's listener greets with `aemp` (it cannot know yet), accepts the
 *    data protocol, and after auth hands the socket to the expectation matching
 *    (A's node ID, ID). An unexpected ID, or another node presenting it, is closed.
 *    If B has no listener, A sends `["", "AnyEvent::MP::DataConn::_connect", id, A]`
 *    and B dials A instead.
 * 4. Both ends wrap the socket (or TLS stream) in a `DataConn`; A resolves its promise,
 *    B calls `init(...args, conn)` on the run queue, outside any port context (as Perl
 *    does; create a port there if the stream's life needs one).
 * A data connection to our own node is an in-memory pair; nothing touches the network.
 *
 * Stream semantics:
 * - Raw bytes both ways, back-pressure end to end: writes wait while the socket's
 *   buffer is full, and the socket is not read while the reader is behind, so
 *   `pipeline(createReadStream(path), conn)` holds about two high-water marks in memory.
 * - Closing either end ends the other: `end()` sends everything written, then FIN; the
 *   other end's readable side ends, and it ends its own writable side (pending writes
 *   first). `destroy()` closes at once; the other end sees an end, or a reset.
 * - A dying peer errors the stream (`DataConnError`, `ERR_DATACONN_LOST`). A process
 *   that dies closes its sockets, which looks like an orderly end to TCP, so before
 *   passing an end on a `DataConn` asks the peer node over the message link (the same
 *   `snd` probe as step 2): the end is passed on when the probe returns, the stream is
 *   destroyed with the error if the node is lost first. The peer node is watched for
 *   the connection's whole life, so a lost node errors a stream that is still open.
 * - An `error` nobody listens to is logged as a warning, not thrown: a peer going away
 *   must not crash the process of a careless init function.
 */
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { DataConnError, PortContextError, argumentError } from "../errors.ts";
import type { Guard } from "../kernel/guard.ts";
import { NODE, nodeOf } from "../kernel/ids.ts";
import { monitor } from "../kernel/mon.ts";
import { registerNodeRequest } from "../kernel/node-port.ts";
import { type Callback, currentPort, defer, isThenable, kil, monitorLocal, port } from "../kernel/ports.ts";
import { currentRouter } from "../kernel/remote.ts";
import { findInit } from "../kernel/spawn.ts";
import { type Timer, secondsToMs, timer } from "../kernel/timers.ts";
import { debug, error as logError, warn } from "../log.ts";
import { Link, socketErrorText } from "../transport/connection.ts";
import { DATACONN_PROTOCOL, PROTOCOL } from "../transport/handshake.ts";
import { dial } from "../transport/tcp.ts";
import { type Network, currentNetwork, registerLinkProtocol } from "./network.ts";

/** The first element of the kill reason when a data connection cannot be made. */
export const DATACONN_KILL_TAG = "AnyEvent::MP::DataConn";
const EXPECT = "AnyEvent::MP::DataConn::_expect";
const CONNECT = "AnyEvent::MP::DataConn::_connect";
/** Buffer size of each direction of a DataConn, in bytes. */
const HIGH_WATER_MARK = 64 * 1024;

let lastId = 0;

function nextId(): string {
  return `${++lastId}@${NODE()}`;
}

function sendToNodePort(nodeId: string, ...msg: unknown[]): void {
  currentRouter().send(nodeId, `${nodeId}#`, msg);
}

/** A monitor reason as text: the transport error's text, else the reason joined. */
function reasonText(reason: unknown[]): string {
  if (reason[0] === "transport_error" && typeof reason[2] === "string") return reason[2];
  return reason.length === 0 ? "normal kill" : reason.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join(" ");
}

function errorText(err: unknown): string {
  if (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string") return socketErrorText(err as NodeJS.ErrnoException);
  return err instanceof Error ? err.message : String(err);
}

function lost(node: string, text: string, cause?: unknown): DataConnError {
  return new DataConnError("ERR_DATACONN_LOST", node, `data connection to ${node} lost: ${text}`, { cause });
}

// ---- the stream ----------------------------------------------------------------------

/**
 * One end of a data connection: a `Duplex` of raw bytes to `node`. See the module
 * comment for how ends, errors and back-pressure behave.
 *
 * ```ts
 * const conn = await dataConn(node, 10, "files::receive", "copy.bin");
 * await pipeline(createReadStream("big.bin"), conn);
 * ```
 */
export class DataConn extends Duplex {
  /** The node at the other end (our own for an in-memory pair). */
  readonly node: string;
  /** The connection's ID, as sent in the greeting's `dataconn_id`. */
  readonly id: string;
  /** Whether the bytes travel inside TLS (both nodes have the network's certificate). */
  readonly encrypted: boolean;
  readonly #inner: Duplex;
  readonly #remote: boolean;
  #watch: Guard | undefined;
  #probe: string | undefined;
  #innerEnded = false;

  /** @internal Made by `dataConn` and the data link handler; not for direct use. */
  constructor(inner: Duplex, head: Buffer, node: string, id: string, remote: boolean) {
    super({ allowHalfOpen: false, readableHighWaterMark: HIGH_WATER_MARK, writableHighWaterMark: HIGH_WATER_MARK });
    this.node = node;
    this.id = id;
    this.#inner = inner;
    this.#remote = remote;
    this.encrypted = (inner as { encrypted?: unknown }).encrypted === true; // a TLSSocket
    // The inner stream must not end its writable side by itself when the peer's FIN
    // arrives: we do, after our own pending writes (allowHalfOpen: false above).
    (inner as { allowHalfOpen: boolean }).allowHalfOpen = true;
    if (head.length > 0) this.push(head);
    inner.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.on("end", () => this.#peerEnded());
    inner.on("error", (err: Error) => this.destroy(lost(node, errorText(err), err)));
    inner.on("close", () => {
      if (!this.#innerEnded && !this.destroyed) this.destroy(lost(node, "Unexpected end-of-file"));
    });
    this.on("error", (err: Error) => {
      if (this.listenerCount("error") === 1) warn(`data connection ${id} to ${node}: ${err.message} (no error listener)`);
    });
    if (remote) this.#watch = monitor(node, (reason) => this.destroy(lost(node, `node down: ${reasonText(reason)}`)));
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.#inner.write(chunk)) done();
    else this.#inner.once("drain", () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#inner.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.#watch?.cancel();
    this.#watch = undefined;
    if (this.#probe !== undefined) kil(this.#probe);
    this.#probe = undefined;
    if (!this.#inner.destroyed) this.#inner.destroy();
    done(err);
  }

  /** The peer ended its side: pass the end on once we know its node is alive. */
  #peerEnded(): void {
    this.#innerEnded = true;
    if (!this.#remote) {
      this.#end();
      return;
    }
    const probe = port(() => {
      kil(probe);
      this.#probe = undefined;
      if (!this.destroyed) this.#end();
    });
    this.#probe = probe;
    sendToNodePort(this.node, "snd", probe);
  }

  #end(): void {
    this.push(null);
    // As net.Socket does: with nothing buffered, 'end' comes now even if nobody reads
    // (a writer that never reads still sees its connection close).
    this.read(0);
  }
}

/**
 * The inner streams of a local (same node) data connection: two ends, each one's
 * writes the other's reads, back-pressure included.
 */
class PairEnd extends Duplex {
  other!: PairEnd;
  #waiting: ((err?: Error | null) => void) | null = null;
  #eof = false;

  constructor() {
    super({ allowHalfOpen: true, highWaterMark: HIGH_WATER_MARK });
  }

  static pair(): [PairEnd, PairEnd] {
    const a = new PairEnd();
    const b = new PairEnd();
    a.other = b;
    b.other = a;
    return [a, b];
  }

  override _read(): void {
    const resume = this.other.#waiting;
    this.other.#waiting = null;
    resume?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    const other = this.other;
    if (other.#eof || other.destroyed) {
      done(Object.assign(new Error("the other end of the data connection is closed"), { code: "EPIPE" }));
      return;
    }
    if (other.push(chunk)) done();
    else this.#waiting = done;
  }

  override _final(done: (err?: Error | null) => void): void {
    this.other.#end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const other = this.other;
    this.#eof = true;
    other.#end();
    const stuck = other.#waiting;
    other.#waiting = null;
    stuck?.(Object.assign(new Error("the other end of the data connection is closed"), { code: "EPIPE" }));
    done(err);
  }

  #end(): void {
    if (this.#eof) return;
    this.#eof = true;
    if (!this.destroyed) this.push(null);
  }
}

/** Runs a registered init function with the new connection, on the run queue. */
function runInit(name: string, fn: Callback, args: unknown[], conn: DataConn): void {
  const failed = (err: unknown): void => {
    logError(`data connection init '${name}' failed: ${errorText(err)}`);
    conn.destroy();
  };
  defer(() => {
    try {
      const result = fn(...args, conn);
      if (isThenable(result)) result.then(undefined, failed);
    } catch (err) {
      failed(err);
    }
  });
}

// ---- matching data links to expectations -----------------------------------------------

/** One side waiting for the data link with a given ID from a given node. */
interface Expectation {
  /** The node at the other end. */
  readonly peer: string;
  readonly id: string;
  /** The authenticated stream arrived (dialled by either side). */
  arrived(stream: Duplex, head: Buffer): void;
}

const expected = new Map<string, Expectation>();

function keyOf(node: string, id: string): string {
  return `${node}\n${id}`;
}

/** The listener side: an authenticated `aemp-dataconn` link. */
function acceptDataLink(stream: Duplex, head: Buffer, link: Link): void {
  const peer = link.peer!.nodeId;
  const id = link.peer!.keys.dataconn_id;
  const expectation = id === undefined ? undefined : expected.get(keyOf(peer, id));
  if (expectation === undefined) {
    debug(`closing data link ${id ?? "(no dataconn_id)"} from ${peer}: not expected`);
    stream.destroy();
    return;
  }
  expectation.arrived(stream, head);
}

registerLinkProtocol(DATACONN_PROTOCOL, acceptDataLink);

/**
 * Dials `addresses` one at a time for the data link `id` to `target`, until one
 * authenticates as `target`; `onResult` hears the stream or the last error text.
 * The TCP connect of each attempt may take `connect_interval`; the handshake is
 * bounded by the caller's timeout (it calls the returned cancel function).
 */
function dialDataLink(
  net: Network,
  target: string,
  id: string,
  addresses: string[],
  onResult: (result: { stream: Duplex; head: Buffer } | { error: string }) => void,
): () => void {
  let index = 0;
  let lastError = "no known address";
  let cancelled = false;
  let socket: Socket | undefined;
  let connectTimer: Timer | undefined;
  const next = (): void => {
    if (cancelled) return;
    if (index >= addresses.length) {
      onResult({ error: lastError });
      return;
    }
    const address = addresses[index++];
    let failed = false;
    const attemptFailed = (text: string): void => {
      if (failed || cancelled) return;
      failed = true;
      connectTimer?.cancel();
      lastError = text;
      socket?.destroy();
      next();
    };
    const s = (socket = dial(address));
    connectTimer = timer(net.config.connectInterval, () => attemptFailed("connect timeout"));
    // Node clears `connecting` before emitting a connect error: a flag set on "connect"
    // tells a failed attempt from an error of a live link (which the link reports).
    let connected = false;
    s.once("error", (err: NodeJS.ErrnoException) => {
      if (!connected) attemptFailed(socketErrorText(err));
    });
    s.once("connect", () => {
      connected = true;
      connectTimer?.cancel();
      if (cancelled) {
        s.destroy();
        return;
      }
      const options = { ...net.linkOptions(), protocol: DATACONN_PROTOCOL, acceptProtocols: [DATACONN_PROTOCOL, PROTOCOL], extras: { dataconn_id: id } };
      new Link(s, true, options, {
        onGreeting() {},
        onUp(l) {
          l.close("not a data link");
        },
        onPacket() {},
        onDown: (text) => attemptFailed(text),
        onRaw: (stream, head, l) => {
          if (cancelled) {
            stream.destroy();
            return;
          }
          if (l.peer!.nodeId !== target) {
            stream.destroy();
            attemptFailed(`${address} is node ${l.peer!.nodeId}, not ${target}`);
            return;
          }
          failed = true;
          socket = undefined; // it belongs to the stream's new owner now
          onResult({ stream, head });
        },
      });
    });
  };
  next();
  return () => {
    cancelled = true;
    connectTimer?.cancel();
    socket?.destroy();
  };
}

// ---- the caller's side -------------------------------------------------------------------

/** The calling side of one `dataConn`: from the expect request to the stream. */
class Outgoing implements Expectation {
  readonly id = nextId();
  private readonly key: string;
  private done = false;
  private timer: Timer | undefined;
  private nodeWatch: Guard | undefined;
  private selfWatch: (() => void) | null = null;
  private probe: string | undefined;
  private cancelDial: (() => void) | undefined;

  constructor(
    private readonly net: Network,
    private readonly self: string,
    readonly peer: string,
    private readonly timeout: number,
    private readonly init: string,
    private readonly args: unknown[],
    private readonly resolve: (conn: DataConn) => void,
    private readonly fail: (text: string) => void,
    private readonly reject: (err: DataConnError) => void,
  ) {
    this.key = keyOf(peer, this.id);
  }

  start(): void {
    // The caller's port may die while we work: then stop (and say why).
    this.selfWatch = monitorLocal(this.self, (reason) => this.abandon(reason), true);
    if (this.selfWatch === null) {
      this.reject(new DataConnError("ERR_DATACONN", this.peer, `the calling port ${this.self} is gone`, { reason: [] }));
      return;
    }
    expected.set(this.key, this);
    this.timer = timer(this.timeout, () => this.failed(`unable to establish connection within ${this.timeout} seconds`));
    this.nodeWatch = monitor(this.peer, (reason) => this.failed(reasonText(reason)));
    sendToNodePort(this.peer, EXPECT, this.id, this.self, this.timeout, this.init, ...this.args);
    const probe = (this.probe = port(() => {
      kil(probe);
      this.probe = undefined;
      this.locate();
    }));
    sendToNodePort(this.peer, "snd", probe);
  }

  /** The peer is ready for the link: dial it, or ask it to dial us. */
  private locate(): void {
    if (this.done) return;
    this.net.resolve(this.peer).then(
      (addresses) => {
        if (this.done) return;
        if (addresses !== null && addresses.length > 0) {
          this.cancelDial = dialDataLink(this.net, this.peer, this.id, addresses, (result) => {
            if ("error" in result) this.failed(result.error);
            else this.arrived(result.stream, result.head);
          });
        } else if (this.net.addresses.length > 0) {
          sendToNodePort(this.peer, CONNECT, this.id, NODE());
        } else {
          this.failed("no known address, and this node has no listener to be dialled back on");
        }
      },
      (err: unknown) => this.failed(`address lookup failed: ${errorText(err)}`),
    );
  }

  arrived(stream: Duplex, head: Buffer): void {
    if (this.done) {
      stream.destroy();
      return;
    }
    this.finish();
    this.resolve(new DataConn(stream, head, this.peer, this.id, true));
  }

  private failed(text: string): void {
    if (this.done) return;
    this.finish();
    this.cancelDial?.();
    this.fail(`${this.peer}: ${text}`);
  }

  private abandon(reason: unknown[]): void {
    if (this.done) return;
    this.finish();
    this.cancelDial?.();
    this.reject(new DataConnError("ERR_DATACONN", this.peer, `the calling port ${this.self} died before the data connection was made`, { reason }));
  }

  private finish(): void {
    this.done = true;
    expected.delete(this.key);
    this.timer?.cancel();
    this.nodeWatch?.cancel();
    this.selfWatch?.();
    this.selfWatch = null;
    if (this.probe !== undefined) kil(this.probe);
    this.probe = undefined;
  }
}

/**
 * Opens a data connection to `node` (a node or port ID): resolves to the local end, a
 * `Duplex` of raw bytes, once the init function registered on `node` as `init` has been
 * called there as `init(...args, otherEnd)`. `timeout` (seconds) bounds the whole
 * setup; allow a few network round trips.
 *
 * Must be called in port context. On failure (timeout, node unreachable, connection
 * refused, authentication, `init` not registered there) the calling port is killed with
 * `["AnyEvent::MP::DataConn", "NODE: text"]`, and the promise rejects with a
 * `DataConnError` (code `ERR_DATACONN`) whose `reason` is that kill reason.
 *
 * ```ts
 * registerInit("files::receive", (path: string, conn: DataConn) => {
 *   pipeline(conn, createWriteStream(path)).catch(() => {});
 * });
 * // elsewhere, in port context:
 * const conn = await dataConn(server, 10, "files::receive", "/tmp/copy.bin");
 * await pipeline(createReadStream("big.bin"), conn);
 * ```
 */
export function dataConn(node: string, timeout: number, init: string, ...args: unknown[]): Promise<DataConn> {
  if (typeof node !== "string" || node === "") throw argumentError("dataConn", "node", "a node or port ID string", node);
  secondsToMs("dataConn", "timeout", timeout);
  if (typeof init !== "string" || init === "") throw argumentError("dataConn", "init", "the registered name of an init function", init);
  const self = currentPort();
  if (self === undefined) throw new PortContextError("dataConn must be called in port context (a rcv callback, psub, peval or async port)");
  const peer = nodeOf(node);
  return new Promise<DataConn>((resolve, reject) => {
    const fail = (text: string): void => {
      const reason = [DATACONN_KILL_TAG, text];
      kil(self, ...reason);
      reject(new DataConnError("ERR_DATACONN", peer, `data connection to ${peer} failed: ${text}`, { reason }));
    };
    if (peer === NODE()) {
      const fn = findInit(init);
      if (fn === undefined) {
        defer(() => fail(`${peer}: no init function registered as '${init}'`));
        return;
      }
      const id = nextId();
      const [a, b] = PairEnd.pair();
      runInit(init, fn, args, new DataConn(b, Buffer.alloc(0), peer, id, false));
      resolve(new DataConn(a, Buffer.alloc(0), peer, id, false));
      return;
    }
    const net = currentNetwork();
    if (net === null) {
      defer(() => fail(`${peer}: no known address (networking not configured)`));
      return;
    }
    new Outgoing(net, self, peer, timeout, init, args, resolve, fail, reject).start();
  });
}

// ---- the called side -----------------------------------------------------------------------

/** Node request: another node announces a data link and names the init function. */
registerNodeRequest(EXPECT, (from, id: unknown, replyPort: unknown, timeout: unknown, init: unknown, ...args: unknown[]) => {
  if (typeof id !== "string" || id === "" || typeof replyPort !== "string" || !replyPort.includes("#") || typeof init !== "string") {
    warn(`ignoring a malformed data connection request from ${from}`);
    return;
  }
  const refuse = (text: string): void => kil(replyPort, DATACONN_KILL_TAG, `${NODE()}: ${text}`);
  const fn = findInit(init);
  if (fn === undefined) {
    warn(`data connection ${id} from ${from}: no init function registered as '${init}'`);
    refuse(`no init function registered as '${init}'`);
    return;
  }
  const seconds = Number(timeout);
  const ms = Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 86_400) * 1000 : 30_000;
  const key = keyOf(from, id);
  let cancelDial: (() => void) | undefined;
  const expectation: Expectation & { dial(nodeId: unknown): void } = {
    peer: from,
    id,
    arrived(stream, head) {
      if (expected.get(key) !== expectation) {
        stream.destroy();
        return;
      }
      expected.delete(key);
      deadline.cancel();
      runInit(init, fn, args, new DataConn(stream, head, from, id, true));
    },
    dial(nodeId) {
      const net = currentNetwork();
      if (nodeId !== from || net === null || cancelDial !== undefined) return;
      net.resolve(from).then(
        (addresses) => {
          if (expected.get(key) !== expectation) return;
          cancelDial = dialDataLink(net, from, id, addresses ?? [], (result) => {
            if ("error" in result) {
              expected.delete(key);
              deadline.cancel();
              refuse(`cannot dial ${from} back: ${result.error}`);
            } else expectation.arrived(result.stream, result.head);
          });
        },
        () => {},
      );
    },
  };
  const deadline = timer(ms / 1000, () => {
    if (expected.get(key) !== expectation) return;
    expected.delete(key);
    cancelDial?.();
    refuse(`data connection ${id} did not arrive within ${seconds} seconds`);
  });
  expected.set(key, expectation);
});

/** Node request: the caller has no address we could use: dial it back. */
registerNodeRequest(CONNECT, (from, id: unknown, nodeId: unknown) => {
  if (typeof id !== "string") return;
  const expectation = expected.get(keyOf(from, id)) as (Expectation & { dial?(nodeId: unknown): void }) | undefined;
  expectation?.dial?.(nodeId);
});

/** How many data links this node is waiting for (specs check nothing is left behind). */
export function pendingDataConns(): number {
  return expected.size;
}
