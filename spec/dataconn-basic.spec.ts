/**
 * Data connections: the API, local (in-memory) pairs, and a remote peer in a child
 * process (spec/fixtures/stream-node.ts) for echo, ends and setup failures. This
 * process is the seed the child joins.
 */
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DataConn, DataConnError, NODE, PortContextError, configure, dataConn, kil, peval, port, registerInit } from "../lib/index.ts";
import { globalService } from "../lib/global/current.ts";
import { pendingDataConns } from "../lib/node/dataconn.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { deferred, flushRunQueue, portDeath, rejects, throwsSync, waitFor } from "./helpers.ts";
import { SECRET, type StreamNode, startStreamNode, stopStreamNodes } from "./stream-helpers.ts";

const { addresses } = await configure({ nodeid: "dataconn-basic/%u", binds: ["127.0.0.1:*"], secret: SECRET });

let peer: StreamNode;

test.before(async () => {
  try {
    peer = await startStreamNode({ seeds: [addresses[0]] }, "peer");
    const d = deferred<void>();
    const stop = globalService().watch("'l", (family) => {
      if (peer.nodeId in family) d.resolve();
    });
    await waitFor(d.promise, 5000, "the peer in 'l").finally(stop);
  } catch (err) {
    console.error("dataconn-basic setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  await stopStreamNodes();
  await currentNetwork()?.stop();
});

/** Opens a data connection from a fresh port; the port's death reason is watched. */
function open(node: string, init: string, ...args: unknown[]): { conn: Promise<DataConn>; port: string; death: Promise<unknown[]> } {
  const p = port();
  const death = portDeath(p, 5000);
  death.catch(() => {}); // only some tests wait for it
  const conn = peval(p, () => dataConn(node, 5, init, ...args))!;
  return { conn, port: p, death };
}

/** Everything a readable delivers until it ends (nothing if it has ended already). */
async function readAll(r: Readable, ms = 3000): Promise<Buffer> {
  if (r.readableEnded) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  await waitFor(
    new Promise<void>((resolve, reject) => {
      r.on("data", (c: Buffer) => chunks.push(c));
      r.once("end", () => resolve());
      r.once("error", reject);
    }),
    ms,
    "the end of the stream",
  );
  return Buffer.concat(chunks);
}

function closed(s: DataConn, ms = 3000): Promise<void> {
  return waitFor(new Promise<void>((resolve) => (s.closed ? resolve() : s.once("close", () => resolve()))), ms, "the stream to close");
}

let localInit: ((conn: DataConn, ...args: unknown[]) => void) | undefined;
registerInit("local::init", (...args: unknown[]) => {
  const conn = args.pop() as DataConn;
  localInit?.(conn, ...args);
});

// ---- the API ------------------------------------------------------------------------

test("api - outside port context it throws PortContextError", () => {
  throwsSync(() => dataConn(peer.nodeId, 5, "spec::echo"), PortContextError);
});

test("api - argument errors name the parameter", () => {
  const p = port();
  peval(p, () => {
    throwsSync(() => dataConn("", 5, "x"), { instanceOf: TypeError, message: "'node'" });
    throwsSync(() => dataConn(peer.nodeId, -1, "x"), { instanceOf: TypeError, message: "'timeout'" });
    throwsSync(() => dataConn(peer.nodeId, 5, ""), { instanceOf: TypeError, message: "'init'" });
  });
});

// ---- local pairs ----------------------------------------------------------------------

test("local - a connection to our own node is an in-memory pair; the init gets args and the other end", async () => {
  const got = deferred<{ args: unknown[]; conn: DataConn }>();
  localInit = (conn, ...args) => got.resolve({ args, conn });
  const { conn } = open(NODE(), "local::init", "a", 2);
  const mine = await conn;
  const { args, conn: theirs } = await waitFor(got.promise, 2000, "the init call");
  assert.equal(args, ["a", 2]);
  assert.ok(mine instanceof DataConn);
  assert.is(mine.node, NODE());
  assert.is(theirs.id, mine.id);
  mine.end("hello, other end");
  assert.is((await readAll(theirs)).toString(), "hello, other end");
  // Its readable side ended, so it ended its writable side: ours ends too.
  assert.is((await readAll(mine)).length, 0);
  await closed(mine);
  await closed(theirs);
});

test("local - back-pressure: a writer waits for a reader that does not read", async () => {
  const got = deferred<DataConn>();
  localInit = (c) => got.resolve(c);
  const mine = await open(NODE(), "local::init").conn;
  const theirs = await got.promise;
  let writes = 0;
  const chunk = Buffer.alloc(16 * 1024);
  while (mine.write(chunk)) writes++;
  assert.ok(writes * chunk.length < 1024 * 1024, `wrote ${writes} chunks before write() said stop`);
  const drained = new Promise<void>((resolve) => mine.once("drain", () => resolve()));
  theirs.resume();
  await waitFor(drained, 2000, "drain once the reader reads");
  mine.destroy();
  await closed(theirs);
});

test("local - an unregistered init kills the port with a clear reason and rejects", async () => {
  const { conn, death } = open(NODE(), "local::missing");
  const err = (await rejects(conn, { instanceOf: DataConnError, code: "ERR_DATACONN" })) as DataConnError;
  assert.equal(await death, ["AnyEvent::MP::DataConn", `${NODE()}: no init function registered as 'local::missing'`]);
  assert.equal(err.reason, await death);
});

// ---- a remote peer --------------------------------------------------------------------

test("remote - bytes go to the peer's init and come back; ending ours ends both", async () => {
  const mine = await open(peer.nodeId, "spec::echo").conn;
  assert.is(mine.node, peer.nodeId);
  const payload = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
  const echoed = readAll(mine);
  mine.end(payload);
  assert.ok((await echoed).equals(payload), "the echo differs from what was sent");
  await closed(mine);
  assert.is(pendingDataConns(), 0);
});

test("remote - the init's arguments arrive, the data is raw bytes", async () => {
  const mine = await open(peer.nodeId, "spec::sink", "args", { progressEvery: 1 }).conn;
  mine.end(Buffer.from([0, 255, 10, 13, 0x7b]));
  const sunk = await peer.event((e) => e.ev === "sunk" && e.label === "args", 3000, "the sink's end");
  assert.is(sunk.bytes, 5);
  assert.is((await peer.event((e) => e.ev === "progress" && e.label === "args")).bytes, 5);
  // We never read, but nothing came either: the end arrives and the stream closes.
  await closed(mine);
});

test("remote - destroying our end ends the peer's stream", async () => {
  const mine = await open(peer.nodeId, "spec::sink", "destroyed", {}).conn;
  mine.write(Buffer.alloc(1000));
  await new Promise<void>((resolve) => mine.write(Buffer.alloc(1000), () => resolve()));
  mine.destroy();
  const end = await peer.event((e) => (e.ev === "sunk" || e.ev === "sink-error") && e.label === "destroyed", 3000, "the sink's end");
  assert.is(end.ev, "sunk");
  assert.is(end.bytes, 2000);
});

test("remote - an init that throws closes the peer's end: ours ends", async () => {
  const mine = await open(peer.nodeId, "spec::throws").conn;
  assert.is((await readAll(mine)).length, 0);
  await closed(mine);
});

test("remote - a peer without a listener is asked to dial back", async () => {
  const listenerless = await startStreamNode({ seeds: [addresses[0]], binds: [] }, "listenerless");
  const d = deferred<void>();
  const stop = globalService().watch("'l", (family) => {
    if (listenerless.nodeId in family) d.resolve();
  });
  await waitFor(d.promise, 5000, "the listenerless node in 'l").finally(stop);
  assert.equal(listenerless.addresses, []);
  const mine = await open(listenerless.nodeId, "spec::echo").conn;
  const echoed = readAll(mine);
  mine.end("round trip through a link the other side dialled");
  assert.is((await echoed).toString(), "round trip through a link the other side dialled");
  await listenerless.kill();
});

test("remote - an init the peer has not registered: the port dies with the peer's reason", async () => {
  const { conn, death } = open(peer.nodeId, "spec::nope");
  const err = (await rejects(conn, { instanceOf: DataConnError, code: "ERR_DATACONN" }, 5000)) as DataConnError;
  assert.equal(await death, ["AnyEvent::MP::DataConn", `${peer.nodeId}: no init function registered as 'spec::nope'`]);
  assert.is(err.node, peer.nodeId);
  assert.is(pendingDataConns(), 0);
});

test("remote - an unknown node: the port dies with 'no known address'", async () => {
  const { conn, death } = open("nobody/here", "spec::echo");
  await rejects(conn, { instanceOf: DataConnError, message: "no known address" }, 5000);
  assert.equal(await death, ["AnyEvent::MP::DataConn", "nobody/here: no known address"]);
});

test("remote - the timeout covers the whole setup", async () => {
  const p = port();
  const death = portDeath(p, 3000);
  const conn = peval(p, () => dataConn(peer.nodeId, 0.001, "spec::echo"))!;
  await rejects(conn, DataConnError, 3000);
  assert.equal(await death, ["AnyEvent::MP::DataConn", `${peer.nodeId}: unable to establish connection within 0.001 seconds`]);
  assert.is(pendingDataConns(), 0);
});

test("remote - the calling port dying first abandons the setup", async () => {
  const p = port();
  const death = portDeath(p);
  const conn = peval(p, () => dataConn(peer.nodeId, 5, "spec::echo"))!;
  kil(p, "changed my mind");
  assert.equal(await death, ["changed my mind"]);
  const err = (await rejects(conn, { instanceOf: DataConnError, code: "ERR_DATACONN" })) as DataConnError;
  assert.equal(err.reason, ["changed my mind"]);
  await flushRunQueue();
  assert.is(pendingDataConns(), 0);
});

test.run();
