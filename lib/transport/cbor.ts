/**
 * The `cbor` framing's codec: packets as back-to-back CBOR arrays (RFC 8949), read the
 * way Perl's CBOR::XS writes them and written so that CBOR::XS reads what we meant.
 *
 * Perl has one string type, so a Perl string is a CBOR byte string unless it carries
 * the UTF-8 flag (then a text string), and hash keys are byte strings too. Reading:
 * - a byte string becomes a JS string with one char per byte (Latin-1), which is the
 *   string the `json` framing gives for the same Perl string (its chars are its bytes);
 *   a text string is decoded as UTF-8. Map keys become string keys either way.
 * - integers become numbers, or BigInts beyond 2^53 (exact; json would round them);
 *   tags 2/3 (bignums) become BigInts; other tags are dropped and their content kept.
 * - `undefined` (simple 23) and unknown simple values read as `undefined`, null as null.
 * Writing: JS strings as text strings, `Uint8Array`/`Buffer` as byte strings, integers
 * as CBOR integers whatever their size (CBOR::XS would turn a float64 into a Perl float),
 * other numbers as float32 when exact, else float64; BigInt as an integer or bignum;
 * `undefined` as null (CBOR::XS would read CBOR's undefined as an error object);
 * arrays, `Set`s as arrays; plain objects and `Map`s as maps; a value with `toJSON`
 * (a `Date`) as what that returns, as the json framing does. Functions and symbols
 * cannot be sent.
 *
 * No library does this out of the box: cbor-x (the usual choice) refuses byte-string
 * map keys in object mode (CBOR::XS writes every hash key that way) and writes integers
 * beyond 32 bits as float64, so using it would take a walk over every packet in each
 * direction plus a native optional dependency; this codec is smaller than that glue.
 *
 * Reading is incremental. A packet that arrives whole in one chunk (the common case)
 * is decoded straight from the chunk. One that does not is tracked by `Scanner`,
 * which follows the item structure (headers, lengths, nesting) byte by byte and skips
 * string payloads, keeping the chunks aside; when the packet completes, its bytes are
 * joined once and decoded. Limits: `maxPacketSize` bytes per packet and
 * {@link MAX_DEPTH} levels of nesting; anything malformed is a `ProtocolError`.
 */
import { ProtocolError } from "../errors.ts";

/** Deepest nesting of arrays and maps read or written (a cycle hits it when writing). */
export const MAX_DEPTH = 512;

const TWO_32 = 2 ** 32;

// ---- encoding ---------------------------------------------------------------------------

let out = Buffer.allocUnsafe(8192);
let at = 0;

function room(n: number): void {
  if (at + n <= out.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, at + n));
  out.copy(bigger, 0, 0, at);
  out = bigger;
}

/** A major type and argument, in the shortest form. */
function head(major: number, n: number): void {
  room(9);
  const m = major << 5;
  if (n < 24) out[at++] = m | n;
  else if (n < 0x100) {
    out[at++] = m | 24;
    out[at++] = n;
  } else if (n < 0x10000) {
    out[at++] = m | 25;
    out.writeUInt16BE(n, at);
    at += 2;
  } else if (n < TWO_32) {
    out[at++] = m | 26;
    out.writeUInt32BE(n, at);
    at += 4;
  } else {
    out[at++] = m | 27;
    out.writeUInt32BE(Math.floor(n / TWO_32), at);
    out.writeUInt32BE(n % TWO_32, at + 4);
    at += 8;
  }
}

function text(s: string): void {
  const n = s.length;
  // Short ASCII strings (most tags and names) are copied by hand: cheaper than two
  // native calls (byte length, then write).
  if (n < 24) {
    room(1 + n);
    const start = at + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      out[start + i] = c;
    }
    if (i === n) {
      out[at] = 0x60 | n;
      at = start + n;
      return;
    }
  }
  const bytes = Buffer.byteLength(s, "utf8");
  head(3, bytes);
  room(bytes);
  at += out.write(s, at, "utf8");
}

function bytes(b: Uint8Array): void {
  head(2, b.byteLength);
  room(b.byteLength);
  out.set(b, at);
  at += b.byteLength;
}

