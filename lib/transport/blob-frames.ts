/**
 * The `superjson-bin` framing's byte frames: how a packet holding bytes (`Uint8Array`,
 * `Buffer`) travels between two aemp-ts nodes without base64.
 *
 * `superjson-bin` is the `superjson` framing plus one kind of frame. A packet without
 * bytes is exactly the superjson text packet. A packet with bytes becomes
 *
 *     0x00 | u32 N | u32 E | E bytes of superjson text | per blob: u32 length, the bytes
 *
 * (big-endian; N counts everything after the first five bytes), where each byte array
 * in the superjson text is an `aemp:blob` value: the index of its blob. A zero byte can
 * never occur in JSON text (control characters in strings are escaped), so where the
 * stream holds one a frame starts: the decoder finds frames with a native search and
 * hands everything between them, untouched, to the superjson splitter. Text traffic
 * costs one `indexOf` per chunk; bytes are copied once, by the receiver (and by the
 * sender for small ones).
 *
 * A Perl peer never offers this framing, nor does an aemp-ts node before 0.2.0; both
 * get the framings they had (cbor, superjson), so the wire towards them is unchanged.
 */
import SuperJSON from "superjson";
import { ProtocolError } from "../errors.ts";
import type { PacketDecoder, Packet, PacketSink } from "./framing.ts";

/** Where `aemp:blob` values go while a frame is encoded, and come from while one is decoded. */
let outgoing: Uint8Array[] | null = null;
let incoming: Buffer[] | null = null;

// Registered when this module loads, before framing.ts registers base64 bytes: SuperJSON
// takes the first transformer that applies, and this one applies only while encoding a
// frame.
SuperJSON.registerCustom<Uint8Array, number>(
  {
    isApplicable: (v): v is Uint8Array => outgoing !== null && v instanceof Uint8Array,
    serialize: (v) => outgoing!.push(v) - 1,
    deserialize: (i) => {
      const blob = incoming !== null && Number.isInteger(i) ? incoming[i] : undefined;
      if (blob === undefined) throw new Error(`no blob ${String(i)} in the frame`);
      return blob;
    },
  },
  "aemp:blob",
);

const FRAME_START = 0;
/** The zero byte and N. */
const HEADER = 5;

/** Blobs at least this large are written from the caller's array instead of being copied. */
const LARGE_BLOB = 64 * 1024;

/**
 * The superjson-bin form of a packet `stringify` (SuperJSON's) cannot write as plain
 * JSON: its text when it holds no bytes, else a frame. A frame is one Buffer, or, when
 * it holds large blobs, the Buffers to write in order, the large blobs among them as
 * views of the caller's arrays (not copied: the bytes a socket write takes are never
 * copied in Node either).
 */
