/**
 * Packet codecs, chosen by the framing name the handshake agreed on.
 *
 * - `json` is AEMP's own: one compact JSON array per packet, back to back. Every Perl
 *   node reads it, so it is always offered, and `undefined`, `Date`, `Map`, `BigInt`
 *   and friends degrade the way `JSON.stringify` degrades them (a `BigInt` cannot be
 *   sent at all).
 * - `cbor` is Perl's first choice: one CBOR array per packet, back to back (cbor.ts,
 *   which says how Perl's byte strings map to JS strings). Offered after `superjson`
 *   and before `json`, so a Perl peer writes us cbor and we write it cbor.
 * - `superjson` is ours, preferred between two aemp-ts nodes so that rich values arrive
 *   as they left. Each packet is the text `SuperJSON.stringify(packet)` produces: one
 *   JSON object (`{"json":[...],"meta":{...}}`, `meta` only when needed), back to
 *   back with no delimiter. Being plain JSON objects, the packets split with the same
 *   byte scanner as `json`; a length prefix would have meant a second decoder and
 *   would gain little, since parsing dominates the cost either way. The default
 *   SuperJSON instance is used, so classes an application registers with
 *   `SuperJSON.registerClass` survive too (both nodes must register them). Bytes
 *   (`Uint8Array`, `Buffer`) are registered here and arrive as a `Buffer`.
 *
 * - `superjson-bin` is `superjson` plus byte frames, so that bytes travel between two
 *   aemp-ts nodes (0.2.0 and later) as they are, not as base64 (blob-frames.ts).
 *   Offered first; a packet without bytes is the same text as in `superjson`.
 *
 * A Perl peer never offers `superjson` or `superjson-bin`, so the handshake never picks
 * them towards Perl.
 * The text framings' encoders return strings (sockets write strings as UTF-8 without an
 * extra copy); cbor's returns a Buffer.
 */
import SuperJSON from "superjson";
import type { SuperJSONResult, SuperJSONValue } from "superjson";
// Loaded first: it registers its bytes transformer ahead of the base64 one below.
import { BlobFrameDecoder, encodeBlobFrame } from "./blob-frames.ts";

