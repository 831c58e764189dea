/**
 * Data connections between nodes that share the network's certificate: the data link
 * runs TLS like the node links (and authenticates inside it). This process is the
 * seed; child nodes (spec/fixtures/stream-node.ts) send and receive. Certificates are
 * made with openssl in a temp dir.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type DataConn, configure, dataConn, peval, port } from "../lib/index.ts";
import { globalService } from "../lib/global/current.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { deferred, waitFor } from "./helpers.ts";
import { SECRET, type StreamNode, startStreamNode, stopStreamNodes } from "./stream-helpers.ts";

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "aemp-dataconn-tls-"));
execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-days", "30", "-subj", "/CN=aemp-spec"], { stdio: "ignore" });
const cert = readFileSync(join(dir, "k.pem"), "utf8") + readFileSync(join(dir, "c.pem"), "utf8");

const { addresses } = await configure({ nodeid: "dataconn-tls/%u", binds: ["127.0.0.1:*"], secret: SECRET, cert });
const seed = addresses[0];

let a: StreamNode;
let b: StreamNode;

test.before(async () => {
  [a, b] = await Promise.all([startStreamNode({ seeds: [seed], cert }, "sender"), startStreamNode({ seeds: [seed], cert }, "receiver")]);
  const d = deferred<void>();
  const stop = globalService().watch("'l", (family) => {
    if (a.nodeId in family && b.nodeId in family) d.resolve();
  });
  await waitFor(d.promise, 5000, "both nodes in 'l").finally(stop);
});

test.after(async () => {
  await stopStreamNodes();
  await currentNetwork()?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("tls - the data link is encrypted and carries bytes both ways", async () => {
  const p = port();
  const conn: DataConn = await peval(p, () => dataConn(b.nodeId, 5, "spec::echo"))!;
  assert.is(conn.encrypted, true);
  const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 256));
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    conn.on("data", (c: Buffer) => chunks.push(c));
    conn.once("end", () => resolve());
    conn.once("error", reject);
  });
  Readable.from([payload]).pipe(conn);
  await waitFor(ended, 5000, "the echo to end");
  const got = Buffer.concat(chunks);
  let diff = 0;
  while (diff < got.length && got[diff] === payload[diff]) diff++;
  assert.ok(got.equals(payload), `echo of ${got.length} bytes differs from the ${payload.length} sent at byte ${diff}`);
});

test("tls - 64 MiB between two processes: checksum and flat memory", async () => {
  const total = 64 * MiB;
  const sunk = b.event((e) => e.label === "tls" && (e.ev === "sunk" || e.ev === "sink-error"), 20_000, "the end of the transfer");
  const sent = await a.call("send", { node: b.nodeId, bytes: total, args: ["tls", {}] }, 20_000);
  assert.is(sent.failed, undefined, `send failed: ${sent.failed}`);
  const got = await sunk;
  assert.is(got.ev, "sunk", `sink failed: ${got.message}`);
  assert.is(got.sha256, sent.sha256);
  for (const [side, mem] of [["sender", sent.mem], ["receiver", got.mem]] as const) {
    assert.ok(mem.rssGrowth < 48 * MiB, `${side} RSS grew by ${(mem.rssGrowth / MiB).toFixed(1)} MiB`);
    assert.ok(mem.maxArrayBuffers < 32 * MiB, `${side} held up to ${(mem.maxArrayBuffers / MiB).toFixed(1)} MiB of buffers`);
  }
});

test("tls - the sender dies mid-transfer: the receiver's stream errors", async () => {
  a.command("send", { node: b.nodeId, bytes: 4096 * MiB, args: ["tls-victim", { slowEvery: 2, progressEvery: 4 * MiB }] });
  await b.event((e) => e.ev === "progress" && e.label === "tls-victim", 10_000, "the transfer under way");
  await a.kill();
  const end = await b.event((e) => (e.ev === "sunk" || e.ev === "sink-error") && e.label === "tls-victim", 5000, "the receiver's end");
  assert.is(end.ev, "sink-error");
  assert.is(end.code, "ERR_DATACONN_LOST");
});

test.run();
