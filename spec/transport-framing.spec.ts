import { test } from "uvu";
import * as assert from "uvu/assert";
import SuperJSON, { type SuperJSONValue } from "superjson";
import { ProtocolError } from "../lib/errors.ts";
import {
  DEFAULT_MAX_PACKET_SIZE,
  FRAMINGS_WE_READ,
  FRAMINGS_WE_WRITE,
  createDecoder,
  encodePacket,
  isFramingName,
  type DecoderOptions,
  type Encoded,
  type FramingName,
  type Packet,
} from "../lib/transport/framing.ts";

/** Perl's bytes for a few packets (vectors/aemp2.json, `packets`): our json encoder must match them exactly. */
const PERL_JSON: { json: string; value: unknown[] }[] = [
  { json: '["b","test",1795356799]', value: ["b", "test", 1795356799] },
  { json: '["b","echo","me#a1","hello",42,[1,2],{"k":"v"},null]', value: ["b", "echo", "me#a1", "hello", 42, [1, 2], { k: "v" }, null] },
  { json: '["b","s\u00e4tt\u263a",1.5,-3,"12"]', value: ["b", "s\u00e4tt\u263a", 1.5, -3, "12"] },
  { json: '["","devnull"]', value: ["", "devnull"] },
  { json: '["","kil1","b","custom","reason"]', value: ["", "kil1", "b", "custom", "reason"] },
  { json: '["","AnyEvent::MP::_spawn","TmuXIFNQLZb","Interop::Target::init","me#a1"]', value: ["", "AnyEvent::MP::_spawn", "TmuXIFNQLZb", "Interop::Target::init", "me#a1"] },
];

const PLAIN: Packet[] = [
  ["portname", "tag", 123, "some text"],
  ["b", "[{\"}]", "\\", 'q"', "é€😀", [1, [2, { k: null }]], "12", 12],
  [],
];

const RICH: Packet[] = [
  ["b", new Date(Date.UTC(2024, 1, 29, 12, 30)), 10n ** 30n, undefined, "after undefined"],
  ["b", new Map<unknown, unknown>([["k", 1], [2, new Set(["x", "]"])]]), new Set([1, 2, 3])],
  ["b", { nested: { at: new Date(0), big: -5n, gone: undefined } }, [undefined, null]],
  ["b", NaN, Infinity, -Infinity, "é€😀 [brackets] {braces} \"quotes\" \\"],
];

function decodeChunks(name: FramingName, chunks: Uint8Array[], options?: DecoderOptions): Packet[] {
  const packets: Packet[] = [];
  const decoder = createDecoder(name, { push: (p) => packets.push(p) }, options);
  for (const chunk of chunks) decoder.write(chunk);
  assert.is(decoder.pendingBytes, 0);
  return packets;
}

function encodeAll(name: FramingName, packets: Packet[]): Buffer {
  return Buffer.from(packets.map((p) => encodePacket(name, p)).join(""), "utf8");
}

/** The bytes an encoded packet puts on the wire. */
function wire(data: Encoded): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  return Array.isArray(data) ? Buffer.concat(data) : data;
}

function byteAtATime(bytes: Buffer): Buffer[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

function protocolError(fn: () => void, code: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ProtocolError);
    assert.is((err as ProtocolError).code, code, (err as Error).message);
    return;
  }
  assert.unreachable(`expected a ProtocolError ${code}`);
}

test("names - superjson-bin is preferred, then superjson, then cbor (Perl's first choice), json always there", () => {
  assert.equal([...FRAMINGS_WE_READ], ["superjson-bin", "superjson", "cbor", "json"]);
  assert.equal([...FRAMINGS_WE_WRITE], ["superjson-bin", "superjson", "cbor", "json"]);
  assert.ok(isFramingName("superjson-bin"));
  assert.ok(isFramingName("json"));
  assert.ok(isFramingName("superjson"));
  assert.ok(isFramingName("cbor"));
  assert.not.ok(isFramingName("storable"));
});

test("names - an unknown framing is an argument error", () => {
  assert.throws(() => createDecoder("storable", { push() {} }), (e: unknown) => e instanceof TypeError && /createDecoder: 'name'/.test(e.message));
  assert.throws(() => encodePacket("storable", ["a"]), (e: unknown) => e instanceof TypeError && /encodePacket: 'name'/.test(e.message));
});

test("options - maxPacketSize must be a positive integer", () => {
  for (const bad of [0, -1, 1.5, NaN]) {
    assert.throws(() => createDecoder("json", { push() {} }, { maxPacketSize: bad }), TypeError);
  }
  assert.is(DEFAULT_MAX_PACKET_SIZE, 64 * 1024 * 1024);
});

