/**
 * The cbor framing against Perl's own CBOR::XS (Debian libcbor-xs-perl): every framing
 * vector means to CBOR::XS what the vector file says, what we write for it reads back
 * in Perl as the same value, and the JS values that trip writers up (integers past 32
 * bits, text against bytes, booleans) arrive in Perl as the right kind of scalar.
 * Without `perl -MCBOR::XS` a SKIPPED line says so and no test is registered.
 */
import { spawnSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { decodeCbor, encodeCbor } from "../lib/transport/cbor.ts";
import { CBOR_VECTORS } from "./cbor-helpers.ts";

const FILE = "spec/transport-cbor-perl.spec.ts";

/**
 * Reads one hex CBOR item per line; for each writes one JSON line: `json` (JSON::PP of
 * the value, as the json framing would carry it) and `kinds` (what kind of Perl scalar
 * each leaf is: int, float, text, bytes, bool, undef).
 */
const PERL = String.raw`
use strict; use warnings; use B (); use CBOR::XS (); use JSON::PP (); use Types::Serialiser ();
my $json = JSON::PP->new->canonical->allow_nonref;
sub kinds {
  my ($v) = @_;
  return [map kinds($_), @$v] if ref $v eq 'ARRAY';
  return { map { ($_ => kinds($v->{$_})) } keys %$v } if ref $v eq 'HASH';
  return "bool:" . ($v ? 1 : 0) if Types::Serialiser::is_bool($v);
  return "undef" unless defined $v;
  my $f = B::svref_2object(\$v)->FLAGS;
  return "float:$v" if $f & B::SVf_NOK;
  return "int:$v" if $f & B::SVf_IOK;
  return (utf8::is_utf8($v) ? "text:" : "bytes:") . do { my $b = $v; utf8::encode($b) if utf8::is_utf8($b); unpack "H*", $b };
}
binmode STDOUT, ":raw";
while (my $hex = <STDIN>) {
  chomp $hex;
  my $v = CBOR::XS::decode_cbor(pack "H*", $hex);
  print JSON::PP->new->utf8->canonical->encode({ json => $json->encode($v), kinds => kinds($v) }), "\n";
}
`;

function perlHasCbor(): boolean {
  const r = spawnSync("perl", ["-MCBOR::XS", "-e", "1"], { encoding: "utf8" });
  return r.status === 0;
}

interface PerlView {
  json: string;
  kinds: unknown;
}

/** What CBOR::XS makes of each item. */
function perlReads(items: Uint8Array[]): PerlView[] {
  const input = items.map((b) => `${Buffer.from(b).toString("hex")}\n`).join("");
  const r = spawnSync("perl", ["-e", PERL], { input, encoding: "utf8", timeout: 30_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.trim().split("\n").map((l) => JSON.parse(l) as PerlView);
}

if (!perlHasCbor()) {
  console.log(`SKIPPED ${FILE}: perl cannot load CBOR::XS here (apt-get install libcbor-xs-perl); its tests were not registered`);
} else {
  test("CBOR::XS - every vector means to CBOR::XS what the vector file says (its json)", () => {
    const views = perlReads(CBOR_VECTORS.map((v) => Buffer.from(v.cbor_hex, "hex")));
    assert.equal(views.map((v) => v.json), CBOR_VECTORS.map((v) => v.json));
  });

  test("CBOR::XS - what we write for every vector reads back in Perl as the same value", () => {
    const ours = CBOR_VECTORS.map((v) => encodeCbor(decodeCbor(Buffer.from(v.cbor_hex, "hex"))));
    const views = perlReads(ours);
    for (let i = 0; i < CBOR_VECTORS.length; i++) assert.is(views[i].json, CBOR_VECTORS[i].json, CBOR_VECTORS[i].call);
  });

  test("CBOR::XS - integers past 32 bits arrive as integers, strings as text, bytes as bytes, booleans as booleans, undefined as undef", () => {
    const [view] = perlReads([
      encodeCbor([
        "p", 2 ** 32, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER, 2n ** 64n - 1n, -(2n ** 63n), 1.5, 0.1,
        "s\u00e4tt\u263a", new Uint8Array([0xe4, 0x00]), true, false, null, undefined, { k: 1 },
      ]),
    ]);
    assert.equal(view.kinds, [
      "text:70", "int:4294967296", "int:1099511627776", "int:-1099511627776", "int:9007199254740991", "int:18446744073709551615",
      "int:-9223372036854775808", "float:1.5", "float:0.1",
      "text:73c3a47474e298ba", "bytes:e400", "bool:1", "bool:0", "undef", "undef", { k: "int:1" },
    ]);
  });

  test.run();
}
