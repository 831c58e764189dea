// A packet sent to many links (a global node's fan-out of a change): SharedPacket
// encodes it once per framing, hands every link of that framing the same encoding
// (the same bytes), checks each link's own size limit, and fails as send would for a
// packet that cannot be encoded.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EncodeError } from "../lib/errors.ts";
import { SharedPacket, encodeChecked } from "../lib/transport/connection.ts";
import { throwsSync } from "./helpers.ts";

const packet = ["", "g_chg2", "family", { key: { t: 1 } }, []];

test("shared - one encoding per framing, the same one for every link, equal to a link's own", () => {
  const shared = new SharedPacket(packet);
  for (const framing of ["json", "superjson", "cbor"]) {
    const first = shared.encoded(framing, 1 << 20, "n1");
    const second = shared.encoded(framing, 1 << 20, "n2");
    assert.ok(first === second, `${framing}: the same encoding handed to both links`);
    assert.equal(first, encodeChecked(framing, packet, 1 << 20, "n1"), `${framing}: what send would write`);
  }
  // For bytes, "the same" is the same buffer: nothing was encoded twice.
  assert.ok(Buffer.isBuffer(shared.encoded("cbor", 1 << 20, "n3")));
});

test("shared - each link's size limit applies; an unencodable packet fails every link", () => {
  const shared = new SharedPacket(["", "g_chg2", "family", { big: "x".repeat(1000) }, []]);
  assert.ok(typeof shared.encoded("json", 1 << 20, "roomy") === "string");
  throwsSync(() => shared.encoded("json", 100, "small"), EncodeError);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const bad = new SharedPacket(["", "g_chg2", "family", cyclic, []]);
  throwsSync(() => bad.encoded("json", 1 << 20, "a"), EncodeError);
  throwsSync(() => bad.encoded("json", 1 << 20, "b"), EncodeError);
});

test.run();