test("json - encodes exactly the bytes Perl sends", () => {
  for (const { json, value } of PERL_JSON) assert.is(encodePacket("json", value), json);
});

test("json - decodes Perl's packets, whole and byte by byte", () => {
  const all = Buffer.from(PERL_JSON.map((v) => v.json).join(""), "utf8");
  const expected = PERL_JSON.map((v) => v.value);
  assert.equal(decodeChunks("json", [all]), expected);
  assert.equal(decodeChunks("json", byteAtATime(all)), expected);
});

test("json - round trip split at every position", () => {
  const bytes = encodeAll("json", PLAIN);
  for (let i = 0; i <= bytes.length; i++) {
    assert.equal(decodeChunks("json", [bytes.subarray(0, i), bytes.subarray(i)]), PLAIN, `split at ${i}`);
  }
});

test("json - rich values degrade as JSON.stringify degrades them", () => {
  const date = new Date(0);
  const [packet] = decodeChunks("json", [wire(encodePacket("json", ["b", date, undefined, new Map([[1, 2]])]))]);
  assert.equal(packet, ["b", date.toISOString(), null, {}]);
});

test("json - a BigInt cannot be encoded", () => {
  assert.throws(
    () => encodePacket("json", ["b", 1n]),
    (e: unknown) => e instanceof TypeError && /cannot be encoded in json framing/.test(e.message),
  );
});

test("json - a packet must be an array", () => {
  assert.throws(() => encodePacket("json", "x" as unknown as unknown[]), TypeError);
  protocolError(() => decodeChunks("json", [Buffer.from('{"json":[]}')]), "ERR_NOT_A_PACKET");
});

test("json - oversize and garbage fail with stable codes", () => {
  protocolError(() => decodeChunks("json", [encodeAll("json", [["b", "x".repeat(100)]])], { maxPacketSize: 50 }), "ERR_PACKET_TOO_LARGE");
  protocolError(() => decodeChunks("json", [Buffer.from("GET / HTTP/1.1\r\n")]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("json", [Buffer.from('["a",]')]), "ERR_BAD_FRAME");
});

test("superjson - rich values survive", () => {
  const packets = decodeChunks("superjson", [encodeAll("superjson", RICH)]);
  assert.is(packets.length, RICH.length);
  const [first, second, third, fourth] = packets as [Packet, Packet, Packet, Packet];
  assert.instance(first[1], Date);
  assert.is((first[1] as Date).getTime(), Date.UTC(2024, 1, 29, 12, 30));
  assert.is(first[2], 10n ** 30n);
  assert.is(first.length, 5);
  assert.ok(3 in first && first[3] === undefined);
  assert.instance(second[1], Map);
  assert.instance((second[1] as Map<unknown, unknown>).get(2), Set);
  assert.equal([...(second[2] as Set<number>)], [1, 2, 3]);
  const nested = (third[1] as { nested: { at: Date; big: bigint; gone?: undefined } }).nested;
  assert.instance(nested.at, Date);
  assert.is(nested.big, -5n);
  assert.ok("gone" in nested);
  assert.equal(third[2], [undefined, null]);
  assert.ok(Number.isNaN(fourth[1]));
  assert.equal(fourth.slice(2), [Infinity, -Infinity, "é€😀 [brackets] {braces} \"quotes\" \\"]);
});

test("superjson - round trip one byte at a time and split at every position", () => {
  const bytes = encodeAll("superjson", RICH);
  const expected = decodeChunks("superjson", [bytes]);
  assert.equal(decodeChunks("superjson", byteAtATime(bytes)), expected);
  for (let i = 0; i <= bytes.length; i++) {
    assert.equal(decodeChunks("superjson", [bytes.subarray(0, i), bytes.subarray(i)]), expected, `split at ${i}`);
  }
});

test("superjson - plain packets round trip too and carry no meta", () => {
  assert.is(encodePacket("superjson", ["a", 1]), '{"json":["a",1]}');
  assert.equal(decodeChunks("superjson", byteAtATime(encodeAll("superjson", PLAIN))), PLAIN);
});

test("superjson - a value split across many chunks", () => {
  const packet: Packet = ["b", new Date(5), "€".repeat(500), new Set(["😀"])];
  const bytes = encodeAll("superjson", [packet]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 5) chunks.push(bytes.subarray(i, i + 5));
  assert.ok(chunks.length >= 3);
  assert.equal(decodeChunks("superjson", chunks), [packet]);
});

test("superjson - malformed envelopes are protocol errors", () => {
  protocolError(() => decodeChunks("superjson", [Buffer.from('["a"]')]), "ERR_NOT_A_PACKET");
  protocolError(() => decodeChunks("superjson", [Buffer.from('{"json":5}')]), "ERR_NOT_A_PACKET");
  protocolError(() => decodeChunks("superjson", [Buffer.from('{"other":[]}')]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson", [Buffer.from('{"json":[],}')]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson", [Buffer.from("hello")]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson", [Buffer.from('{"json":["a"],"meta":{"values":{"1":["bogus"]}}}')]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson", [Buffer.from('{"json":["a"],"meta":{"values":{"0":[["class","Unknown"]]}}}')]), "ERR_BAD_FRAME");
});

test("superjson - the packet size limit applies to the envelope", () => {
  const bytes = encodeAll("superjson", [["b", "x".repeat(100)]]);
  protocolError(() => decodeChunks("superjson", [bytes], { maxPacketSize: bytes.length - 1 }), "ERR_PACKET_TOO_LARGE");
  assert.is(decodeChunks("superjson", [bytes], { maxPacketSize: bytes.length }).length, 1);
});

// ---------------------------------------------------------------- superjson-bin

/** Packets with bytes at several depths, with and without other rich values. */
const WITH_BYTES: Packet[] = [
  ["b", new Uint8Array([0, 1, 2, 0x7b, 0x22, 0]), "after"],
  ["b", { nested: [Buffer.from("é\u0000{"), new Date(3)] }, new Uint8Array(0)],
  ["b", "plain in between"],
  ["b", new Map([["k", new Uint8Array(300).fill(0)]]), 10n],
];

/** Encodes packets back to back in superjson-bin (text and frames mixed). */
function encodeBin(packets: Packet[]): Buffer {
  return Buffer.concat(packets.map((p) => wire(encodePacket("superjson-bin", p))));
}

/** Byte arrays compared by contents (received ones are Buffers). */
function normalized(value: unknown): unknown {
  if (value instanceof Uint8Array) return ["bytes", [...value]];
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, normalized(v)]));
  if (Array.isArray(value)) return value.map(normalized);
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalized(v)]));
  }
  return value;
}

