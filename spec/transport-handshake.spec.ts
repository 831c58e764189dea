import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { ProtocolError } from "../lib/errors.ts";
import {
  AUTH_METHODS,
  DEFAULT_AUTH_ACCEPT,
  DEFAULT_AUTH_OFFER,
  LineReader,
  MAX_HANDSHAKE_LINE,
  PROTOCOL_VERSION,
  PROVIDER,
  alreadyConnectedError,
  buildAuthLine,
  buildGreeting,
  checkPeer,
  chooseAuthMethod,
  chooseFraming,
  greetingExtras,
  makeNonce,
  parseGreeting,
  peerOffersTls,
  tlsRole,
  verifyAuthLine,
  type GreetingLines,
} from "../lib/transport/handshake.ts";
import { FRAMINGS_WE_READ, FRAMINGS_WE_WRITE } from "../lib/transport/framing.ts";

interface AuthVector {
  a_greeting1: string;
  a_greeting2: string;
  a_sends: string;
  b_greeting1: string;
  b_greeting2: string;
  b_sends: string;
  cleartext_auth_line: string;
  hmac_input_for_a: string;
  secret: string;
  tls_sha3_512_a_sends: string;
}

interface CapturedHandshake {
  a_greeting1: string;
  a_greeting2: string;
  a_sends: string;
  b_greeting1: string;
  b_greeting2: string;
  b_sends: string;
  captured_a_sends: string;
  captured_b_sends: string;
  secret: string;
}

/**
 * The `auth` and `captured_handshake` parts of vectors/aemp2.json (computed with the real
 * Perl AnyEvent::MP), copied so the spec runs on a bare checkout. "a" and "b" are the two
 * ends of one link; `a_sends` is a's auth line.
 */