export function encodeBlobFrame(packet: readonly unknown[], stringify: (packet: readonly unknown[]) => string): string | Buffer | Buffer[] {
  const blobs: Uint8Array[] = [];
  outgoing = blobs;
  let text: string;
  try {
    text = stringify(packet);
  } finally {
    outgoing = null;
  }
  if (blobs.length === 0) return text;
  const textBytes = Buffer.byteLength(text);
  let size = HEADER + 4 + textBytes;
  let copied = size;
  for (const b of blobs) {
    size += 4 + b.byteLength;
    copied += 4 + (b.byteLength < LARGE_BLOB ? b.byteLength : 0);
  }
  const own = Buffer.allocUnsafe(copied);
  own[0] = FRAME_START;
  own.writeUInt32BE(size - HEADER, 1);
  own.writeUInt32BE(textBytes, HEADER);
  let at = HEADER + 4 + own.write(text, HEADER + 4, "utf8");
  const chunks: Buffer[] = [];
  let from = 0;
  for (const b of blobs) {
    own.writeUInt32BE(b.byteLength, at);
    at += 4;
    if (b.byteLength < LARGE_BLOB) {
      own.set(b, at);
      at += b.byteLength;
    } else {
      chunks.push(own.subarray(from, at), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      from = at;
    }
  }
  if (chunks.length === 0) return own;
  if (at > from) chunks.push(own.subarray(from, at));
  return chunks;
}

/**
 * Decodes a superjson-bin stream: frames itself, the text between them through `text`
 * (the superjson splitter, pushing to the same sink). `parse` turns a frame's superjson
 * text into its packet (and throws a ProtocolError when it is not one).
 */
export class BlobFrameDecoder implements PacketDecoder {
  readonly #text: PacketDecoder;
  readonly #sink: PacketSink;
  readonly #parse: (text: string) => Packet;
  readonly #maxPacketSize: number;
  /** The header being read (a frame started), and how much of it. */
  readonly #header = Buffer.alloc(HEADER);
  #headerFill = 0;
  /** The body of the frame being read, and how much of it arrived. */
  #frame: Buffer | null = null;
  #filled = 0;
  #failure: unknown = undefined;
  #hasFailed = false;

  constructor(text: PacketDecoder, sink: PacketSink, parse: (text: string) => Packet, maxPacketSize: number) {
    this.#text = text;
    this.#sink = sink;
    this.#parse = parse;
    this.#maxPacketSize = maxPacketSize;
  }

  get pendingBytes(): number {
    return this.#text.pendingBytes + this.#headerFill + this.#filled;
  }

  write(chunk: Uint8Array): void {
    if (this.#hasFailed) throw this.#failure;
    try {
      this.#write(chunk);
    } catch (err) {
      this.#hasFailed = true;
      this.#failure = err;
      this.#frame = null;
      throw err;
    }
  }

  #write(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#headerFill > 0) at = this.#readHeader(chunk, at);
      else if (this.#frame !== null) at = this.#readBody(chunk, at);
      else {
        const start = chunk.indexOf(FRAME_START, at);
        if (start < 0) {
          this.#text.write(at === 0 ? chunk : chunk.subarray(at));
          return;
        }
        if (start > at) this.#text.write(chunk.subarray(at, start));
        if (this.#text.pendingBytes !== 0) {
          throw new ProtocolError("ERR_BAD_FRAME", "superjson-bin: a byte frame starts inside a text packet");
        }
        this.#headerFill = 0;
        at = this.#readHeader(chunk, start);
      }
    }
  }

  #readHeader(chunk: Uint8Array, at: number): number {
    const n = Math.min(HEADER - this.#headerFill, chunk.length - at);
    this.#header.set(chunk.subarray(at, at + n), this.#headerFill);
    this.#headerFill += n;
    if (this.#headerFill < HEADER) return at + n;
    this.#headerFill = 0;
    const size = this.#header.readUInt32BE(1);
    if (HEADER + size > this.#maxPacketSize) {
      throw new ProtocolError("ERR_PACKET_TOO_LARGE", `superjson-bin: a frame of ${HEADER + size} bytes, more than max_packet_size (${this.#maxPacketSize})`);
    }
    if (size < 4) throw new ProtocolError("ERR_BAD_FRAME", `superjson-bin: a frame of ${size} bytes has no room for its text length`);
    this.#frame = Buffer.allocUnsafe(size);
    this.#filled = 0;
    return at + n;
  }

  #readBody(chunk: Uint8Array, at: number): number {
    const frame = this.#frame!;
    const n = Math.min(frame.length - this.#filled, chunk.length - at);
    frame.set(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n), this.#filled);
    this.#filled += n;
    if (this.#filled === frame.length) {
      this.#frame = null;
      this.#filled = 0;
      this.#sink.push(this.#decode(frame));
    }
    return at + n;
  }

  #decode(frame: Buffer): Packet {
    const textEnd = 4 + frame.readUInt32BE(0);
    if (textEnd > frame.length) throw new ProtocolError("ERR_BAD_FRAME", "superjson-bin: the frame's text runs past its end");
    const blobs: Buffer[] = [];
    for (let at = textEnd; at < frame.length; ) {
      const end = at + 4 <= frame.length ? at + 4 + frame.readUInt32BE(at) : Infinity;
      if (end > frame.length) throw new ProtocolError("ERR_BAD_FRAME", "superjson-bin: a blob runs past the end of its frame");
      blobs.push(frame.subarray(at + 4, end));
      at = end;
    }
    incoming = blobs;
    try {
      return this.#parse(frame.toString("utf8", 4, textEnd));
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError("ERR_BAD_FRAME", `superjson-bin: bad frame text: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    } finally {
      incoming = null;
    }
  }
}