function number(v: number): void {
  if (Number.isInteger(v) && !Object.is(v, -0)) {
    if (v >= 0 && v < 2 ** 64) return head(0, v);
    if (v < 0 && v > -(2 ** 64)) return head(1, -1 - v);
  }
  room(9);
  if (Math.fround(v) === v || v !== v) {
    out[at++] = 0xfa;
    out.writeFloatBE(v, at);
    at += 4;
  } else {
    out[at++] = 0xfb;
    out.writeDoubleBE(v, at);
    at += 8;
  }
}

function bigint(v: bigint): void {
  const negative = v < 0n;
  const n = negative ? -1n - v : v;
  if (n <= BigInt(Number.MAX_SAFE_INTEGER)) return head(negative ? 1 : 0, Number(n));
  if (n < 2n ** 64n) {
    room(9);
    out[at++] = (negative ? 0x20 : 0) | 27;
    out.writeBigUInt64BE(n, at);
    at += 8;
    return;
  }
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  head(6, negative ? 3 : 2);
  bytes(Buffer.from(hex, "hex"));
}

function item(v: unknown, depth: number): void {
  switch (typeof v) {
    case "string":
      return text(v);
    case "number":
      return number(v);
    case "boolean":
      room(1);
      out[at++] = v ? 0xf5 : 0xf4;
      return;
    case "undefined":
      // As null: CBOR::XS reads CBOR's undefined as an error object, not as undef.
      room(1);
      out[at++] = 0xf6;
      return;
    case "bigint":
      return bigint(v);
    case "object":
      if (v === null) {
        room(1);
        out[at++] = 0xf6;
        return;
      }
      return container(v, depth);
    default:
      throw new TypeError(`a ${typeof v} cannot be encoded in CBOR`);
  }
}

function container(v: object, depth: number): void {
  if (depth >= MAX_DEPTH) throw new TypeError(`nested more than ${MAX_DEPTH} levels deep (or a cycle)`);
  const d = depth + 1;
  if (Array.isArray(v)) {
    head(4, v.length);
    for (let i = 0; i < v.length; i++) item(v[i], d);
    return;
  }
  if (v instanceof Uint8Array) return bytes(v);
  if (ArrayBuffer.isView(v)) return bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  if (v instanceof ArrayBuffer) return bytes(new Uint8Array(v));
  if (v instanceof Map) {
    head(5, v.size);
    for (const [key, value] of v) {
      item(key, d);
      item(value, d);
    }
    return;
  }
  if (v instanceof Set) {
    head(4, v.size);
    for (const value of v) item(value, d);
    return;
  }
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return item(toJSON.call(v), d);
  const keys = Object.keys(v);
  head(5, keys.length);
  for (const key of keys) {
    text(key);
    item((v as Record<string, unknown>)[key], d);
  }
}

/** The CBOR encoding of `value` (see the module comment). Throws a TypeError for what CBOR cannot carry. */
export function encodeCbor(value: unknown): Buffer {
  at = 0;
  try {
    item(value, 0);
  } catch (err) {
    if (out.length > 1 << 20) out = Buffer.allocUnsafe(8192); // do not keep a huge buffer for a failure
    throw err;
  }
  const result = Buffer.allocUnsafe(at);
  out.copy(result, 0, 0, at);
  if (out.length > 1 << 20) out = Buffer.allocUnsafe(8192);
  return result;
}

// ---- decoding one complete item -----------------------------------------------------------

/** Thrown (never escaping this module) when an item runs past the end of the input. */
const INCOMPLETE = Symbol("incomplete");
const BREAK = Symbol("break");

function bad(message: string): ProtocolError {
  return new ProtocolError("ERR_BAD_FRAME", `invalid CBOR framing: ${message}`);
}

class Reader {
  src: Buffer;
  pos: number;
  constructor(src: Buffer, pos: number) {
    this.src = src;
    this.pos = pos;
  }

  need(n: number): number {
    const p = this.pos;
    if (p + n > this.src.length) throw INCOMPLETE;
    this.pos = p + n;
    return p;
  }

