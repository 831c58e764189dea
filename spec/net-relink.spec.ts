// Which link a node keeps, and what it may be told before a peer is authenticated.
// This spec process is a global node N (its own seed, connect_interval 0.5 s); scripted
// fake peers (spec/net-helpers.ts FakePeer) and child nodes talk to it.
// - A new authenticated link from a node N thinks is connected replaces the old one
//   (a half-open link must not lock the peer out), firing the old link's monitors
//   first; a second link on the heels of the first (a crossing) is refused, at warn,
//   when the peer has the larger node ID.
// - A connection that has not authenticated has no say: a greeting claiming node B's
//   ID, then silence, must not delay N's own dial to B.
// - After a link is lost, a send dials the node's last known addresses, even when the
//   database no longer has them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, cal, configure, mon, snd } from "../lib/index.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { type LogCapture, captureLog, deferred, portDeath, waitFor } from "./helpers.ts";
import { FakePeer, SECRET, type TestNode, freePort, registerListeners, startNode, stopAllNodes } from "./net-helpers.ts";
import { TcpProxy } from "./redis-helpers.ts";

const CONNECT_INTERVAL = 0.5;
let address = "";
let log: LogCapture;
const fakes: FakePeer[] = [];

async function fake(nodeId: string): Promise<FakePeer> {
  const f = await FakePeer.connect(address);
  fakes.push(f);
  await f.handshake({ nodeId });
  return f;
}

/** cal as a promise of the reply (`[]` on timeout). */
function calP(target: string, msg: unknown[], timeout: number): Promise<unknown[]> {
  return waitFor(new Promise<unknown[]>((resolve) => cal(target, ...msg, (...reply: unknown[]) => resolve(reply), timeout)), timeout * 1000 + 1000, `a reply from ${target}`);
}

/** Tells N (a global node) where `node` listens, as that node's registration would. */
async function register(node: TestNode): Promise<void> {
  fakes.push(await registerListeners(address, { [node.nodeId]: node.addresses }));
}

test.before(async () => {
  try {
    const self = `127.0.0.1:${await freePort()}`;
    ({ addresses: [address] } = await configure({ nodeid: "relink/%u", binds: [self], seeds: [self], secret: SECRET, norc: true, connect_interval: CONNECT_INTERVAL }));
    log = captureLog();
  } catch (err) {
    console.error("net-relink setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  log.stop();
  for (const f of fakes) f.close();
  await stopAllNodes();
  await currentNetwork()?.stop();
});

test("relink - a new authenticated link replaces a live one: its monitors fire with 'switched connections' first", async () => {
  const id = `halfopen/${Date.now()}`;
  const old = await fake(id);
  const gone = portDeath(`${id}#p`, 5000);
  await old.packet((p) => p[0] === "" && p[1] === "mon1" && p[2] === "p", 2000, "the mon1 on the old link");
  // The peer lost the old link (say, its host rebooted and kept its node ID): it dials again.
  await new Promise<void>((r) => setTimeout(r, CONNECT_INTERVAL * 1000 + 100)); // older than a crossing
  const renewed = await fake(id);
  assert.equal(await gone, ["transport_error", id, "switched connections"]);
  await old.waitClosed();
  const [, , time] = await renewed.ping();
  assert.is(typeof time, "number");
  // Traffic goes on the new link.
  snd(`${id}#inbox`, "hello");
  assert.equal(await renewed.packet((p) => p[0] === "inbox"), ["inbox", "hello"]);
});

test("relink - a link on the heels of a live one, from a node with a larger ID, is refused at its greeting with a warning; the live one stays", async () => {
  // Two links within connect_interval: both ends keep the one the smaller node dialled.
  // N is the smaller here, so the second link, dialled by the peer, is the one to go.
  const id = `zz/crossing/${Date.now()}`;
  const first = await fake(id);
  const second = await FakePeer.connect(address);
  fakes.push(second);
  await second.handshake({ nodeId: id }).catch(() => {});
  await second.waitClosed();
  const line = await log.until((r) => r.level <= 5 && r.text.includes(`${id} already connected`));
  assert.match(line.text, /crossed links/);
  const [, , time] = await first.ping();
  assert.is(typeof time, "number");
});

for (const name of ["a", "z"]) {
  test(`unauthenticated - a greeting claiming node ${name}/... then silence does not delay the dial to it`, async () => {
    const B = await startNode({}, { name });
    await register(B);
    const echo = await B.port("echo");
    const impostor = await FakePeer.connect(address);
    fakes.push(impostor);
    const lines = impostor.greeting({ nodeId: B.nodeId });
    await impostor.write(`${lines[0]}\n${lines[1]}\n`);
    await impostor.readGreeting();
    await impostor.readLine(); // N's auth line: N has read the claim; the impostor sends no auth line
    const watch = deferred<unknown[]>();
    mon(B.nodeId, (...reason: unknown[]) => watch.resolve(reason));
    const t0 = Date.now();
    assert.equal(await calP(echo, ["still reachable?"], 3), ["still reachable?"]);
    assert.ok(Date.now() - t0 < 2000, `the call took ${Date.now() - t0} ms`);
    assert.not.ok(watch.settled, "B's monitors fired");
    await B.kill();
  });
}

test("last known addresses - after the link is lost, a send dials the node even when the database forgot it", async () => {
  // P reaches N only through a proxy, which then cuts it off and refuses it: N, as a
  // global node, deletes P's entries, its addresses with them.
  const proxy = await TcpProxy.start(Number(address.slice(address.lastIndexOf(":") + 1)));
  try {
    const P = await startNode({ seeds: [`127.0.0.1:${proxy.port}`], connect_interval: CONNECT_INTERVAL }, { name: "p" });
    await P.joined(NODE());
    const rec = await P.port("record");
    snd(rec, "before");
    await P.message(rec, "before");
    const lost = portDeath(P.nodeId, 5000);
    proxy.cut();
    await lost;
    snd(rec, "after");
    assert.equal(await P.message(rec, "after", 3000), ["after"]);
  } finally {
    await proxy.close();
  }
});

test.run();