test("superjson-bin - a packet without bytes is the superjson text; one with bytes is a frame holding them raw", () => {
  for (const p of [...PLAIN, ...RICH]) assert.is(encodePacket("superjson-bin", p), encodePacket("superjson", p));
  const bytes = new Uint8Array(1000).map((_, i) => i & 0xff);
  const frame = encodePacket("superjson-bin", ["b", bytes]);
  assert.ok(Buffer.isBuffer(frame), "a small blob is copied into one frame");
  assert.is((frame as Buffer)[0], 0);
  assert.ok((frame as Buffer).length < bytes.length + 100, "no base64");
  assert.ok((frame as Buffer).includes(Buffer.from(bytes)), "the bytes as they are");
  // A large blob is written from the array itself, between the frame's other pieces.
  const large = new Uint8Array(2 ** 17).fill(5);
  const pieces = encodePacket("superjson-bin", ["b", new Uint8Array([1]), large, "x"]);
  assert.ok(Array.isArray(pieces));
  assert.ok((pieces as Buffer[]).some((c) => c.buffer === large.buffer && c.length === large.length));
  assert.ok(wire(pieces).length < large.length + 200);
  // The superjson framing still carries them as base64 text.
  assert.is(typeof encodePacket("superjson", ["b", bytes]), "string");
});

test("superjson-bin - bytes, rich values and plain packets round trip, byte at a time and split at every position", () => {
  const packets = [...WITH_BYTES, ...PLAIN, ...RICH.slice(0, 1)];
  const bytes = encodeBin(packets);
  const expected = normalized(decodeChunks("superjson", [encodeAll("superjson", packets)]));
  const whole = decodeChunks("superjson-bin", [bytes]);
  assert.ok(whole[0]![1] instanceof Uint8Array);
  assert.equal(normalized(whole), expected);
  assert.equal(normalized(decodeChunks("superjson-bin", byteAtATime(bytes))), expected);
  for (let i = 0; i <= bytes.length; i++) {
    assert.equal(normalized(decodeChunks("superjson-bin", [bytes.subarray(0, i), bytes.subarray(i)])), expected, `split at ${i}`);
  }
});

