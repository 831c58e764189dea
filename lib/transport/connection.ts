/**
 * One AEMP link over a socket: the symmetric handshake, then packets both ways.
 *
 * There is no client or server role: whoever dialled, both sides send their greeting at
 * once, read the peer's, send an auth line and check the peer's (PROTOCOL.md 1-4). The
 * pure pieces (greeting, auth, framing) live in handshake.ts and framing.ts; this file
 * only moves bytes and enforces the limits on what is read:
 * - before auth completes, at most 4096 bytes per line (LineReader) and the whole
 *   handshake within `handshakeTimeout` seconds;
 * - after it, packets up to `maxPacketSize` bytes.
 * Any violation or socket error ends the link once, through `onDown(text)`, with the
 * text AEMP uses where it has one (it becomes the `transport_error` of monitors).
 * A failed TLS handshake or certificate check is a `ProtocolError` (`ERR_TLS`), like
 * a wrong secret, so it is logged as a warning.
 *
 * Writes are coalesced: packets sent in one tick go out in one `socket.write`.
 * `send` encodes at once and throws an `EncodeError` (nothing queued) for a packet the
 * link's framing cannot carry or that is larger than the peer reads: the peer's
 * `max_packet_size` when its greeting says it (ours do), else ours. The link counts
 * packets not yet handed to the OS (`unsent`), so `shutdown` can wait for them and
 * say how many it gave up on; `end()` closes cleanly once they are out.
 *
 * Between our own nodes (greeting `provider=aemp-ts/...`) a link is watched for
 * silence (liveness.ts); every socket has TCP keepalive on, starting after
 * `monitor_timeout` idle, which is all a link to a Perl node has, as in AEMP.
 *
 * Side channels (raw links): when the effective protocol is not `aemp` (ours when we
 * dialled with e.g. `aemp-dataconn`, else the peer's), the link does not decode
 * packets after auth. It stops reading, lets go of the socket (or the TLS stream over
 * it) and hands it, with any bytes already read behind the auth line, to
 * `events.onRaw`; from then on the link is inert and the new owner manages the stream.
 * A listener cannot know in advance which protocol a dialler speaks: it greets with
 * `aemp` and accepts every name in `acceptProtocols`.
 */
import { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { createRequire } from "node:module";
import type * as Tls from "node:tls";
import { EncodeError, ProtocolError } from "../errors.ts";
import { type Timer, timer } from "../kernel/timers.ts";
import { type Encoded, FRAMINGS_WE_READ, FRAMINGS_WE_WRITE, type Packet, type PacketDecoder, createDecoder, encodePacket } from "./framing.ts";
import {
  type Greeting,
  type GreetingLines,
  LineReader,
  PROTOCOL,
  PROVIDER_NAME,
  type Secret,
  buildAuthLine,
  buildGreeting,
  checkPeer,
  chooseAuthMethod,
  chooseFraming,
  greetingExtras,
  makeNonce,
  peerOffersTls,
  tlsRole,
  verifyAuthLine,
} from "./handshake.ts";
import { Liveness, announcedTimeout } from "./liveness.ts";

export interface LinkOptions {
  nodeId: string;
  secret: Secret | undefined;
  /** Methods we use to authenticate ourselves (first the peer accepts wins). */
  authOffer: readonly string[];
  /** Methods we accept from the peer: the AUTHS of our greeting. */
  authAccept: readonly string[];
  /** Framings we read, preferred first: the FRAMINGS of our greeting. */
  framings?: readonly string[];
  /**
   * `monitor_timeout`, seconds: how long the handshake may take, how long a link to one
   * of our own nodes may be silent (see liveness.ts), TCP keepalive's idle time.
   */
  handshakeTimeout: number;
  /** Largest packet we read, in bytes; our greeting tells it to the peer. */
  maxPacketSize: number;
  nodelay: boolean;
  /** Protocol name of line 1 ("aemp"; "aemp-dataconn" for data links). */
  protocol?: string;
  /**
   * Protocol names accepted in the peer's greeting. Default: `[protocol]` for `aemp`;
   * for a side-channel protocol also `aemp`, which is what a listener greets with.
   */
  acceptProtocols?: readonly string[];
  /** Extra greeting keys. */
  extras?: Record<string, string>;
  /**
   * The network's shared certificate and key (PEM). With one, the greeting says
   * `tls=1.0`, and when the peer's does too the link runs TLS after the greetings,
   * each side verifying the other against this certificate.
   */
  tls?: { cert: string; key: string };
}

export interface LinkEvents {
  /** The peer's greeting arrived; throw a ProtocolError to refuse it. */
  onGreeting(peer: Greeting, link: Link): void;
  /** Authenticated: packets may flow. */
  onUp(link: Link): void;
  onPacket(packet: Packet, link: Link): void;
  /** The link ended (once), with the reason as text. */
  onDown(text: string, link: Link): void;
  /**
   * A side-channel link (effective protocol not `aemp`, see {@link Link.protocol})
   * authenticated: `stream` (the socket, or the TLS stream over it) now carries raw
   * bytes and belongs to the handler, paused; `head` holds bytes that arrived behind
   * the auth line. Neither `onUp` nor `onDown` is called afterwards. Without a
   * handler, such links fail after auth.
   */
  onRaw?(stream: Duplex, head: Buffer, link: Link): void;
}

// Loading node:tls costs a few MB of memory (OpenSSL state), and most nodes never run
// TLS: it is loaded the first time a link starts TLS.
let tlsModule: typeof Tls | undefined;
const tls = (): typeof Tls => (tlsModule ??= createRequire(import.meta.url)("node:tls") as typeof Tls);

type Phase = "greeting" | "tls" | "auth" | "up" | "closing" | "raw" | "down";

export class Link {
  readonly socket: Socket;
  /** Whether we dialled (for logs and tie-breaks). */
  readonly outbound: boolean;
  peer: Greeting | undefined;
  /**
   * The exception that ended the link, when something read off the wire did (a
   * `ProtocolError` for a refused greeting, a failed auth, a bad frame); undefined
   * when it ended otherwise (end of file, socket error, timeout, `close`).
   */
  failure: unknown = undefined;
  /** The framing we write and the one we read. */
  writeFraming = "json";
  readFraming = "json";
  /** The peer said it is shutting down (the node layer sets this): its end is no crash. */
  peerShutDown = false;
  /** Packets this link gave up on: sent while it was closing, or not yet out when it went down. */
  abandoned = 0;
  /**
   * Packets sent and received since the link came up: plain counters on the hot path,
   * read only by introspection (lib/node/introspection.ts).
   */
  packetsOut = 0;
  packetsIn = 0;
  /** When the link came up (seconds since the epoch), 0 before. */
  upSince = 0;
  /** The socket's byte counts when the link came up: the handshake is not traffic. */
  private bytesAtUp = { read: 0, written: 0 };
  private phase: Phase = "greeting";
  private readonly options: LinkOptions;
  private readonly events: LinkEvents;
  private reader = new LineReader();
  /** Where packets are written: the socket, or the TLS stream over it. */
  private out: Duplex;
  /** The TLS side of the link, once started; raw bytes are forwarded to it. */
  private tlsBridge: Duplex | undefined;
  private tlsSocket: Tls.TLSSocket | undefined;
  private tlsActive = false;
  private readonly ourLines: GreetingLines;
  private peerLines: [string, string] | undefined;
  private peerLine1: string | undefined;
  private decoder: PacketDecoder | undefined;
  private outbox = "";
  /** What a binary framing (cbor) queued; the text framings queue in `outbox`. */
  private outBytes: Buffer[] = [];
  private flushScheduled = false;
  /** Packets in `outbox`, and packets written to the stream whose write has not completed. */
  private outboxPackets = 0;
  private writingPackets = 0;
  private flushWaiters: (() => void)[] = [];
  /** The largest packet we may write: the peer's `max_packet_size` if it told us, else ours. */
  private sendLimit: number;
  private liveness: Liveness | undefined;
  private timer: Timer | undefined;

  constructor(socket: Socket, outbound: boolean, options: LinkOptions, events: LinkEvents) {
    this.socket = socket;
    this.outbound = outbound;
    this.options = options;
    this.events = events;
    const peeraddr = socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : undefined;
    this.ourLines = [
      buildGreeting({
        protocol: options.protocol ?? "aemp",
        nodeId: options.nodeId,
        auths: [...options.authAccept],
        framings: [...(options.framings ?? FRAMINGS_WE_READ)],
        extras: {
          ...greetingExtras({ peeraddr, tls: options.tls !== undefined }),
          monitor_timeout: String(options.handshakeTimeout),
          max_packet_size: String(options.maxPacketSize),
          ...options.extras,
        },
      }),
      makeNonce(),
    ];
    this.sendLimit = options.maxPacketSize;
    this.out = socket;
    socket.setNoDelay(options.nodelay);
    socket.setKeepAlive(true, options.handshakeTimeout * 1000);
    this.timer = timer(options.handshakeTimeout, () => this.fail("handshake timeout"));
    socket.on("data", this.onSocketData);
    socket.on("error", this.onSocketError);
    socket.on("end", this.onSocketEnd);
    socket.on("close", this.onSocketClose);
    socket.write(`${this.ourLines[0]}\n${this.ourLines[1]}\n`);
  }

  private readonly onSocketData = (chunk: Buffer): void => {
    if (this.liveness !== undefined) this.liveness.heard = true;
    // The TLS layer reads at its own pace: stop the socket while it is behind.
    if (this.tlsBridge !== undefined) {
      if (!this.tlsBridge.push(chunk)) this.socket.pause();
    } else this.receive(chunk);
  };

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => this.fail(socketErrorText(err));

  private readonly onSocketClose = (): void => this.fail("Unexpected end-of-file");

  // The peer's FIN ends the link at once, not when the socket has closed a moment later:
  // a node that reconnects right away must not find its old link still up here. (Under
  // TLS the TLS layer may still hold records to decrypt: there `close` decides.)
  private readonly onSocketEnd = (): void => {
    if (this.tlsBridge === undefined) this.fail("Unexpected end-of-file");
  };

  get isUp(): boolean {
    return this.phase === "up";
  }

  /** Whether the link runs TLS. */
  get isTls(): boolean {
    return this.tlsActive;
  }

  /** Bytes sent since the link came up, as on the wire (TLS records included). */
  get bytesOut(): number {
    return this.upSince === 0 ? 0 : this.socket.bytesWritten - this.bytesAtUp.written;
  }

  /** Bytes received since the link came up, as on the wire (TLS records included). */
  get bytesIn(): number {
    return this.upSince === 0 ? 0 : this.socket.bytesRead - this.bytesAtUp.read;
  }

  /**
   * The protocol this link speaks: ours unless ours is plain `aemp`, then the peer's
   * (a listener learns it from the greeting). `aemp` until the peer's greeting arrived.
   */
  get protocol(): string {
    const ours = this.options.protocol ?? PROTOCOL;
    return ours !== PROTOCOL || this.peer === undefined ? ours : this.peer.protocol;
  }

  /**
   * Queues a packet; everything queued in this tick leaves in one write. Throws an
   * `EncodeError` and queues nothing when the packet cannot be encoded in the link's
   * framing or is too large for the peer (see the module comment). Does nothing on a
   * link that is not up.
   */
  send(packet: Packet): void {
    if (this.phase !== "up") {
      if (this.phase === "closing") this.abandoned++;
      return;
    }
    this.enqueue(this.encode(packet));
  }

  /**
   * `send` for a packet that goes to many links (a global node's fan-out of a change):
   * its encoding in this link's framing is made by the first link that needs it and
   * reused by the others; only the size check is this link's own.
   */
  sendShared(shared: SharedPacket): void {
    if (this.phase !== "up") {
      if (this.phase === "closing") this.abandoned++;
      return;
    }
    this.enqueue(shared.encoded(this.writeFraming, this.sendLimit, this.peer?.nodeId ?? "?"));
  }

  private enqueue(data: Encoded): void {
    this.packetsOut++;
    // Text (json, superjson) piles up in `outbox`, bytes (cbor) in `outBytes`; superjson-bin
    // mixes both, and then what follows bytes is queued as bytes, to keep the order.
    if (typeof data === "string") {
      if (this.outBytes.length === 0) this.outbox += data;
      else this.outBytes.push(Buffer.from(data));
    } else {
      if (this.outbox !== "") {
        this.outBytes.push(Buffer.from(this.outbox));
        this.outbox = "";
      }
      if (Array.isArray(data)) this.outBytes.push(...data);
      else this.outBytes.push(data);
    }
    this.outboxPackets++;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  /** The wire form of `packet` in this link's framing; throws an `EncodeError` (see `send`). */
  encode(packet: Packet): Encoded {
    return encodeChecked(this.writeFraming, packet, this.sendLimit, this.peer?.nodeId ?? "?");
  }

  /** Packets queued or being written, not yet handed to the OS. */
  get unsent(): number {
    return this.outboxPackets + this.writingPackets;
  }

  /** Resolves once every packet sent so far has been handed to the OS (or the link ended). */
  flushed(): Promise<void> {
    if (this.unsent === 0 || this.phase === "down") return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.outboxPackets === 0 || this.phase !== "up") return;
    const count = this.outboxPackets;
    this.outboxPackets = 0;
    this.writingPackets += count;
    if (this.liveness !== undefined) this.liveness.spoke = true;
    const written = (): void => {
      this.writingPackets -= count;
      if (this.writingPackets === 0 && this.outboxPackets === 0) this.wakeFlushWaiters();
    };
    // Only one of the two holds anything (see send).
    if (this.outbox !== "") {
      const text = this.outbox;
      this.outbox = "";
      this.out.write(text, written);
      return;
    }
    const chunks = this.outBytes;
    this.outBytes = [];
    if (chunks.length === 1 || !chunks.some(isLarge)) {
      this.out.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks), written);
      return;
    }
    // Large frames (bytes in superjson-bin) go in one writev instead of being copied together.
    const out = this.out;
    out.cork();
    for (let i = 0; i < chunks.length - 1; i++) out.write(chunks[i]);
    out.write(chunks[chunks.length - 1], written);
    out.uncork();
  };

  private wakeFlushWaiters(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w();
  }

  /** Ends the link (e.g. a refused duplicate); `onDown` gets `text`. */
  close(text: string): void {
    this.fail(text);
  }

  /**
   * Ends the link cleanly: what was sent is written, then the stream is ended and the
   * peer's end awaited (packets still arriving meanwhile are delivered); after `seconds`
   * it is destroyed anyway. `onDown` gets `text`. Resolves once the link is down.
   */
  end(text: string, seconds: number): Promise<void> {
    if (this.phase !== "up") {
      this.fail(text);
      return Promise.resolve();
    }
    this.flush();
    this.phase = "closing";
    this.liveness?.stop();
    const down = new Promise<void>((resolve) => {
      const done = (): void => {
        deadline.cancel();
        resolve();
      };
      const deadline = timer(seconds, () => this.fail(text));
      this.closingText = text;
      this.onClosed = done;
    });
    (this.out as Duplex).end();
    return down;
  }

  private closingText: string | undefined;
  private onClosed: (() => void) | undefined;

  private receive(chunk: Buffer): void {
    try {
      if (this.phase === "up" || this.phase === "closing") this.decoder!.write(chunk);
      else if (this.phase === "greeting") this.handshake(chunk);
      else if (this.phase === "auth") {
        this.reader.feed(chunk);
        this.readAuth();
      } else if (this.phase === "tls") this.reader.feed(chunk); // the peer's auth line, early
    } catch (err) {
      this.failure ??= err;
      this.fail(err instanceof Error ? err.message : String(err));
    }
  }

  private handshake(chunk: Buffer): void {
    this.reader.feed(chunk);
    if (this.phase === "greeting") {
      if (this.peerLine1 === undefined) {
        this.peerLine1 = this.reader.nextLine();
        if (this.peerLine1 === undefined) return;
      }
      const line2 = this.reader.nextLine();
      if (line2 === undefined) return;
      this.peerLines = [this.peerLine1, line2];
      this.peer = checkPeer(this.ourLines, this.peerLines, this.options.nodeId, this.acceptedProtocols());
      this.events.onGreeting(this.peer, this);
      if (this.options.tls !== undefined && peerOffersTls(this.peer)) {
        this.startTls(this.reader.takeRest());
        return;
      }
      this.sendAuth();
    }
    if (this.phase === "auth") this.readAuth();
  }

  private acceptedProtocols(): readonly string[] {
    if (this.options.acceptProtocols !== undefined) return this.options.acceptProtocols;
    const ours = this.options.protocol ?? PROTOCOL;
    return ours === PROTOCOL ? [PROTOCOL] : [ours, PROTOCOL];
  }

  private sendAuth(): void {
    const peer = this.peer!;
    const method = chooseAuthMethod(peer.auths, this.options.authOffer, this.tlsActive);
    this.writeFraming = chooseFraming(peer.framings, FRAMINGS_WE_WRITE);
    this.out.write(buildAuthLine(method, this.options.secret, this.ourLines, this.peerLines!, this.writeFraming));
    this.phase = "auth";
  }

  private readAuth(): void {
    const line = this.reader.nextLine();
    if (line === undefined) return;
    const result = verifyAuthLine(line, {
      secret: this.options.secret,
      ourLines: this.ourLines,
      peerLines: this.peerLines!,
      tlsActive: this.tlsActive,
      accept: this.options.authAccept,
      framings: this.options.framings ?? FRAMINGS_WE_READ,
    });
    this.readFraming = result.framing;
    const rest = this.reader.takeRest();
    this.timer?.cancel();
    this.timer = undefined;
    if (this.protocol !== PROTOCOL) {
      this.handOver(rest);
      return;
    }
    const push = (packet: Packet): void => {
      this.packetsIn++;
      this.events.onPacket(packet, this);
    };
    this.decoder = createDecoder(this.readFraming, { push }, { maxPacketSize: this.options.maxPacketSize });
    const peerLimit = Number(this.peer!.keys.max_packet_size);
    if (Number.isSafeInteger(peerLimit) && peerLimit > 0) this.sendLimit = peerLimit;
    // Bytes read past the auth line are packets; under TLS they are counted as records.
    this.bytesAtUp = { read: this.socket.bytesRead - (this.tlsActive ? 0 : rest.length), written: this.socket.bytesWritten };
    this.upSince = Date.now() / 1000;
    this.phase = "up";
    this.startLiveness();
    this.events.onUp(this);
    if (rest.length > 0 && this.phase === "up") this.decoder.write(rest);
  }

  /** Watches a link to one of our own nodes for silence (see liveness.ts). */
  private startLiveness(): void {
    const keys = this.peer!.keys;
    if (!(keys.provider ?? "").startsWith(`${PROVIDER_NAME}/`)) return;
    const ours = this.options.handshakeTimeout;
    this.liveness = new Liveness(ours, announcedTimeout(keys) ?? ours, {
      keepalive: () => this.send([]),
      dead: () => this.fail("link timeout"),
    });
  }

  /**
   * A side channel authenticated: stop reading, let go of the stream and give it (and
   * the bytes read past the auth line) to `onRaw`. Called inside a data event, so the
   * stream is paused before our listener goes: no byte is emitted to nobody.
   */
  private handOver(head: Buffer): void {
    const handler = this.events.onRaw;
    if (handler === undefined) {
      this.fail(`unparsable greeting, expected '${PROTOCOL}', got '${this.protocol}'`);
      return;
    }
    this.phase = "raw";
    this.outbox = "";
    this.outBytes = [];
    // The owner decides when to end: a FIN from the peer ends the reading side only.
    // (Under TLS this matters most: the socket would otherwise close its writing side
    // under the TLS stream while the owner still writes.)
    this.socket.allowHalfOpen = true;
    let stream: Duplex = this.socket;
    if (this.tlsSocket !== undefined) {
      // The socket keeps feeding the TLS layer through the bridge; only the TLS
      // stream changes hands.
      stream = this.tlsSocket;
      stream.pause();
      stream.off("data", this.onTlsData);
      stream.off("error", this.onTlsError);
      this.socket.off("error", this.onSocketError);
      this.socket.off("end", this.onSocketEnd);
      this.socket.off("close", this.onSocketClose);
    } else {
      this.socket.pause();
      this.socket.off("data", this.onSocketData);
      this.socket.off("error", this.onSocketError);
      this.socket.off("end", this.onSocketEnd);
      this.socket.off("close", this.onSocketClose);
    }
    handler(stream, head, this);
  }

  private readonly onTlsData = (chunk: Buffer): void => this.receive(chunk);

  private readonly onTlsError = (err: Error): void => {
    // During the handshake this is the peer's certificate or TLS setup: a security
    // event worth a warning (as a ProtocolError); later, a broken stream like any other.
    if (this.phase === "tls") this.failure ??= new ProtocolError("ERR_TLS", `TLS error: ${err.message}`, { cause: err });
    this.fail(`TLS error: ${err.message}`);
  };

  /**
   * Both greetings said tls=1.0: the side whose nonce sorts first is the TLS client.
   * Bytes that arrived behind the greetings already belong to TLS, so the TLS layer
   * reads through a small bridge fed first with them, then with the socket's data.
   */
  private startTls(early: Buffer): void {
    this.phase = "tls";
    const { cert, key } = this.options.tls!;
    const socket = this.socket;
    const bridge = new Duplex({
      read() {
        socket.resume();
      },
      write(chunk, _encoding, done) {
        socket.write(chunk, done);
      },
      final(done) {
        socket.end();
        done();
      },
      destroy(err, done) {
        socket.destroy();
        done(err);
      },
    });
    // Ends and errors of the socket reach the TLS stream (which matters once a side
    // channel owns it: during the handshake the link's own listeners see them first).
    socket.on("end", () => bridge.push(null));
    socket.on("close", () => bridge.destroy());
    this.tlsBridge = bridge;
    this.reader = new LineReader();
    if (early.length > 0) bridge.push(early);
    const { TLSSocket, connect, createSecureContext } = tls();
    const common = { secureContext: createSecureContext({ cert, key, ca: [cert] }), requestCert: true, rejectUnauthorized: true };
    const secure =
      tlsRole(this.ourLines, this.peerLines!) === "client"
        ? connect({ socket: bridge, ...common, checkServerIdentity: () => undefined })
        : new TLSSocket(bridge, { ...common, isServer: true });
    this.tlsSocket = secure;
    secure.on("error", this.onTlsError);
    secure.once("secure", () => this.tlsReady(secure));
    secure.once("secureConnect", () => this.tlsReady(secure));
    secure.on("data", this.onTlsData);
  }

  private certFingerprint(): string {
    return new X509Certificate(this.options.tls!.cert).fingerprint256;
  }

  private tlsReady(secure: Tls.TLSSocket): void {
    if (this.phase !== "tls") return;
    // The network shares one certificate: the peer must present exactly it. (A
    // server-side TLSSocket made by hand never sets `authorized`, so this check is
    // the one both roles rely on.)
    const presented = secure.getPeerCertificate()?.fingerprint256;
    if (presented === undefined || presented !== this.certFingerprint()) {
      const text = "TLS certificate verification failed: the peer did not present the network's certificate";
      this.failure ??= new ProtocolError("ERR_TLS", text);
      this.fail(text);
      return;
    }
    this.tlsActive = true;
    this.out = secure;
    try {
      this.sendAuth();
      this.readAuth();
    } catch (err) {
      this.failure ??= err;
      this.fail(err instanceof Error ? err.message : String(err));
    }
  }

  private fail(text: string): void {
    if (this.phase === "down" || this.phase === "raw") return;
    // However a TLS handshake ends before it succeeds (the peer, checking our
    // certificate, may hang up first), that is a TLS failure: a security event.
    if (this.phase === "tls") {
      if (!text.startsWith("TLS ")) text = `TLS handshake failed: ${text}`;
      this.failure ??= new ProtocolError("ERR_TLS", text);
    }
    // A clean end we asked for (`end`) reports its own text, whatever ended the stream.
    if (this.phase === "closing" && this.closingText !== undefined) text = this.closingText;
    this.phase = "down";
    this.timer?.cancel();
    this.liveness?.stop();
    this.abandoned += this.unsent;
    this.outbox = "";
    this.outBytes = [];
    this.outboxPackets = 0;
    this.socket.destroy();
    this.wakeFlushWaiters();
    this.onClosed?.();
    this.events.onDown(text, this);
  }
}

