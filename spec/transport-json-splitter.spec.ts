import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readFileSync } from "node:fs";
import { ProtocolError } from "../lib/errors.ts";
import { DEFAULT_MAX_PACKET_SIZE, JsonSplitter, type JsonSplitterOptions } from "../lib/transport/json-splitter.ts";

/**
 * The `packets` vectors of vectors/aemp2.json (computed by Perl AnyEvent::MP), copied so
 * the spec runs on a bare checkout; `value` is what each must decode to.
 */
const PERL_PACKETS: { call: string; json: string; value: unknown[] }[] = [
  { call: "snd \"remote/node#b\", test => 1795356799", json: "[\"b\",\"test\",1795356799]", value: ["b", "test", 1795356799] },
  { call: "snd \"remote/node#b\", echo => \"me#a1\", \"hello\", 42, [1,2], {k=>\"v\"}, undef", json: "[\"b\",\"echo\",\"me#a1\",\"hello\",42,[1,2],{\"k\":\"v\"},null]", value: ["b", "echo", "me#a1", "hello", 42, [1, 2], { k: "v" }, null] },
  { call: "snd \"remote/node#b\", \"s\\x{e4}tt\\x{263a}\", 1.5, -3, \"12\"", json: "[\"b\",\"sätt☺\",1.5,-3,\"12\"]", value: ["b", "s\u00e4tt\u263a", 1.5, -3, "12"] },
  { call: "snd \"remote/node\", \"devnull\"  (node port)", json: "[\"\",\"devnull\"]", value: ["", "devnull"] },
  { call: "kil \"remote/node#b\", custom => \"reason\"   (Node::Remote::kill)", json: "[\"\",\"kil1\",\"b\",\"custom\",\"reason\"]", value: ["", "kil1", "b", "custom", "reason"] },
  { call: "spawn \"remote/node\", \"Interop::Target::init\", \"me#a1\" (port name = $RUNIQ.++$ID, random)", json: "[\"\",\"AnyEvent::MP::_spawn\",\"TmuXIFNQLZb\",\"Interop::Target::init\",\"me#a1\"]", value: ["", "AnyEvent::MP::_spawn", "TmuXIFNQLZb", "Interop::Target::init", "me#a1"] },
];
const SHARED_VECTORS = "/work/shared/vectors/aemp2.json";

/** Values that stress the scanner: brackets and quotes inside strings, escapes, multi-byte text. */
const TRICKY: unknown[][] = [
  ["portname", "tag", 123, "some text"],
  ["", "devnull"],
  ["b", "[", "]", "{", "}", "[[{{", "}}]]"],
  ["b", 'say "hi"', "back\\slash", "ends with backslash\\", '\\"', '"', "\\"],
  ["b", "é", "€", "😀", "sätt☺", "mixed é€😀 text"],
  ["b", [1, [2, [3, ["deep", { k: ["v", { x: null }] }]]]], { "a]": "}[", "q\"": "\\" }],
  ["b", 12, "12", -3, "-3", 1.5, "1.5", 0, "", null, true, false],
  ["b", "line\nbreak", "tab\t", "\u0000nul", "\u2028sep"],
  [],
  ["b", {}, [], [[]], [{}]],
];

function collect(options?: JsonSplitterOptions): { splitter: JsonSplitter; values: unknown[] } {
  const values: unknown[] = [];
  return { splitter: new JsonSplitter({ push: (v) => values.push(v) }, options), values };
}

function encodeAll(packets: unknown[][]): Buffer {
  return Buffer.from(packets.map((p) => JSON.stringify(p)).join(""), "utf8");
}

function feed(chunks: Uint8Array[], options?: JsonSplitterOptions): unknown[] {
  const { splitter, values } = collect(options);
  for (const chunk of chunks) splitter.write(chunk);
  assert.is(splitter.pendingBytes, 0);
  return values;
}

function byteAtATime(bytes: Buffer): Buffer[] {
  return Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
}

