/**
 * lib/transport/cbor.ts: the cbor framing's codec, checked against packets CBOR::XS
 * wrote (spec/vectors/cbor.json) and against hand-built bytes for what Perl never
 * writes (indefinite lengths, half floats, bad input). The same packets through
 * CBOR::XS itself: transport-cbor-perl.spec.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ProtocolError } from "../lib/errors.ts";
import { CborDecoder, MAX_DEPTH, decodeCbor, encodeCbor } from "../lib/transport/cbor.ts";
import { createDecoder, encodePacket } from "../lib/transport/framing.ts";
import { CBOR_VECTORS, asJsonWould, bigints } from "./cbor-helpers.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const bytes = (h: string): Buffer => Buffer.from(h, "hex");

function decodeChunks(chunks: Uint8Array[], maxPacketSize = 64 * 1024 * 1024): unknown[][] {
  const packets: unknown[][] = [];
  const decoder = new CborDecoder({ push: (p) => packets.push(p) }, maxPacketSize);
  for (const c of chunks) decoder.write(c);
  assert.is(decoder.pendingBytes, 0, "nothing held back");
  return packets;
}

function protocolError(fn: () => void, code: string, text?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ProtocolError);
    assert.is((err as ProtocolError).code, code, (err as Error).message);
    if (text) assert.match((err as Error).message, text);
    return;
  }
  assert.unreachable(`expected a ProtocolError ${code}`);
}

test("vectors - a packet CBOR::XS wrote reads as the json framing reads the same Perl value", () => {
  for (const v of CBOR_VECTORS) {
    const packet = decodeCbor(bytes(v.cbor_hex));
    assert.equal(bigints(packet), v.big ?? [], `${v.call}: integers past 2^53 arrive exact, as BigInt`);
    assert.equal(asJsonWould(packet), JSON.parse(v.json), v.call);
  }
});

test("vectors - byte strings (Perl strings without the UTF-8 flag) read one char per byte", () => {
  const byCall = (call: string) => decodeCbor(bytes(CBOR_VECTORS.find((v) => v.call === call)!.cbor_hex));
  assert.equal(byCall("byte strings with high bytes and empty"), ["b", "\u00ff\u0000\u0080", "", "\u00e4"]);
  assert.equal(byCall("utf8 flagged strings are text strings"), ["b", "s\u00e4tt\u263a", "\u20ac"]);
  // Hash keys are byte strings too; they become ordinary string keys.
  assert.equal(byCall("hash keys are byte strings, also with high bytes"), ["b", { "": null, "k\u00e4y": 1, plain: "v" }]);
  // The shared vector's "s\x{e4}tt\x{263a}" is a text string (0x68): it reads as the json field says.
  assert.equal(decodeCbor(bytes(CBOR_VECTORS[2].cbor_hex)), ["b", "s\u00e4tt\u263a", 1.5, -3, "12"]);
});

test("vectors - all packets back to back, whole, byte by byte and split at every position", () => {
  const all = Buffer.concat(CBOR_VECTORS.map((v) => bytes(v.cbor_hex)));
  const expected = CBOR_VECTORS.map((v) => decodeCbor(bytes(v.cbor_hex)));
  assert.equal(decodeChunks([all]), expected);
  assert.equal(decodeChunks(Array.from(all, (_, i) => all.subarray(i, i + 1))), expected);
  for (let i = 0; i <= all.length; i += 7) assert.equal(decodeChunks([all.subarray(0, i), all.subarray(i)]), expected, `split at ${i}`);
});

test("encode - integers in their shortest form, also past 32 bits (never as floats)", () => {
  const cases: [unknown, string][] = [
    [0, "00"], [23, "17"], [24, "1818"], [255, "18ff"], [256, "190100"], [65535, "19ffff"], [65536, "1a00010000"],
    [4294967295, "1affffffff"], [2 ** 32, "1b0000000100000000"], [2 ** 40, "1b0000010000000000"], [Number.MAX_SAFE_INTEGER, "1b001fffffffffffff"],
    [-1, "20"], [-24, "37"], [-25, "3818"], [-257, "390100"], [-(2 ** 32) - 1, "3b0000000100000000"], [-(2 ** 40), "3b000000ffffffffff"],
    [1795356799, "1a6b02f87f"],
  ];
  for (const [v, h] of cases) assert.is(hex(encodeCbor(v)), h, String(v));
});

test("encode - other values", () => {
  const cases: [unknown, string][] = [
    [1.5, "fa3fc00000"], [0.1, "fb3fb999999999999a"], [-0, "fa80000000"], [NaN, "fa7fc00000"], [Infinity, "fa7f800000"],
    [true, "f5"], [false, "f4"], [null, "f6"], [undefined, "f6"],
    ["", "60"], ["b", "6162"], ["s\u00e4tt\u263a", "6873c3a47474e298ba"], ["x".repeat(24), `7818${"78".repeat(24)}`],
    [new Uint8Array([1, 2, 255]), "430102ff"], [Buffer.from("ab"), "426162"],
    [[1, [2]], "82018102"], [{ k: "v" }, "a1616b6176"], [new Map<unknown, unknown>([[1, "a"]]), "a10161" + "61"],
    [new Set(["a"]), "816161"], [new Date(0), hex(encodeCbor("1970-01-01T00:00:00.000Z"))],
    [5n, "05"], [-5n, "24"], [2n ** 64n - 1n, "1bffffffffffffffff"], [-(2n ** 63n), "3b7fffffffffffffff"], [2n ** 64n, "c249010000000000000000"],
    [-(2n ** 64n) - 1n, "c349010000000000000000"],
  ];
  for (const [v, h] of cases) assert.is(hex(encodeCbor(v)), h, String(v));
});

test("encode - functions, symbols and cycles cannot be sent", () => {
  assert.throws(() => encodeCbor(["p", () => 1]), (e: unknown) => e instanceof TypeError && /function cannot be encoded/.test(e.message));
  assert.throws(() => encodeCbor([Symbol("s")]), TypeError);
  const cycle: unknown[] = ["p"];
  cycle.push(cycle);
  assert.throws(() => encodeCbor(cycle), (e: unknown) => e instanceof TypeError && /or a cycle/.test(e.message));
  // Through the framing: a TypeError naming it, nothing half-written.
  assert.throws(() => encodePacket("cbor", cycle), (e: unknown) => e instanceof TypeError && /cannot be encoded in cbor framing/.test(e.message));
  assert.is(hex(encodeCbor(["ok"])), "81626f6b", "the encoder recovers");
});

test("round trip - what we write, we read (bytes come back as one char per byte, as from Perl)", () => {
  // Integers past 2^53 come back as BigInt (exact), as a Perl node's do.
  const sent = ["p", "é€😀", 2 ** 40, -(2 ** 40), 2 ** 60, 0.1, 1.5, true, null, { nested: [1, { deep: "x" }] }, new Uint8Array([0, 228, 255]), 2n ** 64n - 1n, -(2n ** 80n)];
  const [packet] = decodeChunks([encodePacket("cbor", sent) as Buffer]);
  assert.equal(packet, ["p", "é€😀", 2 ** 40, -(2 ** 40), 2n ** 60n, 0.1, 1.5, true, null, { nested: [1, { deep: "x" }] }, "\u0000\u00e4\u00ff", 2n ** 64n - 1n, -(2n ** 80n)]);
  const big = ["b", "x".repeat(100_000), [..."abc"]];
  const encoded = encodeCbor(big);
  assert.equal(decodeChunks(Array.from({ length: Math.ceil(encoded.length / 1000) }, (_, i) => encoded.subarray(i * 1000, (i + 1) * 1000))), [big]);
});

test("decode - what CBOR::XS reads but Perl does not write: indefinite lengths, half floats, tags, simple values", () => {
  assert.equal(decodeCbor(bytes("9f0102ff")), [1, 2]);
  assert.equal(decodeCbor(bytes("bf6161f5ff")), { a: true });
  assert.equal(decodeCbor(bytes("5f4161426262ff")), "abb");
  assert.equal(decodeCbor(bytes("7f616162c3a4ff")), "a\u00e4");
  assert.equal(decodeCbor(bytes("83f93c00f97c00f98001")), [1, Infinity, -(2 ** -24)]);
  assert.equal(decodeCbor(bytes("82c074323031332d30332d32315432303a30343a30305ad9d9f701")), ["2013-03-21T20:04:00Z", 1]);
  assert.equal(decodeCbor(bytes("83f7f0f820")), [undefined, undefined, undefined]);
  assert.equal(decodeCbor(bytes("a201616163666f6f03")), { 1: "a", foo: 3 }, "non-string keys become strings");
  const proto = decodeCbor(bytes("a1695f5f70726f746f5f5f01")) as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(proto), Object.prototype, "a __proto__ key is an own property");
  assert.equal(Object.keys(proto), ["__proto__"]);
  // Indefinite packets split across writes.
  const indefinite = bytes("9f6161bf616282f5f4ff5f4161ffff");
  assert.equal(decodeChunks(Array.from(indefinite, (_, i) => indefinite.subarray(i, i + 1))), [["a", { b: [true, false] }, "a"]]);
});

test("decode - bad input fails with stable codes, and the first failure is final", () => {
  protocolError(() => decodeChunks([bytes("a0")]), "ERR_NOT_A_PACKET", /must be a CBOR array, got major type 5/);
  protocolError(() => decodeChunks([bytes("8100"), bytes("01")]), "ERR_NOT_A_PACKET");
  protocolError(() => decodeChunks([bytes("811c")]), "ERR_BAD_FRAME", /reserved additional information 28/);
  protocolError(() => decodeChunks([bytes("81ff")]), "ERR_BAD_FRAME", /unexpected break/);
  protocolError(() => decodeChunks([bytes("82"), bytes("ff")]), "ERR_BAD_FRAME", /unexpected break/);
  protocolError(() => decodeChunks([bytes("811f")]), "ERR_BAD_FRAME", /cannot have an indefinite length/);
  protocolError(() => decodeChunks([bytes("815f01ff")]), "ERR_BAD_FRAME", /chunk of an indefinite-length string/);
  protocolError(() => decodeChunks([bytes("81c26101")]), "ERR_BAD_FRAME", /tag 2 must hold a definite byte string/);
  const deep = Buffer.concat([Buffer.alloc(MAX_DEPTH + 1, 0x81), Buffer.from([0x00])]);
  protocolError(() => decodeChunks([deep]), "ERR_BAD_FRAME", /nested more than 512 levels/);
  protocolError(() => decodeChunks([deep.subarray(0, 10), deep.subarray(10)]), "ERR_BAD_FRAME", /nested more than 512 levels/);
  const decoder = new CborDecoder({ push() {} }, 1000);
  let first: unknown;
  try {
    decoder.write(bytes("a0"));
  } catch (err) {
    first = err;
  }
  assert.throws(() => decoder.write(bytes("8100")), (e: unknown) => e === first, "a good packet after a failure throws the same error");
});

test("decode - maxPacketSize holds for whole packets, packets in pieces and declared lengths", () => {
  const packet = encodeCbor(["b", "x".repeat(100)]);
  protocolError(() => decodeChunks([packet], 50), "ERR_PACKET_TOO_LARGE");
  protocolError(() => decodeChunks([packet.subarray(0, 20), packet.subarray(20)], 50), "ERR_PACKET_TOO_LARGE");
  assert.is(decodeChunks([packet], packet.length).length, 1);
  // A header announcing 4 GiB: refused at once, nothing buffered for it.
  protocolError(() => decodeChunks([bytes("825affffffff")], 1000), "ERR_PACKET_TOO_LARGE");
  protocolError(() => decodeChunks([bytes("9b00000001000000000000")], 1000), "ERR_PACKET_TOO_LARGE");
});

test("framing - createDecoder and encodePacket speak cbor", () => {
  const got: unknown[][] = [];
  const d = createDecoder("cbor", { push: (p) => got.push(p) });
  d.write(encodePacket("cbor", ["a", 1]) as Buffer);
  d.write(bytes("83416244746573741a6b02f8"));
  assert.is(d.pendingBytes, 12);
  d.write(bytes("7f"));
  assert.equal(got, [["a", 1], ["b", "test", 1795356799]]);
  assert.ok(Buffer.isBuffer(encodePacket("cbor", ["x"])));
});

test.run();
