/**
 * Splits a byte stream of back-to-back JSON values into values.
 *
 * Perl's `json` framing puts nothing between packets: no newline, no length. The only
 * way to find where one packet ends is to follow the JSON structure, so this module
 * tracks bracket depth and string state byte by byte and hands each complete
 * top-level value to `JSON.parse`.
 *
 * Why it is built the way it is:
 * - It scans bytes, not characters. Every byte of a multi-byte UTF-8 sequence is
 *   >= 0x80, so it can never be mistaken for a quote, backslash or bracket; a character
 *   cut across two chunks needs no special care, and text is decoded only once per
 *   value, on a complete slice.
 * - String contents, most of the bytes of a large message, are skipped natively: the
 *   closing quote is found with `indexOf` (memchr), then the backslashes right before
 *   it are counted; an odd run means the quote is escaped and the search goes on. Only
 *   the structure between strings is walked byte by byte in JavaScript.
 * - The scan state (depth, inside a string, after a backslash) survives between
 *   `write` calls, so a value cut across chunks is never scanned twice: the earlier
 *   pieces are kept aside and joined once when the value completes.
 * - Only containers may start a value: packets are arrays (or, for our own superjson
 *   framing, objects). Accepting scalars would make `12` followed by `3` ambiguous,
 *   since nothing separates values.
 * - Brackets of both kinds share one depth counter. A mismatched pair such as `[1}`
 *   still ends the value and `JSON.parse` rejects it, which is cheaper than a stack.
 * - The first failure is final. Any protocol error leaves the position in the stream
 *   unknown, so the splitter refuses further input and the caller drops the link.
 *
 * Chunks are referenced, not copied, while a value is incomplete: do not modify a
 * chunk after writing it (Node's socket chunks are never reused, so this holds for
 * `data` events).
 */
import { isAscii } from "node:buffer";
import { ProtocolError, argumentError } from "../errors.ts";

/** Receives each decoded value, in stream order. */
export interface ValueSink {
  push(value: unknown): void;
}

/** 64 MiB: the default for {@link JsonSplitterOptions.maxPacketSize}. */
export const DEFAULT_MAX_PACKET_SIZE = 64 * 1024 * 1024;

export interface JsonSplitterOptions {
  /**
   * Largest value accepted, in bytes of its encoding (from the opening bracket to the
   * closing one, inclusive). Crossing it fails with `ERR_PACKET_TOO_LARGE`.
   * Default {@link DEFAULT_MAX_PACKET_SIZE} (64 MiB).
   */
  maxPacketSize?: number;
  /**
   * Which container a top-level value must be: `"array"` (default, AEMP packets) or
   * `"object"` (our superjson framing). Anything else fails with `ERR_NOT_A_PACKET`.
   */
  topLevel?: "array" | "object";
  /**
   * Turns one value's text into what the sink gets (default `JSON.parse`). A framing
   * that wraps packets can unwrap them here, at the text level. Whatever it throws
   * becomes `ERR_BAD_FRAME` unless it is already a ProtocolError.
   */
  parse?: (text: string) => unknown;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Incremental splitter for undelimited JSON values.
 *
 * @example
 * const splitter = new JsonSplitter({ push: (packet) => console.log(packet) });
 * splitter.write(Buffer.from('["a",1]["b'));
 * splitter.write(Buffer.from('",2]')); // logs ["a",1] then ["b",2]
 */
export class JsonSplitter {
  readonly #sink: ValueSink;
  readonly #maxPacketSize: number;
  readonly #opener: number;
  /** Pieces of the current value that arrived in earlier chunks. */
  #pieces: Buffer[] = [];
  #piecesLength = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;
  #failure: unknown = undefined;
  readonly #parse: (text: string) => unknown;
  /**
   * The current chunk as a string when it is all ASCII, false when it is not, null until
   * a value that starts in the chunk needs it (a chunk inside a large value never does).
   */
  #text: string | false | null = null;
  #hasFailed = false;

  constructor(sink: ValueSink, options: JsonSplitterOptions = {}) {
    this.#sink = sink;
    this.#parse = options.parse ?? JSON.parse;
    this.#maxPacketSize = checkMaxPacketSize("JsonSplitter", options.maxPacketSize);
    this.#opener = options.topLevel === "object" ? OPEN_OBJECT : OPEN_ARRAY;
  }

  /** Bytes held for a value that has not completed yet (0 between values). */
  get pendingBytes(): number {
    return this.#piecesLength;
  }

