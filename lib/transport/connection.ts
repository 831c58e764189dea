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
 *
 * Writes are coalesced: packets sent in one tick go out in one `socket.write`.
 */
import { X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { TLSSocket, connect as tlsConnect, createSecureContext } from "node:tls";
import { FRAMINGS_WE_READ, FRAMINGS_WE_WRITE, type Packet, type PacketDecoder, createDecoder, encodePacket } from "./framing.ts";
import {
  type Greeting,
  type GreetingLines,
  LineReader,
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

export interface LinkOptions {
  nodeId: string;
  secret: Secret | undefined;
  /** Methods we use to authenticate ourselves (first the peer accepts wins). */
  authOffer: readonly string[];
  /** Methods we accept from the peer: the AUTHS of our greeting. */
  authAccept: readonly string[];
  /** Framings we read, preferred first: the FRAMINGS of our greeting. */
  framings?: readonly string[];
  /** Seconds the handshake may take. */
  handshakeTimeout: number;
  maxPacketSize: number;
  nodelay: boolean;
  /** Protocol name of line 1 ("aemp"; "aemp-dataconn" for data links). */
  protocol?: string;
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
}

type Phase = "greeting" | "tls" | "auth" | "up" | "down";

export class Link {
  readonly socket: Socket;
  /** Whether we dialled (for logs and tie-breaks). */
  readonly outbound: boolean;
  peer: Greeting | undefined;
  /** The framing we write and the one we read. */
  writeFraming = "json";
  readFraming = "json";
  private phase: Phase = "greeting";
  private readonly options: LinkOptions;
  private readonly events: LinkEvents;
  private reader = new LineReader();
  /** Where packets are written: the socket, or the TLS stream over it. */
  private out: { write(data: string): unknown } ;
  /** The TLS side of the link, once started; raw bytes are forwarded to it. */
  private tlsBridge: Duplex | undefined;
  private tlsActive = false;
  private readonly ourLines: GreetingLines;
  private peerLines: [string, string] | undefined;
  private peerLine1: string | undefined;
  private decoder: PacketDecoder | undefined;
  private outbox = "";
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;

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
        extras: { ...greetingExtras({ peeraddr, tls: options.tls !== undefined }), ...options.extras },
      }),
      makeNonce(),
    ];
    this.out = socket;
    socket.setNoDelay(options.nodelay);
    socket.setKeepAlive(true);
    this.timer = setTimeout(() => this.fail("handshake timeout"), options.handshakeTimeout * 1000);
    socket.on("data", (chunk: Buffer) => {
      if (this.tlsBridge !== undefined) this.tlsBridge.push(chunk);
      else this.receive(chunk);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => this.fail(socketErrorText(err)));
    socket.on("close", () => this.fail("Unexpected end-of-file"));
    socket.write(`${this.ourLines[0]}\n${this.ourLines[1]}\n`);
  }

  get isUp(): boolean {
    return this.phase === "up";
  }

  /** Queues a packet; everything queued in this tick leaves in one write. */
  send(packet: Packet): void {
    if (this.phase !== "up") return;
    this.outbox += encodePacket(this.writeFraming, packet);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.outbox === "" || this.phase !== "up") return;
    const data = this.outbox;
    this.outbox = "";
    this.out.write(data);
  };

  /** Ends the link (e.g. a refused duplicate); `onDown` gets `text`. */
  close(text: string): void {
    this.fail(text);
  }

  private receive(chunk: Buffer): void {
    try {
      if (this.phase === "up") this.decoder!.write(chunk);
      else if (this.phase === "greeting") this.handshake(chunk);
      else if (this.phase === "auth") {
        this.reader.feed(chunk);
        this.readAuth();
      } else if (this.phase === "tls") this.reader.feed(chunk); // the peer's auth line, early
    } catch (err) {
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
      this.peer = checkPeer(this.ourLines, this.peerLines, this.options.nodeId);
      this.events.onGreeting(this.peer, this);
      if (this.options.tls !== undefined && peerOffersTls(this.peer)) {
        this.startTls(this.reader.takeRest());
        return;
      }
      this.sendAuth();
    }
    if (this.phase === "auth") this.readAuth();
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
    clearTimeout(this.timer);
    this.timer = undefined;
    this.decoder = createDecoder(this.readFraming, { push: (packet) => this.events.onPacket(packet, this) }, { maxPacketSize: this.options.maxPacketSize });
    this.phase = "up";
    this.events.onUp(this);
    if (rest.length > 0 && this.phase === "up") this.decoder.write(rest);
  }

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
      read() {},
      write(chunk, _encoding, done) {
        socket.write(chunk, done);
      },
    });
    this.tlsBridge = bridge;
    this.reader = new LineReader();
    if (early.length > 0) bridge.push(early);
    const common = { secureContext: createSecureContext({ cert, key, ca: [cert] }), requestCert: true, rejectUnauthorized: true };
    const secure: TLSSocket =
      tlsRole(this.ourLines, this.peerLines!) === "client"
        ? tlsConnect({ socket: bridge, ...common, checkServerIdentity: () => undefined })
        : new TLSSocket(bridge, { ...common, isServer: true });
    secure.on("error", (err) => this.fail(`TLS error: ${err.message}`));
    secure.once("secure", () => this.tlsReady(secure));
    secure.once("secureConnect", () => this.tlsReady(secure));
    secure.on("data", (chunk: Buffer) => this.receive(chunk));
  }

  private certFingerprint(): string {
    return new X509Certificate(this.options.tls!.cert).fingerprint256;
  }

  private tlsReady(secure: TLSSocket): void {
    if (this.phase !== "tls") return;
    // The network shares one certificate: the peer must present exactly it. (A
    // server-side TLSSocket made by hand never sets `authorized`, so this check is
    // the one both roles rely on.)
    const presented = secure.getPeerCertificate()?.fingerprint256;
    if (presented === undefined || presented !== this.certFingerprint()) {
      this.fail("TLS certificate verification failed: the peer did not present the network's certificate");
      return;
    }
    this.tlsActive = true;
    this.out = secure;
    try {
      this.sendAuth();
      this.readAuth();
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err));
    }
  }

  private fail(text: string): void {
    if (this.phase === "down") return;
    this.phase = "down";
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.outbox = "";
    this.socket.destroy();
    this.events.onDown(text, this);
  }
}

/** AEMP reports OS errors by their text (e.g. "Connection refused"). */
function socketErrorText(err: NodeJS.ErrnoException): string {
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