/** A chunk worth writing as it is rather than copying into a joined buffer. */
const isLarge = (chunk: Buffer): boolean => chunk.length >= 64 * 1024;

/**
 * `encodePacket` with the limits a link sends under: an `EncodeError` naming the
 * destination port (on node `nodeId`) when the framing cannot carry the packet
 * (`ERR_UNENCODABLE`) or its encoding is over `limit` bytes (`ERR_MESSAGE_TOO_LARGE`).
 * This is the hot path of every remote send: a UTF-16 code unit is at most 3 bytes of
 * UTF-8, so small packets are never measured, and the port ID is built only for an error.
 */
export function encodeChecked(framing: string, packet: Packet, limit: number, nodeId: string): Encoded {
  return checkedSize(encodeOrThrow(framing, packet, nodeId), framing, packet, limit, nodeId);
}

/** `encodePacket`, failing with the `EncodeError` a send to node `nodeId` reports. */
function encodeOrThrow(framing: string, packet: Packet, nodeId: string): Encoded {
  try {
    return encodePacket(framing, packet);
  } catch (err) {
    const destination = `${nodeId}#${String(packet[0])}`;
    const why = (err as Error)?.cause instanceof Error ? ((err as Error).cause as Error).message : err instanceof Error ? err.message : String(err);
    throw new EncodeError("ERR_UNENCODABLE", destination, framing, `cannot send to ${destination}: the message cannot be encoded in ${framing} framing: ${why}`, { cause: err });
  }
}