  /** The argument of a header whose additional info is `ai` (< 28). */
  arg(ai: number): number {
    if (ai < 24) return ai;
    const src = this.src;
    switch (ai) {
      case 24:
        return src[this.need(1)];
      case 25:
        return src.readUInt16BE(this.need(2));
      case 26:
        return src.readUInt32BE(this.need(4));
      default: {
        const p = this.need(8);
        return src.readUInt32BE(p) * TWO_32 + src.readUInt32BE(p + 4);
      }
    }
  }

  value(depth: number): unknown {
    const src = this.src;
    const b = src[this.need(1)];
    const major = b >> 5;
    const ai = b & 31;
    if (ai >= 28) {
      if (ai === 31) return this.indefinite(major, depth);
      throw bad(`reserved additional information ${ai}`);
    }
    switch (major) {
      case 0:
        return this.integer(ai, false);
      case 1:
        return this.integer(ai, true);
      case 2: {
        const n = this.arg(ai);
        const p = this.need(n);
        return src.toString("latin1", p, p + n);
      }
      case 3: {
        const n = this.arg(ai);
        const p = this.need(n);
        return src.toString("utf8", p, p + n);
      }
      case 4: {
        if (depth >= MAX_DEPTH) throw bad(`nested more than ${MAX_DEPTH} levels deep`);
        const n = this.arg(ai);
        const a: unknown[] = [];
        for (let i = 0; i < n; i++) a.push(this.value(depth + 1));
        return a;
      }
      case 5: {
        if (depth >= MAX_DEPTH) throw bad(`nested more than ${MAX_DEPTH} levels deep`);
        const n = this.arg(ai);
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) setKey(o, this.value(depth + 1), this.value(depth + 1));
        return o;
      }
      case 6:
        return this.tagged(this.arg(ai), depth);
      default:
        return this.simple(ai);
    }
  }

  integer(ai: number, negative: boolean): number | bigint {
    if (ai === 27) {
      const p = this.need(8);
      const big = this.src.readBigUInt64BE(p);
      if (big <= BigInt(Number.MAX_SAFE_INTEGER)) {
        const n = Number(big);
        return negative ? -1 - n : n;
      }
      return negative ? -1n - big : big;
    }
    const n = this.arg(ai);
    return negative ? -1 - n : n;
  }

  simple(ai: number): unknown {
    const src = this.src;
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 25:
        return half(src.readUInt16BE(this.need(2)));
      case 26:
        return src.readFloatBE(this.need(4));
      case 27:
        return src.readDoubleBE(this.need(8));
      case 24:
        this.need(1);
        return undefined;
      default:
        return undefined; // 23 (undefined) and unassigned simple values
    }
  }

  tagged(tag: number, depth: number): unknown {
    if (tag === 2 || tag === 3) {
      // A bignum: the content is a byte string, read as bytes here.
      const b = this.src[this.need(1)];
      if (b >> 5 !== 2 || (b & 31) >= 28) throw bad(`tag ${tag} must hold a definite byte string`);
      const n = this.arg(b & 31);
      const p = this.need(n);
      const magnitude = n === 0 ? 0n : BigInt(`0x${this.src.toString("hex", p, p + n)}`);
      return tag === 2 ? magnitude : -1n - magnitude;
    }
    return this.value(depth);
  }

  indefinite(major: number, depth: number): unknown {
    switch (major) {
      case 2:
      case 3: {
        let s = "";
        for (;;) {
          const b = this.src[this.need(1)];
          if (b === 0xff) return s;
          if (b >> 5 !== major || (b & 31) >= 28) throw bad("a chunk of an indefinite-length string must be a definite string of the same type");
          const n = this.arg(b & 31);
          const p = this.need(n);
          s += major === 2 ? this.src.toString("latin1", p, p + n) : this.src.toString("utf8", p, p + n);
        }
      }
      case 4: {
        if (depth >= MAX_DEPTH) throw bad(`nested more than ${MAX_DEPTH} levels deep`);
        const a: unknown[] = [];
        for (;;) {
          const v = this.element(depth + 1);
          if (v === BREAK) return a;
          a.push(v);
        }
      }
      case 5: {
        if (depth >= MAX_DEPTH) throw bad(`nested more than ${MAX_DEPTH} levels deep`);
        const o: Record<string, unknown> = {};
        for (;;) {
          const key = this.element(depth + 1);
          if (key === BREAK) return o;
          setKey(o, key, this.value(depth + 1));
        }
      }
      case 7:
        throw bad("unexpected break");
      default:
        throw bad(`major type ${major} cannot have an indefinite length`);
    }
  }

  /** An element of an indefinite container, or BREAK at its end. */
  element(depth: number): unknown {
    if (this.src[this.need(1)] === 0xff) return BREAK;
    this.pos--;
    return this.value(depth);
  }
}

