/**
 * The AEMP 2.x handshake as pure functions: building and parsing the two greeting lines,
 * choosing auth method and framing, building and checking the auth line, and reading
 * lines off the byte stream until the packets start.
 *
 * Why it looks like this:
 * - No sockets here. The connection code feeds bytes in and writes strings out, so
 *   every rule below is checked against vectors computed by the real Perl code.
 * - Failures are `ProtocolError`s whose message is the text Perl uses for the same
 *   failure, because that text travels to monitors as the `transport_error` reason and
 *   mixed Perl/TypeScript networks should report alike. The `code` is ours and stable.
 * - Lines are text decoded as UTF-8, and everything hashed is re-encoded as UTF-8. Node
 *   IDs are ASCII in practice; for any valid UTF-8 the bytes hashed equal the bytes sent.
 * - Both sides hash their own lines first (`L1 L2 R1 R2`), for `hmac_sha3_512` and
 *   `tls_sha3_512` alike, so the check of a peer's line swaps the halves. The vectors
 *   (computed by Perl) fix this; PROTOCOL.md states the `tls_sha3_512` rule from the
 *   receiver's side, where "R" is the sender.
 * - Auth data is compared in constant time: the expected value of an HMAC is secret
 *   until the peer proves it knows it.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { ProtocolError, argumentError } from "../errors.ts";
import { VERSION } from "../version.ts";

/** The protocol name of a node link (DataConn side channels use `aemp-dataconn`). */
export const PROTOCOL = "aemp";
/**
 * The protocol name of a data connection (lib/node/dataconn.ts): the same handshake,
 * then raw bytes. A listener greets with `aemp` before it knows what the dialler wants,
 * so a data link sees `aemp` from its peer and the effective protocol is the dialler's.
 */
export const DATACONN_PROTOCOL = "aemp-dataconn";
/** The only protocol version there is; any other fails the link. */
export const PROTOCOL_VERSION = 1;
/** Our implementation's name in `provider=` (a peer saying it is one of our own nodes). */
export const PROVIDER_NAME = "aemp-ts";
/** What we put in `provider=`; Perl sends `AE-2.01`. */
export const PROVIDER = `${PROVIDER_NAME}/${VERSION}`;
/** Longest handshake line accepted, in bytes without its line end (AEMP's pre-auth read limit). */
export const MAX_HANDSHAKE_LINE = 4096;
/** Auth methods we know how to produce and check. */
export const AUTH_METHODS = ["tls_sha3_512", "hmac_sha3_512", "tls_anon", "cleartext"] as const;
/** Perl's default `auth_offer`: what we may send, preferred order is the peer's. */
export const DEFAULT_AUTH_OFFER: readonly string[] = ["tls_sha3_512", "hmac_sha3_512"];
/** Perl's default `auth_accept`: what we take from the peer; the AUTHS field of our greeting. */
export const DEFAULT_AUTH_ACCEPT: readonly string[] = ["tls_sha3_512", "hmac_sha3_512", "tls_anon", "cleartext"];

/** Our two greeting lines or the peer's, without line ends. */
export type GreetingLines = readonly [line1: string, line2: string];

/** Shared secret: a string is used as its UTF-8 bytes. */
export type Secret = string | Uint8Array;

/** Greeting line 1, parsed. */
export interface Greeting {
  protocol: string;
  version: number;
  nodeId: string;
  /** Auth methods the sender accepts. */
  auths: string[];
  /** Framings the sender reads, preferred first. */
  framings: string[];
  /** Every `key=value` pair (a pair without `=` has value `""`); unknown keys are kept. */
  keys: Record<string, string>;
}

export interface GreetingOptions {
  /** Default {@link PROTOCOL}. */
  protocol?: string;
  nodeId: string;
  /** Auth methods we accept, e.g. {@link DEFAULT_AUTH_ACCEPT}. */
  auths: readonly string[];
  /** Framings we read, preferred first, e.g. `FRAMINGS_WE_READ`. */
  framings: readonly string[];
  /** `key=value` pairs, written in insertion order (see {@link greetingExtras}). */
  extras?: Readonly<Record<string, string>>;
}

/** A fresh nonce for greeting line 2: base64 of 66 random bytes (88 characters). */
export function makeNonce(): string {
  return randomBytes(66).toString("base64");
}

/**
 * The `key=value` pairs our nodes send: `mproto`, `gproto`, `provider`, plus `peeraddr`
 * (the peer's address as we see it) when known and `tls=1.0` only when we have a
 * certificate, since Perl starts TLS whenever both greetings carry it.
 */
