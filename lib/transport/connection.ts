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
import type { Socket } from "node:net";
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

type Phase = "greeting" | "auth" | "up" | "down";

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
  private readonly reader = new LineReader();
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
        extras: { ...greetingExtras({ peeraddr }), ...options.extras },
      }),
      makeNonce(),
    ];
    socket.setNoDelay(options.nodelay);
    socket.setKeepAlive(true);
    this.timer = setTimeout(() => this.fail("handshake timeout"), options.handshakeTimeout * 1000);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
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
    this.socket.write(data);
  };

  /** Ends the link (e.g. a refused duplicate); `onDown` gets `text`. */
  close(text: string): void {
    this.fail(text);
  }

  private receive(chunk: Buffer): void {
    try {
      if (this.phase === "up") this.decoder!.write(chunk);
      else if (this.phase !== "down") this.handshake(chunk);
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
      const method = chooseAuthMethod(this.peer.auths, this.options.authOffer, false);
      this.writeFraming = chooseFraming(this.peer.framings, FRAMINGS_WE_WRITE);
      this.socket.write(buildAuthLine(method, this.options.secret, this.ourLines, this.peerLines, this.writeFraming));
      this.phase = "auth";
    }
    if (this.phase === "auth") {
      const line = this.reader.nextLine();
      if (line === undefined) return;
      const result = verifyAuthLine(line, {
        secret: this.options.secret,
        ourLines: this.ourLines,
        peerLines: this.peerLines!,
        tlsActive: false,
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