/** Map keys become string keys (Perl's hash keys are strings); `__proto__` stays an own key, as JSON.parse keeps it. */
function setKey(o: Record<string, unknown>, key: unknown, value: unknown): void {
  const k = typeof key === "string" ? key : String(key);
  if (k === "__proto__") Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
  else o[k] = value;
}

/** An IEEE 754 half-precision float. */
function half(h: number): number {
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

/** Decodes the one CBOR item in `bytes` (for specs and tools; packets go through `CborDecoder`). */
export function decodeCbor(bytes: Uint8Array): unknown {
  const src = asBuffer(bytes);
  const r = new Reader(src, 0);
  let v: unknown;
  try {
    v = r.value(0);
  } catch (err) {
    if (err === INCOMPLETE) throw bad("truncated item");
    throw err;
  }
  if (r.pos !== src.length) throw bad(`${src.length - r.pos} bytes after the item`);
  return v;
}

// ---- finding where a packet ends, across chunks -------------------------------------------

/**
 * Follows the structure of one item through any number of chunks: `feed` returns the
 * offset just past the item's end in that chunk, or -1 if it goes on. Strings'
 * payloads are skipped, not looked at; only headers are read, byte by byte.
 */
class Scanner {
  /** Items still to come in each open container (-1: indefinite, until a break). */
  private open: number[] = [];
  /** Payload bytes still to skip. */
  private skip = 0;
  /** Argument bytes still to read, and the argument so far. */
  private argBytes = 0;
  private arg = 0;
  private major = 0;
  /** Whether the packet's first byte has been seen (it must start an array). */
  private started = false;
  constructor(private readonly maxItems: number) {}

  feed(buf: Buffer, start: number): number {
    let i = start;
    const end = buf.length;
    while (i < end) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, end - i);
        i += n;
        this.skip -= n;
        if (this.skip > 0) return -1;
        if (this.itemDone()) return i;
        continue;
      }
      if (this.argBytes > 0) {
        this.arg = this.arg * 256 + buf[i++];
        if (--this.argBytes === 0 && this.headerDone()) return i;
        continue;
      }
      const b = buf[i++];
      this.major = b >> 5;
      const ai = b & 31;
      if (!this.started) {
        this.started = true;
        if (this.major !== 4) throw notAPacket(b);
      }
      if (ai < 24) {
        this.arg = ai;
        if (this.headerDone()) return i;
      } else if (ai < 28) {
        this.argBytes = 1 << (ai - 24);
        this.arg = 0;
      } else if (ai === 31) {
        if (this.major === 7) {
          if (this.open.length === 0 || this.open[this.open.length - 1] !== -1) throw bad("unexpected break");
          this.open.pop();
          if (this.itemDone()) return i;
        } else if (this.major === 0 || this.major === 1 || this.major === 6) {
          throw bad(`major type ${this.major} cannot have an indefinite length`);
        } else this.push(-1);
      } else throw bad(`reserved additional information ${ai}`);
    }
    return -1;
  }

  private push(items: number): void {
    if (this.open.length >= MAX_DEPTH) throw bad(`nested more than ${MAX_DEPTH} levels deep`);
    this.open.push(items);
  }

  /** A header is complete; true when that completed the top-level item. */
  private headerDone(): boolean {
    const n = this.arg;
    switch (this.major) {
      case 2:
      case 3:
        if (n > this.maxItems) throw tooLarge(this.maxItems);
        this.skip = n;
        return n === 0 && this.itemDone();
      case 4:
      case 5: {
        const items = this.major === 4 ? n : n * 2;
        if (items > this.maxItems) throw tooLarge(this.maxItems);
        if (items === 0) return this.itemDone();
        this.push(items);
        return false;
      }
      case 6:
        return false; // a tag: its content is the item
      default:
        return this.itemDone();
    }
  }

  /** An item ended: count it in its container, closing those that are full. */
  private itemDone(): boolean {
    const open = this.open;
    while (open.length > 0) {
      const top = open.length - 1;
      if (open[top] === -1) return false;
      if (--open[top] > 0) return false;
      open.pop();
    }
    return true;
  }
}