export function greetingExtras(options: { peeraddr?: string; tls?: boolean } = {}): Record<string, string> {
  const extras: Record<string, string> = { mproto: "1", gproto: "1", provider: PROVIDER };
  if (options.peeraddr !== undefined) extras.peeraddr = options.peeraddr;
  if (options.tls) extras.tls = "1.0";
  return extras;
}

/**
 * Greeting line 1 (no line end).
 *
 * @example
 * buildGreeting({ nodeId: "a", auths: ["hmac_sha3_512"], framings: ["json"], extras: { provider: "x" } })
 * // "aemp;1;a;hmac_sha3_512;json;provider=x"
 */
export function buildGreeting(options: GreetingOptions): string {
  const { protocol = PROTOCOL, nodeId, auths, framings, extras = {} } = options;
  checkField("protocol", protocol);
  checkNodeId(nodeId);
  checkNameList("auths", auths);
  checkNameList("framings", framings);
  const pairs = Object.entries(extras).map(([key, value]) => checkPair(key, value));
  return [protocol, String(PROTOCOL_VERSION), nodeId, auths.join(","), framings.join(","), ...pairs].join(";");
}

/**
 * Parses the peer's greeting line 1, refusing another protocol or version.
 * `expected` is the protocol name, or the names, accepted (the error quotes the first).
 * A trailing CR is ignored.
 */
export function parseGreeting(line: string, expected: string | readonly string[] = PROTOCOL): Greeting {
  const [protocol = "", version = "", nodeId = "", auths = "", framings = "", ...pairs] = stripCr(line).split(";");
  const accepted = typeof expected === "string" ? [expected] : expected;
  if (!accepted.includes(protocol)) {
    throw new ProtocolError("ERR_GREETING", `unparsable greeting, expected '${accepted[0] ?? PROTOCOL}', got '${protocol}'`);
  }
  // Perl compares the version numerically, so "1.0" is version 1 too.
  if (version.trim() === "" || Number(version) !== PROTOCOL_VERSION) {
    throw new ProtocolError("ERR_VERSION", `version mismatch (we: ${PROTOCOL_VERSION}, they: ${version})`);
  }
  if (nodeId === "" || nodeId.includes("#")) {
    throw new ProtocolError("ERR_GREETING", `unparsable greeting, invalid node id '${nodeId}'`);
  }
  return {
    protocol,
    version: PROTOCOL_VERSION,
    nodeId,
    auths: splitList(auths),
    framings: splitList(framings),
    keys: Object.fromEntries(pairs.filter((pair) => pair !== "").map(splitPair)),
  };
}

/**
 * Parses the peer's greeting and refuses peers AEMP refuses: a reflection of our own
 * lines (`authentication error, echo attack?`) and a node with our node ID
 * (`I refuse to talk to myself`). Perl tests the node ID first, which makes its echo
 * check unreachable; we test the echo first so a reflected greeting is named as such.
 * A node connecting to itself still gets the "myself" text: its two nonces differ.
 * `protocols` are the greeting protocols accepted (see {@link parseGreeting}).
 */
export function checkPeer(
  ourLines: GreetingLines,
  peerLines: GreetingLines,
  ourNodeId: string,
  protocols: string | readonly string[] = PROTOCOL,
): Greeting {
  const peer = parseGreeting(peerLines[0], protocols);
  if (stripCr(peerLines[0]) === ourLines[0] && stripCr(peerLines[1]) === ourLines[1]) {
    throw new ProtocolError("ERR_ECHO", "authentication error, echo attack?");
  }
  if (peer.nodeId === ourNodeId) {
    throw new ProtocolError("ERR_SELF", "I refuse to talk to myself");
  }
  return peer;
}

/** The error for a peer whose node already has a live link (the node layer decides that). */
export function alreadyConnectedError(nodeId: string): ProtocolError {
  return new ProtocolError("ERR_ALREADY_CONNECTED", `${nodeId} already connected, not connecting again.`);
}

/** Whether the peer's greeting asks for TLS (`tls=1.0`); TLS runs only if ours does too. */
export function peerOffersTls(peer: Greeting): boolean {
  return peer.keys.tls === "1.0";
}

/**
 * Our TLS role: the side whose nonce (line 2) sorts first is the client. Equal nonces
 * make both sides servers, as in Perl; the link then fails in TLS.
 */
export function tlsRole(ourLines: GreetingLines, peerLines: GreetingLines): "client" | "server" {
  return ourLines[1] < stripCr(peerLines[1]) ? "client" : "server";
}

/**
 * The auth method we send: the first of the peer's accepted methods that we offer;
 * `tls_*` only when TLS is active. The error text quotes the peer's list.
 */