const VECTORS: { auth: AuthVector[]; captured_handshake: CapturedHandshake & Record<string, unknown> } = {
  "auth": [
    {
      "a_greeting1": "aemp;1;seed;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;cbor,json,storable;mproto=1;provider=AE-2.01;peeraddr=127.0.0.1:57632;gproto=1",
      "a_greeting2": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB",
      "a_sends": "hmac_sha3_512;e23aaf4fdd970ce4b6b989f94a0db9b2c75e8f76046b096ed2fd739b0f333434c685dcae1bfe072a50e745d63e63fe806d9fa9c656e5f4bb8782a5623587d4fa;json\n",
      "b_greeting1": "aemp;1;interop_echo/Zja0PDbIz8;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;json;mproto=1;provider=AE-2.01;gproto=1;peeraddr=127.0.0.1:4040",
      "b_greeting2": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/gIGC",
      "b_sends": "hmac_sha3_512;b2c0fd92879230bea5434c210b3f672d31dd3917d05ab0c0da8861e05fc20eb3088fadb904c24c50dda292da52f38c216d8ed1dd29b2d8d02c0b41477ae7efe6;json\n",
      "cleartext_auth_line": "cleartext;696e7465726f702d746573742d7365637265742d30313233343536373839;json\n",
      "hmac_input_for_a": "aemp;1;seed;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;cbor,json,storable;mproto=1;provider=AE-2.01;peeraddr=127.0.0.1:57632;gproto=1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BB\naemp;1;interop_echo/Zja0PDbIz8;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;json;mproto=1;provider=AE-2.01;gproto=1;peeraddr=127.0.0.1:4040\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpbXF1eX2BhYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/gIGC\n",
      "secret": "interop-test-secret-0123456789",
      "tls_sha3_512_a_sends": "tls_sha3_512;f577f916cd9ef152600e6f860c5f94110d1cbc5545fdf5f2b9d6b5cd1968119df891e5a49cf296bb09a46737636b2105e1f9106a59387ef3647c4ba628cc5f46;json\n"
    },
    {
      "a_greeting1": "aemp;1;tsnode/abc;hmac_sha3_512;json",
      "a_greeting2": "",
      "a_sends": "hmac_sha3_512;f0d8d90e2db752b82d61c3e2c136ded43cdb33305cf3d801def2faa69015cb2f1421eb89a4fa73481ceb1c4b344b97a43c82c4535876861e178f1c9f1ace31bd;json\n",
      "b_greeting1": "aemp;1;perlnode;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;cbor,json,storable;gproto=1;mproto=1;provider=AE-2.01;peeraddr=127.0.0.1:1234",
      "b_greeting2": "x",
      "b_sends": "hmac_sha3_512;e17012a99e2a32b8e1fdc9246b157d67b312b949c84c564a938be8ea9b3250d9051a442dd3bdb9689daf496aad0ef24554670095248710d03ce63f50689f8d39;json\n",
      "cleartext_auth_line": "cleartext;696e7465726f702d746573742d7365637265742d30313233343536373839;json\n",
      "hmac_input_for_a": "aemp;1;tsnode/abc;hmac_sha3_512;json\n\naemp;1;perlnode;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;cbor,json,storable;gproto=1;mproto=1;provider=AE-2.01;peeraddr=127.0.0.1:1234\nx\n",
      "secret": "interop-test-secret-0123456789",
      "tls_sha3_512_a_sends": "tls_sha3_512;8deb9ae69236d54f9c7d90b2673a28e88b01f32405d60173e2542485f4aa53d5cb557ad35e28dba8b767d71a3ebd6fd0ede9f217e19888458956d89c9f4f2c95;json\n"
    },
    {
      "a_greeting1": "aemp;1;a;hmac_sha3_512;json;provider=TS-0.1",
      "a_greeting2": "bm9uY2UtYQ==",
      "a_sends": "hmac_sha3_512;826798aa6e2645ae4d0ae5f833c61ef017c0f911522c9826304adb2abc321f64c73d439dcb583c174a139e4399417e8b6a82b8b74b54e0e4414c8dad66187986;json\n",
      "b_greeting1": "aemp;1;b;hmac_sha3_512;json;provider=TS-0.1",
      "b_greeting2": "bm9uY2UtYg==",
      "b_sends": "hmac_sha3_512;c247275266c77150a430a1d33a56d4477e89c75080b22324077511e7ce00459555bda43d9f42646735fb49cf40f427a7cbc63644dd701568479440c75db314af;json\n",
      "cleartext_auth_line": "cleartext;696e7465726f702d746573742d7365637265742d30313233343536373839;json\n",
      "hmac_input_for_a": "aemp;1;a;hmac_sha3_512;json;provider=TS-0.1\nbm9uY2UtYQ==\naemp;1;b;hmac_sha3_512;json;provider=TS-0.1\nbm9uY2UtYg==\n",
      "secret": "interop-test-secret-0123456789",
      "tls_sha3_512_a_sends": "tls_sha3_512;a645f4c8d6c8d60ceb7649ee32e4f0afc40c1161c58e219f24e7ede2713b9e1b0abf95a2db82608f78ab2d8e5f5f1068ab1e15766462a5c015b01fcdf0e023cc;json\n"
    }
  ],
  "captured_handshake": {
    "a_greeting1": "aemp;1;scenario;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;json;peeraddr=127.0.0.1:4041;gproto=1;provider=AE-2.01;mproto=1",
    "a_greeting2": "dJrlPUWzfsHZ2Pm81Ugti4r+El/VC5HbjF4EmNG66/0XTlpR7aPj6aGES+igN21lHJNO+MM0wf+M8KgSH8dOcyrh",
    "a_sends": "hmac_sha3_512;b4ba95ecb4926eb3ff745e3ba973a8639552c39d2349a4cd6f23b5b48c7c342999fe051134473240c3ee69663fe64e7b8354e3b2dc71c2b61d4d55002c2d24dd;json\n",
    "b_greeting1": "aemp;1;interop_echo/Zja0PDbIz8;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;json;mproto=1;provider=AE-2.01;gproto=1;peeraddr=127.0.0.1:51330",
    "b_greeting2": "POdC8PTVORP9A3HH3YviqmxVIQVHe7vvFFJo7ZgjPaP50Y402CSLJedYjgldWr2P19zj8HiNAx54FyzyWOUD0GCw",
    "b_sends": "hmac_sha3_512;29363ea995995d324966dfdb3b083409f9ec10c3b5759e58adc36b958c24f1d1916c7603c447c0255f85417a75fc000ba686a247bbcc8c1dc64156beed0a0f8e;json\n",
    "captured_a_sends": "hmac_sha3_512;b4ba95ecb4926eb3ff745e3ba973a8639552c39d2349a4cd6f23b5b48c7c342999fe051134473240c3ee69663fe64e7b8354e3b2dc71c2b61d4d55002c2d24dd;json\n",
    "captured_b_sends": "hmac_sha3_512;29363ea995995d324966dfdb3b083409f9ec10c3b5759e58adc36b958c24f1d1916c7603c447c0255f85417a75fc000ba686a247bbcc8c1dc64156beed0a0f8e;json\n",
    "match": true,
    "note": "real capture; the *_sends values were recomputed here and equal the captured lines",
    "secret": "interop-test-secret-0123456789"
  }
};
const SHARED_VECTORS = "/work/shared/vectors/aemp2.json";

const linesOfA = (v: AuthVector | CapturedHandshake): GreetingLines => [v.a_greeting1, v.a_greeting2];
const linesOfB = (v: AuthVector | CapturedHandshake): GreetingLines => [v.b_greeting1, v.b_greeting2];

