/**
 * Data connections that go wrong, with real processes on 127.0.0.1: a peer killed in
 * the middle of a transfer (either side), a data link presenting the wrong secret, a
 * node whose link fails authentication. This process is the seed the children join.
 */
import { type Socket, connect } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DataConnError, NODE, configure, dataConn, peval, port, snd } from "../lib/index.ts";
import { globalService } from "../lib/global/current.ts";
import { pendingDataConns } from "../lib/node/dataconn.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { type GreetingLines, buildAuthLine, buildGreeting, makeNonce, verifyAuthLine } from "../lib/transport/handshake.ts";
import { deferred, portDeath, rejects, waitFor } from "./helpers.ts";
import { SECRET, type StreamNode, startStreamNode, stopStreamNodes } from "./stream-helpers.ts";

const MiB = 1024 * 1024;
const { addresses } = await configure({ nodeid: "dataconn-fail/%u", binds: ["127.0.0.1:*"], secret: SECRET });
const seed = addresses[0];

/** Resolves once every node in `ids` has its addresses in the global database. */
function registered(ids: string[], ms = 5000): Promise<void> {
  const d = deferred<void>();
  const stop = globalService().watch("'l", (family) => {
    if (ids.every((id) => id in family)) d.resolve();
  });
  return waitFor(d.promise, ms, `${ids.join(", ")} in 'l`).finally(stop);
}

async function pair(): Promise<[StreamNode, StreamNode]> {
  const nodes = await Promise.all([startStreamNode({ seeds: [seed] }, "sender"), startStreamNode({ seeds: [seed] }, "receiver")]);
  await registered(nodes.map((n) => n.nodeId));
  return nodes;
}

test.after(async () => {
  await stopStreamNodes();
  await currentNetwork()?.stop();
});

// ---- peers dying ---------------------------------------------------------------------------

test("killed - the sender dies mid-transfer: the receiver's stream errors (not a clean end)", async () => {
  const [sender, receiver] = await pair();
  const id = sender.command("send", { node: receiver.nodeId, bytes: 4096 * MiB, args: ["victim", { slowEvery: 2, progressEvery: 8 * MiB }] });
  await receiver.event((e) => e.ev === "progress" && e.label === "victim", 10_000, "the transfer under way");
  await sender.kill();
  const end = await receiver.event((e) => (e.ev === "sunk" || e.ev === "sink-error") && e.label === "victim", 5000, "the receiver's end");
  assert.is(end.ev, "sink-error", "a dead sender looked like a completed transfer");
  assert.is(end.code, "ERR_DATACONN_LOST");
  assert.match(end.message, sender.nodeId);
  assert.ok(end.bytes < 4096 * MiB);
  assert.not.ok(sender.events.some((e) => e.re === id), "the sender cannot have finished");
});

test("killed - the receiver dies mid-transfer: the sender's pipeline fails", async () => {
  const [sender, receiver] = await pair();
  const id = sender.command("send", { node: receiver.nodeId, bytes: 4096 * MiB, args: ["victim", { slowEvery: 2, progressEvery: 8 * MiB }] });
  await receiver.event((e) => e.ev === "progress" && e.label === "victim", 10_000, "the transfer under way");
  await receiver.kill();
  const answer = await sender.answer(id, 5000, "the sender's result");
  assert.is(answer.code, "ERR_DATACONN_LOST", `expected a lost connection, got ${JSON.stringify(answer)}`);
  assert.match(answer.failed, receiver.nodeId);
});

// ---- authentication -------------------------------------------------------------------------

/** A hand-made data link to `address`: greeting, auth line, then raw bytes. */
class RawDataLink {
  readonly socket: Socket;
  private buffer = Buffer.alloc(0);
  private readonly wake = new Set<() => void>();
  readonly closed: Promise<void>;