export function chooseAuthMethod(peerAccepts: readonly string[], ourOffer: readonly string[], tlsActive: boolean): string {
  const method = peerAccepts.find((m) => ourOffer.includes(m) && (tlsActive || !m.startsWith("tls_")));
  if (method === undefined) {
    throw new ProtocolError("ERR_NO_COMMON_AUTH", `${peerAccepts.join(",")}: no common auth type supported`);
  }
  return method;
}

/**
 * The framing we write: the first of the peer's readable framings that we can write.
 * Each direction chooses for itself, so the two directions may differ.
 */
export function chooseFraming(peerFramings: readonly string[], weCanWrite: readonly string[]): string {
  const framing = peerFramings.find((f) => weCanWrite.includes(f));
  if (framing === undefined) {
    throw new ProtocolError("ERR_NO_COMMON_FRAMING", `${peerFramings.join(",")}: no common framing method supported`);
  }
  return framing;
}

/**
 * Our auth line, `METHOD;AUTHDATA;FRAMING` with its LF.
 * Throws `ERR_NO_SECRET` when the method needs a secret and there is none.
 */
export function buildAuthLine(
  method: string,
  secret: Secret | undefined,
  ourLines: GreetingLines,
  peerLines: GreetingLines,
  framing: string,
): string {
  const data = authData(method, secret, ourLines, peerLines);
  if (data === undefined) {
    if (isSecretMethod(method)) {
      throw new ProtocolError("ERR_NO_SECRET", "unable to handshake TLS and no shared secret configured");
    }
    throw argumentError("buildAuthLine", "method", `one of ${AUTH_METHODS.join(", ")}`, method);
  }
  return `${method};${data};${framing}\n`;
}

export interface VerifyAuthOptions {
  secret?: Secret | undefined;
  ourLines: GreetingLines;
  peerLines: GreetingLines;
  tlsActive: boolean;
  /** Methods we accept from the peer (the AUTHS of our greeting). */
  accept: readonly string[];
  /** Framings we can read; when given, the peer's choice must be one of them. */
  framings?: readonly string[];
}

/** What the peer's auth line settled. */
export interface AuthResult {
  method: string;
  /** The framing the peer will write, i.e. the one we must decode. */
  framing: string;
}

/**
 * Checks the peer's auth line (LF, CRLF or no line end; fields after the third are
 * ignored) and returns its method and framing. `tls_*` methods without TLS, a wrong
 * secret or no secret at all fail as a mismatch, as in Perl.
 */
export function verifyAuthLine(line: string, options: VerifyAuthOptions): AuthResult {
  const [method = "", data = "", framing = ""] = stripLineEnd(line).split(";");
  if (!options.accept.includes(method) || !isAuthMethod(method)) {
    throw new ProtocolError("ERR_AUTH_UNSUPPORTED", `${method}: fatal, selected unsupported rcv auth method`);
  }
  const expected = expectedAuthData(method, options);
  if (expected === undefined || !sameText(expected, data)) {
    throw new ProtocolError("ERR_AUTH_MISMATCH", "authentication failure/shared secret mismatch");
  }
  if (framing === "") throw new ProtocolError("ERR_BAD_AUTH_LINE", "auth line names no framing");
  if (options.framings && !options.framings.includes(framing)) {
    throw new ProtocolError("ERR_BAD_FRAMING", `${framing}: peer selected a framing we cannot read`);
  }
  return { method, framing };
}

function expectedAuthData(method: string, options: VerifyAuthOptions): string | undefined {
  if (method.startsWith("tls_") && !options.tlsActive) return undefined;
  // The peer hashed its own lines first: from here that is peer, then ours.
  return authData(method, options.secret, options.peerLines, options.ourLines);
}

/**
 * AUTHDATA as the side owning `senderLines` computes it, or undefined when the method
 * is unknown or needs a missing secret.
 */
function authData(
  method: string,
  secret: Secret | undefined,
  senderLines: GreetingLines,
  receiverLines: GreetingLines,
): string | undefined {
  const transcript = [...senderLines, ...receiverLines].map((l) => `${stripCr(l)}\n`).join("");
  switch (method) {
    case "hmac_sha3_512":
      return secret === undefined ? undefined : createHmac("sha3-512", secret).update(transcript, "utf8").digest("hex");
    case "cleartext":
      return secret === undefined ? undefined : secretBytes(secret).toString("hex");
    case "tls_sha3_512":
      return createHash("sha3-512").update(transcript, "utf8").digest("hex");
    case "tls_anon":
      return "";
    default:
      return undefined;
  }
}

function isAuthMethod(method: string): boolean {
  return (AUTH_METHODS as readonly string[]).includes(method);
}

function isSecretMethod(method: string): boolean {
  return method === "hmac_sha3_512" || method === "cleartext";
}