/** `data` (the encoded `packet`), unless it is over `limit` bytes: then an `EncodeError`. */
function checkedSize(data: Encoded, framing: string, packet: Packet, limit: number, nodeId: string): Encoded {
  const length = typeof data === "string" ? data.length * 3 : Array.isArray(data) ? data.reduce((n, c) => n + c.length, 0) : data.length;
  if (length > limit) {
    const size = typeof data === "string" ? Buffer.byteLength(data) : length;
    if (size > limit) {
      const destination = `${nodeId}#${String(packet[0])}`;
      throw new EncodeError("ERR_MESSAGE_TOO_LARGE", destination, framing, `cannot send to ${destination}: the message is ${size} bytes in ${framing} framing, more than the ${limit} bytes the receiver accepts (max_packet_size)`, { size });
    }
  }
  return data;
}

/**
 * One packet on its way to many links (see `Link.sendShared`): encoded once per
 * framing, the first time a link of that framing asks. Neither the packet nor its
 * encodings may change afterwards; a packet that cannot be encoded fails every link
 * that asks, as `send` would.
 */
export class SharedPacket {
  readonly packet: Packet;
  private readonly encodings = new Map<string, Encoded>();

  constructor(packet: Packet) {
    this.packet = packet;
  }

  /** The packet in `framing`, checked against the receiver's `limit` (see `encodeChecked`). */
  encoded(framing: string, limit: number, nodeId: string): Encoded {
    let data = this.encodings.get(framing);
    if (data === undefined) {
      data = encodeOrThrow(framing, this.packet, nodeId);
      this.encodings.set(framing, data);
    }
    return checkedSize(data, framing, this.packet, limit, nodeId);
  }
}

/** AEMP reports OS errors by their text (e.g. "Connection refused"). */
export function socketErrorText(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ECONNREFUSED":
      return "Connection refused";
    case "ECONNRESET":
      return "Connection reset by peer";
    case "ETIMEDOUT":
      return "Connection timed out";
    case "EHOSTUNREACH":
      return "No route to host";
    case "ENETUNREACH":
      return "Network is unreachable";
    case "EPIPE":
      return "Broken pipe";
    default:
      return err.message;
  }
}