function notAPacket(b: number): ProtocolError {
  return new ProtocolError("ERR_NOT_A_PACKET", `packet must be a CBOR array, got major type ${b >> 5} (byte 0x${b.toString(16).padStart(2, "0")})`);
}

function tooLarge(max: number): ProtocolError {
  return new ProtocolError("ERR_PACKET_TOO_LARGE", `packet too large: more than ${max} bytes (maxPacketSize)`);
}

/** Receives each decoded packet, in stream order. */
export interface CborSink {
  push(packet: unknown[]): void;
}

/**
 * Splits a byte stream of back-to-back CBOR arrays into packets. Throws a
 * `ProtocolError` on bad input; after any throw (the sink's too) every later call
 * throws the same error. Chunks are referenced, not copied, while a packet is
 * incomplete: do not modify a chunk after writing it.
 */
export class CborDecoder {
  readonly #sink: CborSink;
  readonly #maxPacketSize: number;
  #scanner: Scanner | null = null;
  #pieces: Buffer[] = [];
  #piecesLength = 0;
  #failure: unknown = undefined;
  #failed = false;

  constructor(sink: CborSink, maxPacketSize: number) {
    this.#sink = sink;
    this.#maxPacketSize = maxPacketSize;
  }

  /** Bytes held for a packet that has not completed yet (0 between packets). */
  get pendingBytes(): number {
    return this.#piecesLength;
  }

  write(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failure;
    try {
      this.#write(asBuffer(chunk));
    } catch (err) {
      this.#failed = true;
      this.#failure = err;
      this.#pieces = [];
      this.#piecesLength = 0;
      this.#scanner = null;
      throw err;
    }
  }

  #write(buf: Buffer): void {
    let pos = 0;
    if (this.#scanner !== null) {
      const end = this.#scanner.feed(buf, 0);
      if (end < 0) return this.#keep(buf, 0);
      this.#pieces.push(buf.subarray(0, end));
      const whole = Buffer.concat(this.#pieces, this.#piecesLength + end);
      this.#pieces = [];
      this.#piecesLength = 0;
      this.#scanner = null;
      this.#check(whole.length);
      this.#sink.push(decodeWhole(whole));
      pos = end;
    }
    const max = this.#maxPacketSize;
    const reader = new Reader(buf, pos);
    while (pos < buf.length) {
      const first = buf[pos];
      if (first >> 5 !== 4) throw notAPacket(first);
      let packet: unknown;
      try {
        packet = reader.value(0);
      } catch (err) {
        if (err !== INCOMPLETE) throw err;
        // The rest of this chunk starts a packet that goes on: follow it from here.
        const scanner = new Scanner(max);
        if (scanner.feed(buf, pos) >= 0) throw bad("inconsistent item"); // cannot be: the reader saw it end early
        this.#scanner = scanner;
        return this.#keep(buf, pos);
      }
      if (reader.pos - pos > max) throw tooLarge(max);
      pos = reader.pos;
      this.#sink.push(packet as unknown[]);
    }
  }

  #keep(buf: Buffer, start: number): void {
    this.#piecesLength += buf.length - start;
    this.#check(this.#piecesLength);
    this.#pieces.push(start === 0 ? buf : buf.subarray(start));
  }

  #check(size: number): void {
    if (size > this.#maxPacketSize) throw tooLarge(this.#maxPacketSize);
  }
}

function decodeWhole(bytes: Buffer): unknown[] {
  const r = new Reader(bytes, 0);
  try {
    const v = r.value(0);
    if (r.pos === bytes.length) return v as unknown[];
  } catch (err) {
    if (err !== INCOMPLETE) throw err;
  }
  throw bad("inconsistent item");
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