function secretBytes(secret: Secret): Buffer {
  return typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
}

function sameText(expected: string, given: string): boolean {
  const a = Buffer.from(expected, "utf8");
  const b = Buffer.from(given, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

function stripLineEnd(line: string): string {
  return stripCr(line.endsWith("\n") ? line.slice(0, -1) : line);
}

function splitList(list: string): string[] {
  return list.split(",").filter((item) => item !== "");
}

function splitPair(pair: string): [string, string] {
  const eq = pair.indexOf("=");
  return eq < 0 ? [pair, ""] : [pair.slice(0, eq), pair.slice(eq + 1)];
}

const FIELD_BREAKERS = /[;\r\n]/;

function checkField(param: string, value: unknown): void {
  if (typeof value !== "string" || value === "" || FIELD_BREAKERS.test(value)) {
    throw argumentError("buildGreeting", param, "a non-empty string without ';' or line breaks", value);
  }
}

function checkNodeId(nodeId: unknown): void {
  if (typeof nodeId !== "string" || nodeId === "" || /[;#\r\n]/.test(nodeId)) {
    throw argumentError("buildGreeting", "nodeId", "a non-empty string without '#', ';' or line breaks", nodeId);
  }
}

function checkNameList(param: string, names: unknown): void {
  const valid = Array.isArray(names) && names.length > 0
    && names.every((n) => typeof n === "string" && /^[^,;=\s]+$/.test(n));
  if (!valid) throw argumentError("buildGreeting", param, "a non-empty array of names without ',', ';' or spaces", names);
}

function checkPair(key: string, value: unknown): string {
  if (key === "" || key.includes("=") || FIELD_BREAKERS.test(key)) {
    throw argumentError("buildGreeting", "extras", "keys without '=', ';' or line breaks", key);
  }
  if (typeof value !== "string" || FIELD_BREAKERS.test(value)) {
    throw argumentError("buildGreeting", `extras.${key}`, "a string without ';' or line breaks", value);
  }
  return `${key}=${value}`;
}

/**
 * Reads the handshake lines off the byte stream. Pull-based on purpose: the caller
 * takes exactly the lines it expects (two greeting lines, then, after TLS if any, the
 * auth line) and then {@link takeRest} hands over the bytes behind them untouched,
 * since they already belong to TLS or to the packet stream.
 *
 * Limit: a line may hold at most `maxLineBytes` bytes before its LF; a longer one, or
 * that many bytes still waiting for their LF, fails with `ERR_HANDSHAKE_TOO_LONG`.
 * Only the next line is measured, so packets arriving early behind the auth line do
 * not count against it.
 */
export class LineReader {
  readonly #maxLineBytes: number;
  #buffer: Buffer = Buffer.alloc(0);
  #position = 0;
  #finished = false;

  constructor(maxLineBytes: number = MAX_HANDSHAKE_LINE) {
    if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) {
      throw argumentError("LineReader", "maxLineBytes", "a positive integer", maxLineBytes);
    }
    this.#maxLineBytes = maxLineBytes;
  }

  /** Bytes received and not yet taken. */
  get bufferedBytes(): number {
    return this.#buffer.length - this.#position;
  }

  /** Adds received bytes; throws if the next line is already too long. */
  feed(chunk: Uint8Array): void {
    this.#checkOpen();
    this.#buffer = Buffer.concat([this.#buffer.subarray(this.#position), chunk]);
    this.#position = 0;
    const end = this.#buffer.indexOf(0x0a);
    this.#checkLength(end < 0 ? this.#buffer.length : end);
  }

  /** The next complete line without LF or CRLF, or undefined until one has arrived. */
  nextLine(): string | undefined {
    this.#checkOpen();
    const end = this.#buffer.indexOf(0x0a, this.#position);
    if (end < 0) return undefined;
    this.#checkLength(end - this.#position);
    const line = this.#buffer.toString("utf8", this.#position, end);
    this.#position = end + 1;
    return stripCr(line);
  }

  /** Ends line reading and returns every byte not yet taken (possibly empty). */
  takeRest(): Buffer {
    this.#checkOpen();
    this.#finished = true;
    const rest = this.#buffer.subarray(this.#position);
    this.#buffer = Buffer.alloc(0);
    this.#position = 0;
    return rest;
  }

  #checkLength(length: number): void {
    if (length > this.#maxLineBytes) {
      throw new ProtocolError(
        "ERR_HANDSHAKE_TOO_LONG",
        `handshake line longer than ${this.#maxLineBytes} bytes`,
      );
    }
  }

  #checkOpen(): void {
    if (this.#finished) throw new Error("LineReader: already finished by takeRest()");
  }
}