  constructor(address: string) {
    const i = address.lastIndexOf(":");
    this.socket = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
    this.socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (const w of this.wake) w();
    });
    this.socket.on("error", () => {});
    const closed = deferred<void>();
    this.closed = closed.promise;
    this.socket.on("close", () => {
      closed.resolve();
      for (const w of this.wake) w();
    });
  }

  line(ms = 2000): Promise<string> {
    const d = deferred<string>();
    const check = (): void => {
      const end = this.buffer.indexOf(0x0a);
      if (end >= 0) {
        const line = this.buffer.toString("utf8", 0, end);
        this.buffer = this.buffer.subarray(end + 1);
        d.resolve(line);
      } else if (this.socket.destroyed) d.reject(new Error("closed while waiting for a line"));
    };
    this.wake.add(check);
    check();
    return waitFor(d.promise, ms, "a handshake line").finally(() => this.wake.delete(check));
  }

  /** Greets as `nodeId` asking for data link `id`, and sends an auth line made with `secret`. */
  async handshake(nodeId: string, id: string, secret: string): Promise<{ ours: GreetingLines; theirs: GreetingLines }> {
    const ours: GreetingLines = [buildGreeting({ protocol: "aemp-dataconn", nodeId, auths: ["hmac_sha3_512"], framings: ["json"], extras: { dataconn_id: id } }), makeNonce()];
    this.socket.write(`${ours[0]}\n${ours[1]}\n`);
    const theirs: GreetingLines = [await this.line(), await this.line()];
    this.socket.write(buildAuthLine("hmac_sha3_512", secret, ours, theirs, "json"));
    return { ours, theirs };
  }
}

test("auth - a data link with the wrong secret is refused and the init never runs; the right one still works", async () => {
  const receiver = await startStreamNode({ seeds: [seed] }, "receiver");
  await registered([receiver.nodeId]);
  const id = `forged@${NODE()}`;
  const caller = port();
  // Announce the link as dataConn would (this process is the caller).
  snd(`${receiver.nodeId}#`, "AnyEvent::MP::DataConn::_expect", id, caller, 10, "spec::sink", "forged", {});

  const bad = new RawDataLink(receiver.addresses[0]);
  const badLines = await bad.handshake(NODE(), id, "not the secret");
  assert.match(badLines.theirs[0], /^aemp;1;/); // a listener greets with plain aemp
  await waitFor(bad.closed, 3000, "the receiver to close the forged link");

  const intruder = new RawDataLink(receiver.addresses[0]);
  await intruder.handshake("intruder/x", id, SECRET); // right secret, but not the node that announced it
  await waitFor(intruder.closed, 3000, "the receiver to close the intruder's link");

  const good = new RawDataLink(receiver.addresses[0]);
  const { ours, theirs } = await good.handshake(NODE(), id, SECRET);
  verifyAuthLine(await good.line(), { secret: SECRET, ourLines: ours, peerLines: theirs, tlsActive: false, accept: ["hmac_sha3_512"] });
  good.socket.end(Buffer.from("twelve bytes"));
  const sunk = await receiver.event((e) => (e.ev === "sunk" || e.ev === "sink-error") && e.label === "forged", 3000, "the sink");
  assert.is(sunk.ev, "sunk");
  assert.is(sunk.bytes, 12);
  assert.is(receiver.events.filter((e) => e.label === "forged" && e.ev !== "progress").length, 1, "the init ran more than once");
  await receiver.kill();
});

test("auth - a node whose link fails authentication: the port dies with that text", async () => {
  const stranger = await startStreamNode({ secret: "another network's secret" }, "stranger");
  // Pretend the directory knows where it listens, so we dial it.
  globalService().localSet("'l", stranger.nodeId, stranger.addresses);
  try {
    const p = port();
    const death = portDeath(p, 5000);
    const conn = peval(p, () => dataConn(stranger.nodeId, 5, "spec::sink", "never", {}))!;
    const err = (await rejects(conn, { instanceOf: DataConnError, code: "ERR_DATACONN" }, 5000)) as DataConnError;
    assert.equal(await death, ["AnyEvent::MP::DataConn", `${stranger.nodeId}: authentication failure/shared secret mismatch`]);
    assert.equal(err.reason, await death);
    assert.is(pendingDataConns(), 0);
    assert.not.ok(stranger.events.some((e) => e.label === "never"));
  } finally {
    globalService().localDel("'l", [stranger.nodeId]);
  }
});

test.run();