  /**
   * Scans `chunk`, pushing every value it completes to the sink before returning.
   * Throws a {@link ProtocolError} on bad input; after any throw (including one from
   * the sink) every later call throws the same error.
   */
  write(chunk: Uint8Array): void {
    if (this.#hasFailed) throw this.#failure;
    try {
      this.#scan(asBuffer(chunk));
    } catch (err) {
      this.#hasFailed = true;
      this.#failure = err;
      this.#pieces = [];
      this.#piecesLength = 0;
      throw err;
    }
  }

  #scan(buf: Buffer): void {
    // Most traffic is ASCII: then the chunk is decoded once and each value is a slice
    // of that string, instead of one native decode call per value (see #emit).
    this.#text = null;
    const length = buf.length;
    const opener = this.#opener;
    let depth = this.#depth;
    let inString = this.#inString;
    let escaped = this.#escaped;
    let start = 0;
    for (let i = 0; i < length; i++) {
      if (inString) {
        // A backslash that ended the previous chunk escapes this chunk's first byte.
        if (escaped) {
          escaped = false;
          continue;
        }
        const close = closingQuote(buf, i, length);
        if (close < 0) {
          escaped = oddBackslashesBefore(buf, length, i);
          break;
        }
        inString = false;
        i = close;
        continue;
      }
      const byte = buf[i]!;
      if (depth === 0) {
        if (byte === opener) {
          depth = 1;
          start = i;
        } else if (!isWhitespace(byte)) {
          throw unexpectedTopLevel(byte, opener);
        }
      } else if (byte === QUOTE) {
        inString = true;
      } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
        depth++;
      } else if ((byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) && --depth === 0) {
        this.#emit(buf, start, i + 1);
      }
    }
    this.#depth = depth;
    this.#inString = inString;
    this.#escaped = escaped;
    // `start` is 0 when the open value began in an earlier chunk.
    if (depth > 0) this.#keepPiece(buf, start);
  }

  #keepPiece(buf: Buffer, start: number): void {
    this.#piecesLength += buf.length - start;
    this.#checkSize(this.#piecesLength);
    this.#pieces.push(start === 0 ? buf : buf.subarray(start));
  }

  #emit(buf: Buffer, start: number, end: number): void {
    let text: string;
    if (this.#piecesLength === 0) {
      this.#checkSize(end - start);
      const chunk = this.#text ?? (this.#text = isAscii(buf) && buf.toString("latin1"));
      text = chunk !== false ? chunk.slice(start, end) : buf.toString("utf8", start, end);
    } else {
      this.#checkSize(this.#piecesLength + end);
      this.#pieces.push(buf.subarray(0, end));
      text = Buffer.concat(this.#pieces).toString("utf8");
      this.#pieces = [];
      this.#piecesLength = 0;
    }
    this.#sink.push(parseValue(text, this.#parse));
  }

  #checkSize(size: number): void {
    if (size > this.#maxPacketSize) {
      throw new ProtocolError(
        "ERR_PACKET_TOO_LARGE",
        `packet too large: more than ${this.#maxPacketSize} bytes (maxPacketSize)`,
      );
    }
  }
}

/** Validates a `maxPacketSize` option for `fn`, applying the default. */
export function checkMaxPacketSize(fn: string, size: number | undefined): number {
  if (size === undefined) return DEFAULT_MAX_PACKET_SIZE;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw argumentError(fn, "options.maxPacketSize", "a positive integer (bytes)", size);
  }
  return size;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Bytes of a string walked in JavaScript before the search goes native (see closingQuote). */
const NEAR = 24;

/**
 * The index of the quote that ends the string whose contents continue at `from`, or -1
 * if this chunk does not hold it. Bytes before `from` are never backslashes that
 * count: `from` follows the opening quote, an escaped quote, or an escape that
 * ended the previous chunk. Short strings (tags, port names) end within a few bytes,
 * which a plain loop finds faster than a native call.
 */
function closingQuote(buf: Buffer, from: number, length: number): number {
  const near = Math.min(length, from + NEAR);
  let k = from;
  for (; k < near; k++) {
    const byte = buf[k];
    if (byte === QUOTE) return k;
    if (byte === BACKSLASH) k++;
  }
  // From k on nothing is resolved yet (k is past an escape pair that straddled `near`).
  for (let q = k < length ? buf.indexOf(QUOTE, k) : -1; q >= 0; q = buf.indexOf(QUOTE, q + 1)) {
    if (!oddBackslashesBefore(buf, q, k)) return q;
  }
  return -1;
}

/** Whether an odd number of backslashes ends `buf[from..end)`, i.e. `buf[end]` is escaped. */
function oddBackslashesBefore(buf: Buffer, end: number, from: number): boolean {
  let k = end;
  while (k > from && buf[k - 1] === BACKSLASH) k--;
  return ((end - k) & 1) === 1;
}

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function parseValue(text: string, parse: (text: string) => unknown): unknown {
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError("ERR_BAD_FRAME", `invalid JSON in packet: ${(err as Error).message}`, { cause: err });
  }
}

/** Scalars and the wrong container are well-formed JSON but not packets; anything else is noise. */
function unexpectedTopLevel(byte: number, opener: number): ProtocolError {
  const expected = opener === OPEN_ARRAY ? "an array" : "an object";
  const startsJson = byte === QUOTE || byte === OPEN_ARRAY || byte === OPEN_OBJECT || byte === 0x2d
    || (byte >= 0x30 && byte <= 0x39) || byte === 0x74 || byte === 0x66 || byte === 0x6e;
  if (startsJson) {
    return new ProtocolError("ERR_NOT_A_PACKET", `packet must be ${expected}, got a value starting with '${String.fromCharCode(byte)}'`);
  }
  const shown = byte >= 0x21 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `0x${byte.toString(16).padStart(2, "0")}`;
  return new ProtocolError("ERR_BAD_FRAME", `invalid JSON framing: unexpected byte ${shown} between packets`);
}