function protocolError(fn: () => void, code: string, message?: RegExp): ProtocolError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ProtocolError);
    const e = err as ProtocolError;
    assert.is(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.unreachable(`expected a ProtocolError ${code}`);
  throw new Error("unreachable");
}

test("splitter - one whole packet", () => {
  assert.equal(feed([Buffer.from('["a","b",1]')]), [["a", "b", 1]]);
});

test("splitter - back-to-back packets in one chunk", () => {
  assert.equal(feed([encodeAll(TRICKY)]), TRICKY);
});

test("splitter - one byte at a time", () => {
  assert.equal(feed(byteAtATime(encodeAll(TRICKY))), TRICKY);
});

test("splitter - two chunks split at every position", () => {
  const bytes = encodeAll(TRICKY);
  for (let i = 0; i <= bytes.length; i++) {
    assert.equal(feed([bytes.subarray(0, i), bytes.subarray(i)]), TRICKY, `split at ${i}`);
  }
});

test("splitter - three chunks split at every pair of positions", () => {
  const packets = [TRICKY[3]!, TRICKY[4]!, TRICKY[5]!];
  const bytes = encodeAll(packets);
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const chunks = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
      assert.equal(feed(chunks), packets, `split at ${i} and ${j}`);
    }
  }
});

test("splitter - a value spread over many chunks is emitted once, whole", () => {
  const packet = ["b", "x".repeat(1000), ["€".repeat(100)]];
  const bytes = encodeAll([packet]);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 7) chunks.push(bytes.subarray(i, i + 7));
  assert.ok(chunks.length > 3);
  const { splitter, values } = collect();
  for (const [n, chunk] of chunks.entries()) {
    splitter.write(chunk);
    if (n < chunks.length - 1) assert.is(values.length, 0);
  }
  assert.equal(values, [packet]);
});

test("splitter - multi-byte characters cut inside their bytes", () => {
  for (const text of ["é", "€", "😀"]) {
    const bytes = encodeAll([["b", text]]);
    const charStart = bytes.indexOf(Buffer.from(text));
    const charBytes = Buffer.byteLength(text);
    for (let cut = charStart + 1; cut < charStart + charBytes; cut++) {
      assert.equal(feed([bytes.subarray(0, cut), bytes.subarray(cut)]), [["b", text]], `${text} cut at ${cut}`);
    }
  }
});

test("splitter - escaped quotes and backslashes do not end strings early", () => {
  const raw = String.raw`["a\"]","b\\","c\\\"]"]["next"]`;
  assert.equal(feed([Buffer.from(raw)]), [["a\"]", "b\\", 'c\\"]'], ["next"]]);
});

/**
 * Strings long enough for the splitter's native search (past the bytes it walks in
 * JavaScript), with runs of 0-4 backslashes before a quote at every offset around
 * where the search changes hands, brackets inside, and text after.
 */
function longStringPackets(): unknown[][] {
  const packets: unknown[][] = [];
  for (let pad = 0; pad < 40; pad++) {
    for (let run = 0; run <= 4; run++) {
      const tricky = `${"a".repeat(pad)}${"\\".repeat(run)}"]}[{`;
      packets.push(["b", `${tricky}${"z".repeat(30)}`, tricky, { [tricky]: [tricky] }]);
    }
  }
  return packets;
}