test("superjson-bin - a 1 MB byte array across socket-sized chunks", () => {
  const big = new Uint8Array(2 ** 20).map((_, i) => (i * 31) & 0xff);
  const bytes = encodeBin([["b", "before"], ["b", big], ["b", "after"]]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
  const packets = decodeChunks("superjson-bin", chunks);
  assert.equal(packets.map((p) => p[1] instanceof Uint8Array ? "bytes" : p[1]), ["before", "bytes", "after"]);
  assert.ok(Buffer.from(big).equals(packets[1]![1] as Uint8Array));
});

/** A frame by hand: text, then blobs. */
function frameOf(text: string, blobs: Uint8Array[], lie = 0): Buffer {
  const body = Buffer.concat([Buffer.from(text), ...blobs.flatMap((b) => [u32(b.length), Buffer.from(b)])]);
  return Buffer.concat([Buffer.from([0]), u32(4 + body.length + lie), u32(Buffer.byteLength(text)), body]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

test("superjson-bin - malformed frames are protocol errors, and the decoder stays failed", () => {
  const good = '{"json":["b",0],"meta":{"values":{"1":[["custom","aemp:blob"]]}}}';
  assert.equal(normalized(decodeChunks("superjson-bin", [frameOf(good, [new Uint8Array([9])])])), [["b", ["bytes", [9]]]]);
  protocolError(() => decodeChunks("superjson-bin", [frameOf(good, [])]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson-bin", [frameOf(good.replace('["b",0]', '["b",7]'), [new Uint8Array(1)])]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson-bin", [frameOf("{not json", [])]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson-bin", [frameOf('{"json":5}', [])]), "ERR_NOT_A_PACKET");
  const blobPastEnd = frameOf(good, [new Uint8Array([9])]);
  blobPastEnd.writeUInt32BE(99, blobPastEnd.length - 5);
  protocolError(() => decodeChunks("superjson-bin", [blobPastEnd]), "ERR_BAD_FRAME");
  const textPastEnd = frameOf(good, []);
  textPastEnd.writeUInt32BE(9999, 5);
  protocolError(() => decodeChunks("superjson-bin", [textPastEnd]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson-bin", [Buffer.concat([Buffer.from('{"json":["a",'), frameOf(good, [new Uint8Array(1)])])]), "ERR_BAD_FRAME");
  protocolError(() => decodeChunks("superjson-bin", [Buffer.from([0, 0, 0, 0, 2, 1, 1])]), "ERR_BAD_FRAME");
  const huge = Buffer.concat([Buffer.from([0]), u32(2 ** 31)]);
  protocolError(() => decodeChunks("superjson-bin", [huge], { maxPacketSize: 2 ** 20 }), "ERR_PACKET_TOO_LARGE");
  const decoder = createDecoder("superjson-bin", { push: () => {} });
  protocolError(() => decoder.write(frameOf("{not json", [])), "ERR_BAD_FRAME");
  protocolError(() => decoder.write(encodeAll("superjson", PLAIN)), "ERR_BAD_FRAME");
});

test("superjson-bin - the packet size limit applies to the whole frame", () => {
  const frame = encodeBin([["b", new Uint8Array(100)]]);
  protocolError(() => decodeChunks("superjson-bin", [frame], { maxPacketSize: frame.length - 1 }), "ERR_PACKET_TOO_LARGE");
  assert.is(decodeChunks("superjson-bin", [frame], { maxPacketSize: frame.length }).length, 1);
});

test("superjson - the plain-packet shortcut writes exactly what SuperJSON.stringify writes", () => {
  const shared = { s: 1 };
  const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, b: [2] });
  const deep: unknown[] = [];
  let cur = deep;
  for (let i = 0; i < 40; i++) cur.push((cur = []));
  const cases: unknown[][] = [
    ["p", "tag", 1, 2.5, -3, 1e300, "", "s\u00e4tt\u263a \u2028", true, false, null],
    ["p", [1, [2, [3]]], { k: "v", n: { m: [null] } }, nullProto],
    ["p", -0],
    ["p", NaN, Infinity],
    ["p", undefined],
    ["p", { u: undefined }],
    ["p", [1, , 3]],
    ["p", shared, shared],
    ["p", [shared], { again: shared }],
    ["p", new Date(0), new Map([["a", 1]]), new Set([1]), 5n, /re/g],
    ["p", new (class Point { x = 1 })()],
    ["p", JSON.parse('{"__proto__": 1}')],
    ["p", { constructor: 1 }],
    ["p", { prototype: 1 }],
    ["p", deep],
  ];
  for (const packet of cases) {
    let expected: string | Error;
    try {
      expected = SuperJSON.stringify(packet as SuperJSONValue);
    } catch (err) {
      expected = err as Error;
    }
    if (expected instanceof Error) {
      assert.throws(() => encodePacket("superjson", packet), TypeError, `should fail like SuperJSON: ${String(packet[1])}`);
    } else {
      assert.is(encodePacket("superjson", packet), expected);
    }
  }
});

test.run();
