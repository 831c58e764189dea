#!/usr/bin/perl
# Writes spec/vectors/cbor.json: cbor framing packets as Perl's CBOR::XS writes them
# (Debian libcbor-xs-perl), each with the json framing text of the very same Perl
# value (JSON::PP), so a spec can check that our cbor reader gives what our json
# reader gives. Run: perl spec/vectors/make-cbor-vectors.pl > spec/vectors/cbor.json
#
# The first six packets are those of the shared vectors (vectors/aemp2.json, computed
# with AnyEvent::MP itself), given by their bytes; the others are Perl values chosen
# for what trips a CBOR reader or writer up against Perl: hash keys and most strings
# as byte strings, UTF-8-flagged strings as text strings, integers past 32 and 53
# bits, floats, booleans, undef, nesting, longer lengths.
use strict;
use warnings;
# CBOR::XS writes hashes in Perl's order: fix the hash seed so the file comes out the same each run.
BEGIN {
   if (($ENV{PERL_HASH_SEED} // '') ne '0') {
      $ENV{PERL_HASH_SEED} = 0;
      $ENV{PERL_PERTURB_KEYS} = 0;
      exec $^X, $0, @ARGV or die "cannot re-run $0: $!\n";
   }
}
use B ();
use CBOR::XS ();
use Encode ();
use JSON::PP ();
use Types::Serialiser ();

my @shared = (
   ['snd "remote/node#b", test => 1795356799', '83416244746573741a6b02f87f'],
   ['snd "remote/node#b", echo => "me#a1", "hello", 42, [1,2], {k=>"v"}, undef', '884162446563686f456d652361314568656c6c6f182a820102a1416b4176f6'],
   ['snd "remote/node#b", "s\x{e4}tt\x{263a}", 1.5, -3, "12"', '8541626873c3a47474e298bafa3fc0000022423132'],
   ['snd "remote/node", "devnull"  (node port)', '8240476465766e756c6c'],
   ['kil "remote/node#b", custom => "reason"', '8540446b696c31416246637573746f6d46726561736f6e'],
   ['spawn "remote/node", "Interop::Target::init", "me#a1"', '854054416e794576656e743a3a4d503a3a5f737061776e4b546d755849464e514c5a6255496e7465726f703a3a5461726765743a3a696e6974456d65236131'],
);


my @values = (
   ['hash keys are byte strings, also with high bytes', ["b", { "k\xe4y" => 1, plain => "v", "" => undef }]],
   ['utf8 flagged strings are text strings', ["b", Encode::decode_utf8("s\xc3\xa4tt\xe2\x98\xba"), Encode::decode_utf8("\xe2\x82\xac")]],
   ['byte strings with high bytes and empty', ["b", "\xff\x00\x80", "", "\xe4"]],
   ['integers of every width', ["b", 0, 23, 24, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -24, -25, -256, -257, -65537, -4294967297]],
   ['integers past 2^53', ["b", 9007199254740993, 18446744073709551615, -9223372036854775808]],
   ['floats', ["b", 0.1, 1.5, -2.5, 1e300, 3.25]],
   ['booleans and undef', ["b", Types::Serialiser::true, Types::Serialiser::false, undef]],
   ['nesting', ["b", { a => [1, { b => undef }] }, [[[]]], {}, []]],
   ['a string of 300 bytes (two-byte length)', ["b", "x" x 300]],
   ['a log record as LogCatcher sends it', ["lc1", 1795356799.25, "main", 5, "explicit-warn"]],
   ['a node request with a reply port', ["", "time", "perl/n#r1", "tag"]],
);

my $json = JSON::PP->new->canonical->allow_nonref;

# Integers a double cannot hold exactly, in the order a walk meets them (arrays only).
sub big {
   my ($v, $out) = @_;
   if (ref $v eq 'ARRAY') { big($_, $out) for @$v }
   elsif (defined $v && !ref $v) {
      my $flags = B::svref_2object(\$v)->FLAGS;
      push @$out, "$v" if ($flags & B::SVf_IOK) && !($flags & B::SVf_NOK) && ($v > 9007199254740991 || $v < -9007199254740991);
   }
   $out
}

my @packets;
for my $i (0 .. $#shared) {
   my ($call, $hex) = @{ $shared[$i] };
   my $value = CBOR::XS::decode_cbor(pack "H*", $hex);
   push @packets, { call => $call, source => 'vectors/aemp2.json', cbor_hex => $hex, json => $json->encode($value) };
}
for (@values) {
   my ($call, $value) = @$_;
   my $hex = unpack "H*", CBOR::XS::encode_cbor($value);
   my $big = big($value, []);
   push @packets, { call => $call, source => 'CBOR::XS', cbor_hex => $hex, json => $json->encode($value), (@$big ? (big => $big) : ()) };
}

print JSON::PP->new->utf8->canonical->pretty->encode({
   description => 'cbor framing packets: cbor_hex as CBOR::XS writes (or, source vectors/aemp2.json, as AnyEvent::MP wrote) '
      . 'them; json is the json framing text of the same Perl value (JSON::PP, canonical); big lists the integers past 2^53 '
      . '(exact, as decimal strings) in the order a walk of the arrays meets them. Made by make-cbor-vectors.pl.',
   generator => "CBOR::XS $CBOR::XS::VERSION, JSON::PP $JSON::PP::VERSION, perl $]",
   packets => \@packets,
});