// Bytes travel between aemp nodes as base64 and arrive as a Buffer (a Uint8Array), so
// a Buffer or Uint8Array sent is a Uint8Array received.
SuperJSON.registerCustom<Uint8Array, string>(
  {
    isApplicable: (v): v is Uint8Array => v instanceof Uint8Array,
    serialize: (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64"),
    deserialize: (v) => Buffer.from(v, "base64"),
  },
  "aemp:bytes",
);
import { ProtocolError, argumentError } from "../errors.ts";
import { CborDecoder, encodeCbor } from "./cbor.ts";
import { JsonSplitter, checkMaxPacketSize, type ValueSink } from "./json-splitter.ts";

export { DEFAULT_MAX_PACKET_SIZE } from "./json-splitter.ts";

/** The framings we can write, preferred first. */
export const FRAMINGS_WE_WRITE = ["superjson-bin", "superjson", "cbor", "json"] as const;
/** The framings we can read, preferred first: the FRAMINGS field of our greeting. */
export const FRAMINGS_WE_READ = ["superjson-bin", "superjson", "cbor", "json"] as const;

export type FramingName = (typeof FRAMINGS_WE_READ)[number];

/** One packet's wire form: text, bytes, or bytes in pieces to write in order. */
export type Encoded = string | Buffer | Buffer[];

/** A decoded packet: `[PORTNAME, ...message]`. */
export type Packet = unknown[];

/** Receives each decoded packet, in stream order. */
export interface PacketSink {
  push(packet: Packet): void;
}

/** Turns stream bytes into packets for a sink. */
export interface PacketDecoder {
  /** Decodes what `chunk` completes; throws a ProtocolError on bad input (then keeps throwing). */
  write(chunk: Uint8Array): void;
  /** Bytes held for a packet that has not completed yet. */
  readonly pendingBytes: number;
}

export interface DecoderOptions {
  /** Largest packet accepted, in bytes on the wire. Default 64 MiB. */
  maxPacketSize?: number;
}

/** Whether `name` is a framing this module implements. */
export function isFramingName(name: string): name is FramingName {
  return (FRAMINGS_WE_READ as readonly string[]).includes(name);
}

/**
 * A decoder for the framing the peer announced in its auth line.
 *
 * @example
 * const decoder = createDecoder("json", { push: (packet) => deliver(packet) });
 * socket.on("data", (chunk) => decoder.write(chunk));
 */
export function createDecoder(name: string, sink: PacketSink, options: DecoderOptions = {}): PacketDecoder {
  const framing = checkFramingName("createDecoder", name);
  const maxPacketSize = checkMaxPacketSize("createDecoder", options.maxPacketSize);
  if (framing === "json") {
    return new JsonSplitter(sink as ValueSink, { maxPacketSize, topLevel: "array" });
  }
  if (framing === "cbor") return new CborDecoder(sink, maxPacketSize);
  const text = new JsonSplitter(new SuperJsonUnwrapper(sink), { maxPacketSize, topLevel: "object", parse: parseSuperJson });
  if (framing === "superjson") return text;
  return new BlobFrameDecoder(text, sink, (envelope) => toPacket(JSON.parse(envelope)), maxPacketSize);
}

/**
 * The wire form of one packet in the named framing: text for `json` and `superjson`,
 * bytes for `cbor`, either for `superjson-bin` (bytes when the packet holds bytes: one
 * Buffer, or several to write in order, see blob-frames.ts). Throws a TypeError when the packet cannot be represented (a
 * `BigInt` in `json`, a cycle...), before anything is written.
 */
export function encodePacket(name: string, packet: readonly unknown[]): Encoded {
  const framing = checkFramingName("encodePacket", name);
  if (!Array.isArray(packet)) throw argumentError("encodePacket", "packet", "an array", packet);
  try {
    if (framing === "json") return JSON.stringify(packet);
    if (framing === "cbor") return encodeCbor(packet);
    // SuperJSON's walk costs several times JSON.stringify; for a packet of plain JSON
    // values its output is exactly this (no meta), so skip the walk.
    if (isPlainPacket(packet)) return `{"json":${JSON.stringify(packet)}}`;
    if (framing === "superjson-bin") return encodeBlobFrame(packet, stringifySuper);
    return stringifySuper(packet);
  } catch (err) {
    throw new TypeError(`encodePacket: packet cannot be encoded in ${framing} framing: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function stringifySuper(packet: readonly unknown[]): string {
  return SuperJSON.stringify(packet as SuperJSONValue);
}

/** Nesting deeper than this takes SuperJSON's own path (no deep recursion here). */
const MAX_PLAIN_DEPTH = 32;

/**
 * Whether SuperJSON would encode `packet` as `{"json": packet}` with no meta: it holds
 * only strings, booleans, null, finite numbers other than -0, and arrays and plain
 * (or null-prototype) objects of those, each object at most once (a repeated one gets
 * a referential-equality note). Keys SuperJSON refuses (`__proto__`, `constructor`,
 * `prototype`) also go its way, so they fail as they always did.
 */
function isPlainPacket(packet: readonly unknown[]): boolean {
  // The common case, a flat packet of scalars, needs no bookkeeping.
  for (let i = 0; i < packet.length; i++) {
    const v = packet[i];
    if (typeof v === "object" && v !== null) return isPlainTree(packet, new Set(), 0);
    if (!isPlainScalar(v)) return false;
  }
  return true;
}

function isPlainScalar(v: unknown): boolean {
  switch (typeof v) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(v) && !Object.is(v, -0);
    default:
      return v === null;
  }
}

function isPlainTree(v: unknown, seen: Set<object>, depth: number): boolean {
  if (typeof v !== "object" || v === null) return isPlainScalar(v);
  if (depth > MAX_PLAIN_DEPTH || seen.has(v)) return false;
  seen.add(v);
  const proto = Object.getPrototypeOf(v);
  if (Array.isArray(v)) {
    if (proto !== Array.prototype) return false;
    // A hole reads as undefined, which is not plain: SuperJSON decides.
    for (let i = 0; i < v.length; i++) if (!isPlainTree(v[i], seen, depth + 1)) return false;
    return true;
  }
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key of Object.keys(v)) {
    if (key === "__proto__" || key === "constructor" || key === "prototype") return false;
    if (!isPlainTree((v as Record<string, unknown>)[key], seen, depth + 1)) return false;
  }
  return true;
}

/**
 * `{"json":[...]}` with no `meta` (the common case: plain JSON values) is unwrapped at
 * the text level, saving the envelope object. The packet is an array, so a text that
 * ends in `]}` closes the array and then the envelope: no `meta` key follows.
 */
function parseSuperJson(text: string): unknown {
  if (text.startsWith('{"json":[') && text.endsWith("]}")) {
    // An array is the packet itself (the envelope is always an object).
    return JSON.parse(text.slice(8, -1)) as unknown[];
  }
  return JSON.parse(text);
}

class SuperJsonUnwrapper implements ValueSink {
  readonly #sink: PacketSink;
  constructor(sink: PacketSink) {
    this.#sink = sink;
  }

  push(value: unknown): void {
    // An array was unwrapped by parseSuperJson.
    this.#sink.push(Array.isArray(value) ? value : toPacket(value));
  }
}

/** The packet a superjson envelope holds. */
function toPacket(envelope: unknown): Packet {
  if (typeof envelope !== "object" || envelope === null) {
    throw new ProtocolError("ERR_NOT_A_PACKET", "superjson packet must be an object");
  }
  const packet = restore(envelope as SuperJSONResult);
  if (!Array.isArray(packet)) {
    throw new ProtocolError("ERR_NOT_A_PACKET", "superjson packet must hold an array in its 'json' field");
  }
  return packet;
}

function restore(envelope: SuperJSONResult): unknown {
  if (!("json" in envelope)) {
    throw new ProtocolError("ERR_BAD_FRAME", "invalid superjson packet: no 'json' field");
  }
  // Most packets carry only JSON types: no meta, nothing to restore.
  if (envelope.meta === undefined) return envelope.json;
  try {
    return SuperJSON.deserialize(envelope);
  } catch (err) {
    throw new ProtocolError("ERR_BAD_FRAME", `invalid superjson packet: ${(err as Error).message}`, { cause: err });
  }
}

function checkFramingName(fn: string, name: string): FramingName {
  if (typeof name !== "string" || !isFramingName(name)) {
    throw argumentError(fn, "name", `one of ${FRAMINGS_WE_READ.join(", ")}`, name);
  }
  return name;
}