/** A small seeded generator (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("splitter - long strings with escapes, split at every position", () => {
  const packets = longStringPackets().filter((_, i) => i % 7 === 0);
  const bytes = encodeAll(packets);
  for (let i = 0; i <= bytes.length; i++) {
    assert.equal(feed([bytes.subarray(0, i), bytes.subarray(i)]), packets, `split at ${i}`);
  }
});

test("splitter - long strings with escapes, random splits give what JSON.parse gives", () => {
  const packets = [...longStringPackets(), ...TRICKY, ["b", "\\".repeat(5000), `${"q".repeat(70_000)}\\"`]];
  const bytes = encodeAll(packets);
  const random = seeded(14);
  for (let round = 0; round < 200; round++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      // Mostly short chunks, sometimes long ones, as TCP delivers them.
      const size = 1 + Math.floor(random() ** 3 * 70_000);
      chunks.push(bytes.subarray(at, at + size));
      at += size;
    }
    assert.equal(feed(chunks), packets, `round ${round}`);
  }
});

test("splitter - numbers and numeric strings stay distinct", () => {
  const [packet] = feed([Buffer.from('["b",12,"12",1.5,"1.5",null,"null"]')]) as unknown[][];
  assert.equal(packet, ["b", 12, "12", 1.5, "1.5", null, "null"]);
  assert.type(packet![1], "number");
  assert.type(packet![2], "string");
});

test("splitter - whitespace before, between and after packets is tolerated", () => {
  const input = ' \r\n\t["a"]\n["b"] \r\n  ["c"]\t\n';
  assert.equal(feed(byteAtATime(Buffer.from(input))), [["a"], ["b"], ["c"]]);
  assert.equal(feed([Buffer.from(input)]), [["a"], ["b"], ["c"]]);
});

test("splitter - whitespace inside a packet is left to JSON.parse", () => {
  assert.equal(feed([Buffer.from('[ "a" , [ 1 , 2 ] , { "k" : "v" } ]')]), [["a", [1, 2], { k: "v" }]]);
});

test("vectors - every Perl packet decodes, whole and byte by byte", () => {
  for (const vector of PERL_PACKETS) {
    const bytes = Buffer.from(vector.json, "utf8");
    assert.equal(feed([bytes]), [vector.value], vector.call);
    assert.equal(feed(byteAtATime(bytes)), [vector.value], vector.call);
  }
});

test("vectors - all Perl packets back to back, split at every position", () => {
  const all = Buffer.from(PERL_PACKETS.map((v) => v.json).join(""), "utf8");
  const expected = PERL_PACKETS.map((v) => v.value);
  for (let i = 0; i <= all.length; i++) {
    assert.equal(feed([all.subarray(0, i), all.subarray(i)]), expected, `split at ${i}`);
  }
});

if (existsSync(SHARED_VECTORS)) {
  test("vectors - the embedded copy matches the shared vector file", () => {
    const shared = JSON.parse(readFileSync(SHARED_VECTORS, "utf8")) as { packets: { call: string; json: string }[] };
    assert.equal(PERL_PACKETS.map(({ call, json }) => ({ call, json })), shared.packets.map(({ call, json }) => ({ call, json })));
  });
}

test("splitter - accepts a plain Uint8Array", () => {
  const bytes = new Uint8Array(encodeAll([["a", "é"]]));
  assert.equal(feed([bytes.subarray(0, 5), bytes.subarray(5)]), [["a", "é"]]);
});

test("splitter - pendingBytes counts the incomplete value only", () => {
  const { splitter, values } = collect();
  splitter.write(Buffer.from('["done"]  ["part'));
  assert.equal(values, [["done"]]);
  assert.is(splitter.pendingBytes, 6);
  splitter.write(Buffer.from("ial"));
  assert.is(splitter.pendingBytes, 9);
  splitter.write(Buffer.from('"]'));
  assert.is(splitter.pendingBytes, 0);
  assert.equal(values, [["done"], ["partial"]]);
});

test("limits - default max packet size is 64 MiB", () => {
  assert.is(DEFAULT_MAX_PACKET_SIZE, 64 * 1024 * 1024);
});

test("limits - maxPacketSize must be a positive integer", () => {
  for (const bad of [0, -5, 2.5, NaN, Infinity]) {
    assert.throws(
      () => new JsonSplitter({ push() {} }, { maxPacketSize: bad }),
      (e: unknown) => e instanceof TypeError && /JsonSplitter: 'options.maxPacketSize'/.test(e.message),
    );
  }
});

test("limits - a packet of exactly maxPacketSize bytes passes", () => {
  const bytes = encodeAll([["b", "xxxx"]]);
  assert.equal(feed([bytes], { maxPacketSize: bytes.length }), [["b", "xxxx"]]);
  assert.equal(feed(byteAtATime(bytes), { maxPacketSize: bytes.length }), [["b", "xxxx"]]);
});

test("limits - a complete oversize packet fails with ERR_PACKET_TOO_LARGE", () => {
  const bytes = encodeAll([["b", "xxxx"]]);
  const { splitter } = collect({ maxPacketSize: bytes.length - 1 });
  protocolError(() => splitter.write(bytes), "ERR_PACKET_TOO_LARGE", new RegExp(`more than ${bytes.length - 1} bytes`));
});

test("limits - an oversize packet fails before it completes", () => {
  const { splitter, values } = collect({ maxPacketSize: 100 });
  splitter.write(Buffer.from('["b","' + "x".repeat(90)));
  protocolError(() => splitter.write(Buffer.from("x".repeat(20))), "ERR_PACKET_TOO_LARGE");
  assert.is(values.length, 0);
});

test("limits - oversize fed one byte at a time fails at the first byte over", () => {
  const { splitter } = collect({ maxPacketSize: 10 });
  const bytes = Buffer.from('["0123456789"]');
  for (let i = 0; i < 10; i++) splitter.write(bytes.subarray(i, i + 1));
  protocolError(() => splitter.write(bytes.subarray(10, 11)), "ERR_PACKET_TOO_LARGE");
});

test("errors - a top-level scalar or object is not a packet", () => {
  for (const input of ['"text"', "12", "-1", "null", "true", "false", '{"a":1}']) {
    const { splitter } = collect();
    protocolError(() => splitter.write(Buffer.from(input)), "ERR_NOT_A_PACKET", /must be an array/);
  }
});

test("errors - garbage between packets is a bad frame", () => {
  for (const input of ["x", "]", "}", ",", "\u0000", "\u00e9"]) {
    const { splitter } = collect();
    protocolError(() => splitter.write(Buffer.from(input)), "ERR_BAD_FRAME", /unexpected byte/);
  }
});

test("errors - invalid JSON inside brackets is a bad frame", () => {
  for (const input of ["[1,]", "[1}", "[abc]", '["a" "b"]', "[1,2,{]}"]) {
    const { splitter } = collect();
    protocolError(() => splitter.write(Buffer.from(input)), "ERR_BAD_FRAME", /invalid JSON/);
  }
});

test("errors - packets before the bad bytes are still delivered", () => {
  const { splitter, values } = collect();
  protocolError(() => splitter.write(Buffer.from('["ok"]["ok2"]garbage')), "ERR_BAD_FRAME");
  assert.equal(values, [["ok"], ["ok2"]]);
});

test("errors - the first failure is final", () => {
  const { splitter, values } = collect();
  const first = protocolError(() => splitter.write(Buffer.from("[1,]")), "ERR_BAD_FRAME");
  try {
    splitter.write(Buffer.from('["fine"]'));
    assert.unreachable("should keep failing");
  } catch (err) {
    assert.is(err, first);
  }
  assert.is(values.length, 0);
  assert.is(splitter.pendingBytes, 0);
});

test("errors - a sink that throws ends the splitter", () => {
  const boom = new Error("sink failed");
  const splitter = new JsonSplitter({ push: () => { throw boom; } });
  assert.throws(() => splitter.write(Buffer.from('["a"]')), (err: unknown) => err === boom);
  assert.throws(() => splitter.write(Buffer.from('["b"]')), (err: unknown) => err === boom);
});

test("objects - topLevel object splits objects and refuses arrays", () => {
  const input = Buffer.from('{"json":["a","}"]} {"json":[{"k":"{"}],"meta":{}}');
  assert.equal(feed(byteAtATime(input), { topLevel: "object" }), [
    { json: ["a", "}"] },
    { json: [{ k: "{" }], meta: {} },
  ]);
  const { splitter } = collect({ topLevel: "object" });
  protocolError(() => splitter.write(Buffer.from('["a"]')), "ERR_NOT_A_PACKET", /must be an object/);
});

test.run();