function protocolError(fn: () => unknown, code: string, message?: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ProtocolError);
    assert.is((err as ProtocolError).code, code, (err as Error).message);
    if (message !== undefined) assert.is((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected a ProtocolError ${code}`);
}

function verifyAs(side: "a" | "b", v: AuthVector | CapturedHandshake, line: string, tlsActive = false) {
  const [ourLines, peerLines] = side === "a" ? [linesOfA(v), linesOfB(v)] : [linesOfB(v), linesOfA(v)];
  return verifyAuthLine(line, { secret: v.secret, ourLines, peerLines, tlsActive, accept: DEFAULT_AUTH_ACCEPT });
}

// ---------------------------------------------------------------- vectors

if (existsSync(SHARED_VECTORS)) {
  test("vectors - the embedded copy matches the shared vector file", () => {
    const shared = JSON.parse(readFileSync(SHARED_VECTORS, "utf8"));
    assert.equal(VECTORS.auth, shared.auth);
    assert.equal(VECTORS.captured_handshake, shared.captured_handshake);
  });
}

test("vectors - hmac_sha3_512 line each side sends", () => {
  for (const v of VECTORS.auth) {
    assert.is(buildAuthLine("hmac_sha3_512", v.secret, linesOfA(v), linesOfB(v), "json"), v.a_sends);
    assert.is(buildAuthLine("hmac_sha3_512", v.secret, linesOfB(v), linesOfA(v), "json"), v.b_sends);
  }
});

test("vectors - the HMAC covers our lines then the peer's, each ending in LF", () => {
  for (const v of VECTORS.auth) {
    const mac = createHmac("sha3-512", v.secret).update(v.hmac_input_for_a).digest("hex");
    assert.is(v.a_sends, `hmac_sha3_512;${mac};json\n`);
    assert.is(v.hmac_input_for_a, `${v.a_greeting1}\n${v.a_greeting2}\n${v.b_greeting1}\n${v.b_greeting2}\n`);
  }
});

test("vectors - tls_sha3_512 line: the sender hashes its own lines first", () => {
  for (const v of VECTORS.auth) {
    assert.is(buildAuthLine("tls_sha3_512", undefined, linesOfA(v), linesOfB(v), "json"), v.tls_sha3_512_a_sends);
  }
});

test("vectors - cleartext line is the secret in lowercase hex", () => {
  for (const v of VECTORS.auth) {
    assert.is(buildAuthLine("cleartext", v.secret, linesOfA(v), linesOfB(v), "json"), v.cleartext_auth_line);
  }
});

test("vectors - each side accepts the other's line", () => {
  for (const v of VECTORS.auth) {
    assert.equal(verifyAs("a", v, v.b_sends), { method: "hmac_sha3_512", framing: "json" });
    assert.equal(verifyAs("b", v, v.a_sends), { method: "hmac_sha3_512", framing: "json" });
    assert.equal(verifyAs("b", v, v.tls_sha3_512_a_sends, true), { method: "tls_sha3_512", framing: "json" });
    assert.equal(verifyAs("b", v, v.cleartext_auth_line), { method: "cleartext", framing: "json" });
  }
});

test("vectors - a side refuses its own line reflected back", () => {
  for (const v of VECTORS.auth) {
    protocolError(() => verifyAs("a", v, v.a_sends), "ERR_AUTH_MISMATCH", "authentication failure/shared secret mismatch");
    protocolError(() => verifyAs("a", v, v.tls_sha3_512_a_sends, true), "ERR_AUTH_MISMATCH");
  }
});

test("vectors - every greeting line parses", () => {
  for (const v of [...VECTORS.auth, VECTORS.captured_handshake]) {
    for (const line of [v.a_greeting1, v.b_greeting1]) {
      const g = parseGreeting(line);
      assert.is(g.protocol, "aemp");
      assert.is(g.version, 1);
      assert.is(line.split(";")[2], g.nodeId);
      assert.ok(g.auths.includes("hmac_sha3_512"));
      assert.ok(g.framings.includes("json"));
    }
  }
});

test("vectors - captured Perl handshake replayed from both ends", () => {
  const c = VECTORS.captured_handshake;
  for (const [ours, theirs, sends, captured] of [
    [linesOfA(c), linesOfB(c), c.a_sends, c.captured_a_sends],
    [linesOfB(c), linesOfA(c), c.b_sends, c.captured_b_sends],
  ] as const) {
    const peer = checkPeer(ours, theirs, parseGreeting(ours[0]).nodeId);
    const method = chooseAuthMethod(peer.auths, DEFAULT_AUTH_OFFER, false);
    const framing = chooseFraming(peer.framings, FRAMINGS_WE_WRITE);
    assert.is(method, "hmac_sha3_512");
    assert.is(framing, "json");
    assert.is(buildAuthLine(method, c.secret, ours, theirs, framing), sends);
    assert.is(sends, captured);
  }
  assert.equal(verifyAuthLine(c.b_sends, {
    secret: c.secret, ourLines: linesOfA(c), peerLines: linesOfB(c), tlsActive: false, accept: DEFAULT_AUTH_ACCEPT,
  }), { method: "hmac_sha3_512", framing: "json" });
});

// ---------------------------------------------------------------- greeting

test("nonce - 66 random bytes in base64, 88 characters", () => {
  const nonces = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const nonce = makeNonce();
    assert.is(nonce.length, 88);
    assert.match(nonce, /^[A-Za-z0-9+/]{88}$/);
    assert.is(Buffer.from(nonce, "base64").length, 66);
    nonces.add(nonce);
  }
  assert.is(nonces.size, 20);
});

test("greeting - builds the vector greetings byte for byte", () => {
  assert.is(
    buildGreeting({ nodeId: "a", auths: ["hmac_sha3_512"], framings: ["json"], extras: { provider: "TS-0.1" } }),
    VECTORS.auth[2]!.a_greeting1,
  );
  assert.is(buildGreeting({ nodeId: "tsnode/abc", auths: ["hmac_sha3_512"], framings: ["json"] }), VECTORS.auth[1]!.a_greeting1);
  const perl = VECTORS.captured_handshake.b_greeting1;
  const parsed = parseGreeting(perl);
  assert.is(buildGreeting({ nodeId: parsed.nodeId, auths: parsed.auths, framings: parsed.framings, extras: parsed.keys }), perl);
});

test("greeting - our standard extras", () => {
  assert.equal(greetingExtras(), { mproto: "1", gproto: "1", provider: PROVIDER });
  assert.equal(greetingExtras({ peeraddr: "127.0.0.1:4040", tls: true }), {
    mproto: "1", gproto: "1", provider: PROVIDER, peeraddr: "127.0.0.1:4040", tls: "1.0",
  });
  assert.not.ok("tls" in greetingExtras({ tls: false }));
  const line = buildGreeting({
    nodeId: "ts/1", auths: DEFAULT_AUTH_ACCEPT, framings: FRAMINGS_WE_READ, extras: greetingExtras({ peeraddr: "10.0.0.1:1" }),
  });
  assert.is(line, `aemp;1;ts/1;tls_sha3_512,hmac_sha3_512,tls_anon,cleartext;superjson-bin,superjson,cbor,json;mproto=1;gproto=1;provider=${PROVIDER};peeraddr=10.0.0.1:1`);
});

test("greeting - another protocol name can be built and expected", () => {
  const line = buildGreeting({ protocol: "aemp-dataconn", nodeId: "n", auths: ["hmac_sha3_512"], framings: ["json"] });
  assert.is(parseGreeting(line, "aemp-dataconn").protocol, "aemp-dataconn");
  protocolError(() => parseGreeting(line), "ERR_GREETING", "unparsable greeting, expected 'aemp', got 'aemp-dataconn'");
});

test("greeting - bad arguments name the parameter", () => {
  const base = { nodeId: "n", auths: ["hmac_sha3_512"], framings: ["json"] };
  const cases: [object, RegExp][] = [
    [{ nodeId: "" }, /'nodeId'/],
    [{ nodeId: "a#b" }, /'nodeId'/],
    [{ nodeId: "a;b" }, /'nodeId'/],
    [{ nodeId: "a\nb" }, /'nodeId'/],
    [{ auths: [] }, /'auths'/],
    [{ auths: ["a,b"] }, /'auths'/],
    [{ framings: ["json;x"] }, /'framings'/],
    [{ extras: { "a=b": "c" } }, /'extras'/],
    [{ extras: { k: "v;w" } }, /'extras.k'/],
    [{ protocol: "a;b" }, /'protocol'/],
  ];
  for (const [override, message] of cases) {
    assert.throws(() => buildGreeting({ ...base, ...override }), (e: unknown) => e instanceof TypeError && message.test(e.message));
  }
});

test("parse - fields, lists and key=value pairs", () => {
  const g = parseGreeting("aemp;1;node/x;hmac_sha3_512,cleartext;cbor,json;tls=1.0;url=http://h/?a=b;flag;mproto=1\r");
  assert.equal(g, {
    protocol: "aemp",
    version: 1,
    nodeId: "node/x",
    auths: ["hmac_sha3_512", "cleartext"],
    framings: ["cbor", "json"],
    keys: { tls: "1.0", url: "http://h/?a=b", flag: "", mproto: "1" },
  });
});

test("parse - keys come in any order and unknown ones are kept", () => {
  const a = parseGreeting(VECTORS.captured_handshake.a_greeting1).keys;
  assert.equal(a, { peeraddr: "127.0.0.1:4041", gproto: "1", provider: "AE-2.01", mproto: "1" });
  assert.is(parseGreeting("aemp;1;n;x;json;zzz=1").keys.zzz, "1");
});

test("parse - a __proto__ key stays an ordinary key", () => {
  const keys = parseGreeting("aemp;1;n;x;json;__proto__=evil;tls=1.0").keys;
  assert.is(Object.getPrototypeOf(keys), Object.prototype);
  assert.is(Object.getOwnPropertyDescriptor(keys, "__proto__")?.value, "evil");
  assert.is(keys.tls, "1.0");
});

test("parse - another protocol is refused with AEMP's text", () => {
  protocolError(() => parseGreeting("SSH-2.0-OpenSSH_9.6"), "ERR_GREETING", "unparsable greeting, expected 'aemp', got 'SSH-2.0-OpenSSH_9.6'");
  protocolError(() => parseGreeting(""), "ERR_GREETING", "unparsable greeting, expected 'aemp', got ''");
});

test("parse - another version is refused with AEMP's text", () => {
  protocolError(() => parseGreeting("aemp;2;n;x;json"), "ERR_VERSION", "version mismatch (we: 1, they: 2)");
  protocolError(() => parseGreeting("aemp;;n;x;json"), "ERR_VERSION", "version mismatch (we: 1, they: )");
  protocolError(() => parseGreeting("aemp"), "ERR_VERSION");
  assert.is(PROTOCOL_VERSION, 1);
});

test("parse - the version is compared as a number, as Perl does", () => {
  assert.is(parseGreeting("aemp;1.0;n;x;json").version, 1);
});

test("parse - an empty node id or one with '#' is refused", () => {
  protocolError(() => parseGreeting("aemp;1;;x;json"), "ERR_GREETING");
  protocolError(() => parseGreeting("aemp;1"), "ERR_GREETING");
  protocolError(() => parseGreeting("aemp;1;a#b;x;json"), "ERR_GREETING");
});

test("parse - missing lists parse as empty", () => {
  const g = parseGreeting("aemp;1;n");
  assert.equal([g.auths, g.framings, g.keys], [[], [], {}]);
});

// ---------------------------------------------------------------- peer checks

test("peer - a reflected greeting is an echo attack", () => {
  const ours: GreetingLines = [buildGreeting({ nodeId: "me", auths: ["hmac_sha3_512"], framings: ["json"] }), makeNonce()];
  protocolError(() => checkPeer(ours, ours, "me"), "ERR_ECHO", "authentication error, echo attack?");
  protocolError(() => checkPeer(ours, [`${ours[0]}\r`, `${ours[1]}\r`], "me"), "ERR_ECHO");
});

test("peer - a node with our node id is refused", () => {
  const line1 = buildGreeting({ nodeId: "me", auths: ["hmac_sha3_512"], framings: ["json"] });
  protocolError(() => checkPeer([line1, makeNonce()], [line1, makeNonce()], "me"), "ERR_SELF", "I refuse to talk to myself");
});

test("peer - a good peer comes back parsed", () => {
  const v = VECTORS.auth[0]!;
  const peer = checkPeer(linesOfA(v), linesOfB(v), "seed");
  assert.is(peer.nodeId, "interop_echo/Zja0PDbIz8");
  assert.equal(peer.framings, ["json"]);
});

test("peer - protocol and version errors come first", () => {
  protocolError(() => checkPeer(["x", "y"], ["aemp;7;n;a;json", "z"], "me"), "ERR_VERSION");
});

test("peer - already connected text", () => {
  const err = alreadyConnectedError("other/node");
  assert.is(err.code, "ERR_ALREADY_CONNECTED");
  assert.is(err.message, "other/node already connected, not connecting again.");
});

test("tls - requested with tls=1.0 only", () => {
  assert.ok(peerOffersTls(parseGreeting("aemp;1;n;x;json;tls=1.0")));
  assert.not.ok(peerOffersTls(parseGreeting("aemp;1;n;x;json;tls=2.0")));
  assert.not.ok(peerOffersTls(parseGreeting(VECTORS.captured_handshake.b_greeting1)));
});

test("tls - the side whose nonce sorts first is the client", () => {
  const v = VECTORS.auth[0]!;
  assert.is(tlsRole(linesOfA(v), linesOfB(v)), "client");
  assert.is(tlsRole(linesOfB(v), linesOfA(v)), "server");
  assert.is(tlsRole(["l", "B"], ["l", "a"]), "client", "plain code-unit order: uppercase first");
});

// ---------------------------------------------------------------- choosing

test("choose auth - the peer's order wins among what we offer", () => {
  assert.is(chooseAuthMethod(DEFAULT_AUTH_ACCEPT, DEFAULT_AUTH_OFFER, false), "hmac_sha3_512");
  assert.is(chooseAuthMethod(DEFAULT_AUTH_ACCEPT, DEFAULT_AUTH_OFFER, true), "tls_sha3_512");
  assert.is(chooseAuthMethod(["cleartext", "hmac_sha3_512"], ["hmac_sha3_512", "cleartext"], false), "cleartext");
  assert.is(chooseAuthMethod(["tls_anon", "hmac_sha3_512"], ["tls_anon", "hmac_sha3_512"], true), "tls_anon");
});

test("choose auth - tls methods need TLS; none in common fails with the peer's list", () => {
  protocolError(
    () => chooseAuthMethod(["tls_sha3_512", "tls_anon"], DEFAULT_AUTH_OFFER, false),
    "ERR_NO_COMMON_AUTH",
    "tls_sha3_512,tls_anon: no common auth type supported",
  );
  protocolError(() => chooseAuthMethod([], DEFAULT_AUTH_OFFER, true), "ERR_NO_COMMON_AUTH", ": no common auth type supported");
});

test("choose framing - the first of the peer's that we write", () => {
  // A Perl peer's default offer: we write it cbor, its first choice.
  assert.is(chooseFraming(["cbor", "json", "storable"], FRAMINGS_WE_WRITE), "cbor");
  assert.is(chooseFraming(["superjson", "cbor", "json"], FRAMINGS_WE_WRITE), "superjson");
  assert.is(chooseFraming(["superjson", "json"], FRAMINGS_WE_WRITE), "superjson");
  assert.is(chooseFraming(["json", "superjson"], FRAMINGS_WE_WRITE), "json");
  protocolError(
    () => chooseFraming(["storable", "yaml"], FRAMINGS_WE_WRITE),
    "ERR_NO_COMMON_FRAMING",
    "storable,yaml: no common framing method supported",
  );
});

// ---------------------------------------------------------------- auth line

const OURS: GreetingLines = ["aemp;1;us;hmac_sha3_512;json", "bm9uY2UtYQ=="];
const THEIRS: GreetingLines = ["aemp;1;them;hmac_sha3_512;json", "bm9uY2UtYg=="];
const SECRET = "s3cret";

function theirLine(method: string, secret: string | undefined = SECRET, framing = "json"): string {
  return buildAuthLine(method, secret, THEIRS, OURS, framing);
}

function verifyTheirs(line: string, overrides: Partial<Parameters<typeof verifyAuthLine>[1]> = {}) {
  return verifyAuthLine(line, {
    secret: SECRET, ourLines: OURS, peerLines: THEIRS, tlsActive: false, accept: DEFAULT_AUTH_ACCEPT, ...overrides,
  });
}

test("auth line - tls_anon carries no data", () => {
  assert.is(buildAuthLine("tls_anon", undefined, OURS, THEIRS, "json"), "tls_anon;;json\n");
  assert.equal(verifyTheirs("tls_anon;;json\n", { tlsActive: true }), { method: "tls_anon", framing: "json" });
});

test("auth line - a secret as bytes equals the same secret as text", () => {
  const asBytes = buildAuthLine("hmac_sha3_512", Buffer.from("sécret"), OURS, THEIRS, "json");
  assert.is(asBytes, buildAuthLine("hmac_sha3_512", "sécret", OURS, THEIRS, "json"));
  assert.is(buildAuthLine("cleartext", new Uint8Array([0, 255]), OURS, THEIRS, "json"), "cleartext;00ff;json\n");
});

test("auth line - no secret for a secret method fails with AEMP's text", () => {
  for (const method of ["hmac_sha3_512", "cleartext"]) {
    protocolError(
      () => buildAuthLine(method, undefined, OURS, THEIRS, "json"),
      "ERR_NO_SECRET",
      "unable to handshake TLS and no shared secret configured",
    );
  }
});

test("auth line - an unknown method is an argument error", () => {
  assert.throws(() => buildAuthLine("md5", SECRET, OURS, THEIRS, "json"), TypeError);
  assert.equal([...AUTH_METHODS], ["tls_sha3_512", "hmac_sha3_512", "tls_anon", "cleartext"]);
});

test("verify - accepts LF, CRLF or no line end, and ignores fields after the third", () => {
  const line = theirLine("hmac_sha3_512").slice(0, -1);
  for (const variant of [line, `${line}\n`, `${line}\r\n`, `${line};extra;fields\n`]) {
    assert.equal(verifyTheirs(variant), { method: "hmac_sha3_512", framing: "json" });
  }
});

test("verify - returns the framing the peer will write", () => {
  assert.equal(verifyTheirs(theirLine("hmac_sha3_512", SECRET, "superjson")), { method: "hmac_sha3_512", framing: "superjson" });
  assert.equal(verifyTheirs(theirLine("hmac_sha3_512"), { framings: FRAMINGS_WE_READ }).framing, "json");
});

test("verify - a wrong or missing secret is a mismatch", () => {
  const mismatch = "authentication failure/shared secret mismatch";
  protocolError(() => verifyTheirs(theirLine("hmac_sha3_512", "other")), "ERR_AUTH_MISMATCH", mismatch);
  protocolError(() => verifyTheirs(theirLine("hmac_sha3_512"), { secret: undefined }), "ERR_AUTH_MISMATCH", mismatch);
  protocolError(() => verifyTheirs(theirLine("cleartext", "other")), "ERR_AUTH_MISMATCH", mismatch);
  protocolError(() => verifyTheirs(theirLine("cleartext"), { secret: undefined }), "ERR_AUTH_MISMATCH", mismatch);
});

test("verify - tampered or truncated auth data is a mismatch", () => {
  const good = theirLine("hmac_sha3_512");
  const [method, data, framing] = good.trimEnd().split(";") as [string, string, string];
  const flipped = (data[0] === "0" ? "1" : "0") + data.slice(1);
  for (const bad of [flipped, data.slice(1), data.toUpperCase(), "", `${data}0`]) {
    protocolError(() => verifyTheirs(`${method};${bad};${framing}\n`), "ERR_AUTH_MISMATCH");
  }
});

test("verify - tls methods without TLS are a mismatch", () => {
  protocolError(() => verifyTheirs(theirLine("tls_sha3_512")), "ERR_AUTH_MISMATCH");
  protocolError(() => verifyTheirs("tls_anon;;json\n"), "ERR_AUTH_MISMATCH");
  assert.is(verifyTheirs(theirLine("tls_sha3_512"), { tlsActive: true }).method, "tls_sha3_512");
});

test("verify - a method we do not accept or do not know is unsupported", () => {
  protocolError(
    () => verifyTheirs(theirLine("cleartext"), { accept: ["hmac_sha3_512"] }),
    "ERR_AUTH_UNSUPPORTED",
    "cleartext: fatal, selected unsupported rcv auth method",
  );
  protocolError(
    () => verifyTheirs("md5;abc;json\n", { accept: ["md5", "hmac_sha3_512"] }),
    "ERR_AUTH_UNSUPPORTED",
    "md5: fatal, selected unsupported rcv auth method",
  );
  protocolError(() => verifyTheirs("\n"), "ERR_AUTH_UNSUPPORTED", ": fatal, selected unsupported rcv auth method");
});

test("verify - a missing or unreadable framing is refused", () => {
  const [method, data] = theirLine("hmac_sha3_512").split(";") as [string, string];
  protocolError(() => verifyTheirs(`${method};${data}\n`), "ERR_BAD_AUTH_LINE");
  protocolError(() => verifyTheirs(`${method};${data};\n`), "ERR_BAD_AUTH_LINE");
  protocolError(
    () => verifyTheirs(theirLine("hmac_sha3_512", SECRET, "storable"), { framings: FRAMINGS_WE_READ }),
    "ERR_BAD_FRAMING",
    "storable: peer selected a framing we cannot read",
  );
});

// ---------------------------------------------------------------- line reader

function readAll(reader: LineReader): string[] {
  const lines: string[] = [];
  for (let line = reader.nextLine(); line !== undefined; line = reader.nextLine()) lines.push(line);
  return lines;
}

test("lines - one byte at a time, LF and CRLF, empty lines", () => {
  const reader = new LineReader();
  const bytes = Buffer.from("first\r\n\nthird é€😀\n");
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i++) {
    reader.feed(bytes.subarray(i, i + 1));
    lines.push(...readAll(reader));
  }
  assert.equal(lines, ["first", "", "third é€😀"]);
  assert.is(reader.bufferedBytes, 0);
});

test("lines - an incomplete line waits for its LF", () => {
  const reader = new LineReader();
  reader.feed(Buffer.from("partial"));
  assert.is(reader.nextLine(), undefined);
  assert.is(reader.bufferedBytes, 7);
  reader.feed(Buffer.from(" line\nnext"));
  assert.is(reader.nextLine(), "partial line");
  assert.is(reader.nextLine(), undefined);
});

test("lines - bytes behind the auth line are handed over untouched", () => {
  const v = VECTORS.auth[0]!;
  const packets = Buffer.from('["b","x\\n"]["",\n"devnull"]', "utf8");
  const stream = Buffer.concat([Buffer.from(`${v.b_greeting1}\n${v.b_greeting2}\n${v.b_sends}`), packets]);
  for (let split = 0; split <= stream.length; split++) {
    const reader = new LineReader();
    const got: string[] = [];
    for (const chunk of [stream.subarray(0, split), stream.subarray(split)]) {
      reader.feed(chunk);
      while (got.length < 3) {
        const line = reader.nextLine();
        if (line === undefined) break;
        got.push(line);
      }
    }
    assert.equal(got, [v.b_greeting1, v.b_greeting2, v.b_sends.trimEnd()]);
    assert.equal(reader.takeRest(), packets, `split at ${split}`);
  }
});

test("lines - takeRest ends the reader", () => {
  const reader = new LineReader();
  reader.feed(Buffer.from("a\n"));
  assert.is(reader.nextLine(), "a");
  assert.is(reader.takeRest().length, 0);
  assert.throws(() => reader.feed(Buffer.from("x")), /already finished/);
  assert.throws(() => reader.nextLine(), /already finished/);
});

test("limits - a line of exactly the limit passes", () => {
  const reader = new LineReader();
  reader.feed(Buffer.from(`${"x".repeat(MAX_HANDSHAKE_LINE)}\n`));
  assert.is(reader.nextLine()?.length, 4096);
});

test("limits - more than 4096 bytes without LF fails while feeding", () => {
  const reader = new LineReader();
  reader.feed(Buffer.alloc(4000, 0x78));
  protocolError(() => reader.feed(Buffer.alloc(97, 0x78)), "ERR_HANDSHAKE_TOO_LONG", "handshake line longer than 4096 bytes");
});

test("limits - an overlong complete line fails", () => {
  const reader = new LineReader();
  protocolError(() => reader.feed(Buffer.from(`${"x".repeat(5000)}\nok\n`)), "ERR_HANDSHAKE_TOO_LONG");
  const later = new LineReader();
  later.feed(Buffer.from("short\n"));
  later.feed(Buffer.from("y".repeat(3000)));
  assert.is(later.nextLine(), "short");
  protocolError(() => later.feed(Buffer.from(`${"y".repeat(2000)}\n`)), "ERR_HANDSHAKE_TOO_LONG");
});

test("limits - packets behind the auth line do not count", () => {
  const reader = new LineReader();
  reader.feed(Buffer.concat([Buffer.from("auth;x;json\n"), Buffer.alloc(100_000, 0x5b)]));
  assert.is(reader.nextLine(), "auth;x;json");
  assert.is(reader.takeRest().length, 100_000);
});

test("limits - the limit is configurable", () => {
  const reader = new LineReader(8);
  protocolError(() => reader.feed(Buffer.from("123456789")), "ERR_HANDSHAKE_TOO_LONG", "handshake line longer than 8 bytes");
  assert.throws(() => new LineReader(0), TypeError);
});

// ---------------------------------------------------------------- whole handshake

/** Runs both ends of a handshake through the pure functions; each side reads and writes `framings`. */
function handshake(a: { nodeId: string; secret: string; framings: readonly string[] }, b: typeof a) {
  const sides = [a, b].map((side) => ({
    ...side,
    lines: [
      buildGreeting({ nodeId: side.nodeId, auths: DEFAULT_AUTH_ACCEPT, framings: side.framings, extras: greetingExtras() }),
      makeNonce(),
    ] as GreetingLines,
    reader: new LineReader(),
  }));
  const [sa, sb] = sides as [(typeof sides)[0], (typeof sides)[0]];
  sa.reader.feed(Buffer.from(`${sb.lines[0]}\n${sb.lines[1]}\n`));
  sb.reader.feed(Buffer.from(`${sa.lines[0]}\n${sa.lines[1]}\n`));
  const results = [];
  const authLines: string[] = [];
  for (const side of [sa, sb]) {
    const peerLines: GreetingLines = [side.reader.nextLine()!, side.reader.nextLine()!];
    const peer = checkPeer(side.lines, peerLines, side.nodeId);
    const method = chooseAuthMethod(peer.auths, DEFAULT_AUTH_OFFER, false);
    const framing = chooseFraming(peer.framings, side.framings);
    authLines.push(buildAuthLine(method, side.secret, side.lines, peerLines, framing));
  }
  sa.reader.feed(Buffer.from(authLines[1]!));
  sb.reader.feed(Buffer.from(authLines[0]!));
  for (const [side, other] of [[sa, sb], [sb, sa]] as const) {
    results.push(verifyAuthLine(side.reader.nextLine()!, {
      secret: side.secret, ourLines: side.lines, peerLines: other.lines, tlsActive: false,
      accept: DEFAULT_AUTH_ACCEPT, framings: side.framings,
    }));
  }
  return results;
}

test("handshake - two of our nodes agree on superjson-bin", () => {
  const a = { nodeId: "a", secret: "k", framings: FRAMINGS_WE_READ };
  assert.equal(handshake(a, { ...a, nodeId: "b" }), [
    { method: "hmac_sha3_512", framing: "superjson-bin" },
    { method: "hmac_sha3_512", framing: "superjson-bin" },
  ]);
});

test("handshake - a node before superjson-bin (0.1) and one of ours agree on superjson", () => {
  const a = { nodeId: "a", secret: "k", framings: FRAMINGS_WE_READ };
  const old = { nodeId: "b", secret: "k", framings: ["superjson", "cbor", "json"] as const };
  assert.equal(handshake(a, old), [
    { method: "hmac_sha3_512", framing: "superjson" },
    { method: "hmac_sha3_512", framing: "superjson" },
  ]);
});

test("handshake - a Perl peer (cbor,json,storable) gets cbor both ways", () => {
  const results = handshake(
    { nodeId: "a", secret: "k", framings: FRAMINGS_WE_READ },
    { nodeId: "b", secret: "k", framings: ["cbor", "json", "storable"] },
  );
  assert.equal(results, [{ method: "hmac_sha3_512", framing: "cbor" }, { method: "hmac_sha3_512", framing: "cbor" }]);
});

test("handshake - a json-only peer gets json both ways", () => {
  const results = handshake(
    { nodeId: "a", secret: "k", framings: FRAMINGS_WE_READ },
    { nodeId: "b", secret: "k", framings: ["json"] },
  );
  assert.equal(results, [{ method: "hmac_sha3_512", framing: "json" }, { method: "hmac_sha3_512", framing: "json" }]);
});

test("handshake - each direction chooses its own framing", () => {
  const results = handshake(
    { nodeId: "a", secret: "k", framings: ["json", "superjson"] },
    { nodeId: "b", secret: "k", framings: ["superjson", "json"] },
  );
  assert.equal(results.map((r) => r.framing), ["json", "superjson"]);
});

test("handshake - different secrets fail on both sides", () => {
  protocolError(
    () => handshake({ nodeId: "a", secret: "k1", framings: ["json"] }, { nodeId: "b", secret: "k2", framings: ["json"] }),
    "ERR_AUTH_MISMATCH",
  );
});

test.run();
