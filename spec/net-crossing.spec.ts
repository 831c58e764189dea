// Crossed links: two nodes dialling each other at the same time. Both ends must keep the
// same one link (the one dialled by the smaller node ID) and lose nothing. A real node N
// (a child process, connect_interval 0.5 s) meets a fake peer F played by this process
// with exact timing: F is registered with the seed S under a listener of this process,
// so when N sends to F it dials that listener (link "out", N -> F), while F dials N
// (link "in", F -> N) whenever the test says.
import { type Server, type Socket, createServer } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { deferred, waitFor } from "./helpers.ts";
import { FakePeer, type TestNode, startNode, stopAllNodes } from "./net-helpers.ts";

let S: TestNode;
let listener: Server;
let listenAddress = "";
const fakes: FakePeer[] = [];
/** Connections nodes made to our listener, in order; `nextDial()` takes the next one. */
const accepted: Socket[] = [];
let onAccept: (() => void) | undefined;

function nextDial(ms = 3000): Promise<FakePeer> {
  const d = deferred<FakePeer>();
  const check = (): void => {
    const s = accepted.shift();
    if (s !== undefined) {
      const f = FakePeer.wrap(s);
      fakes.push(f);
      d.resolve(f);
    }
  };
  onAccept = check;
  check();
  return waitFor(d.promise, ms, "the node to dial our listener");
}

/** Registers node ID `id` with the seed, listening on our listener. */
async function registerFake(id: string): Promise<void> {
  const reg = await FakePeer.connect(S.addresses[0]);
  fakes.push(reg);
  await reg.handshake({ nodeId: `${id}.registrar` });
  await reg.sendPacket(["", "g_slave", { "'l": { [id]: [listenAddress] } }]);
  await reg.ping(); // processed by the seed
}

/** A fresh node N, joined to the seed. */
async function freshNode(name: string): Promise<TestNode> {
  const N = await startNode({ seeds: [S.addresses[0]], connect_interval: 0.5 }, { name });
  await N.joined(S);
  return N;
}

test.before(async () => {
  try {
    S = await startNode({}, { name: "seed" });
    listener = createServer((socket) => {
      socket.on("error", () => {});
      accepted.push(socket);
      onAccept?.();
    });
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    listenAddress = `127.0.0.1:${(listener.address() as { port: number }).port}`;
  } catch (err) {
    console.error("net-crossing setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  for (const f of fakes) f.close();
  for (const s of accepted) s.destroy();
  listener?.close();
  await stopAllNodes();
});

test("crossed - N's ID is smaller: N refuses F's link at its greeting and keeps its own", async () => {
  const N = await freshNode("m");
  const F = `z/fake.${Date.now()}`;
  await registerFake(F);
  N.command("snd", { to: `${F}#inbox`, msg: ["hello", 1] });
  const out = await nextDial(); // N -> F, the link both must keep
  // F dials N before answering N's dial.
  const inbound = await FakePeer.connect(N.addresses[0]);
  fakes.push(inbound);
  const ours = inbound.greeting({ nodeId: F });
  await inbound.write(`${ours[0]}\n${ours[1]}\n`);
  await inbound.readGreeting();
  await inbound.waitClosed(); // refused...
  assert.equal(await inbound.readLine().catch(() => "no auth line"), "no auth line"); // ...before any auth line
  // N's own link completes and carries the message.
  await out.handshake({ nodeId: F });
  assert.equal(await out.packet((p) => p[0] === "inbox"), ["inbox", "hello", 1]);
  await N.linkedTo(F);
  assert.not.ok(N.events.some((e) => e.ev === "node" && e.nodeId === F && e.up === false));
});

test("crossed - F's ID is smaller: N gives its own dial up for F's link, the message travels on F's", async () => {
  const N = await freshNode("m");
  const F = `a/fake.${Date.now()}`;
  await registerFake(F);
  await N.mon(`${F}#inbox`); // must not fire
  N.command("snd", { to: `${F}#inbox`, msg: ["hello", 2] });
  const out = await nextDial(); // N -> F, the link both drop
  await out.readGreeting();
  // F dials N; N must accept that one (it sends its auth line) and send on it.
  const inbound = await FakePeer.connect(N.addresses[0]);
  fakes.push(inbound);
  await inbound.handshake({ nodeId: F });
  assert.equal(await inbound.packet((p) => p[0] === "inbox"), ["inbox", "hello", 2]);
  await N.linkedTo(F);
  // N's own attempt is closed now that it is linked, and nothing went down.
  await out.waitClosed();
  assert.not.ok(N.events.some((e) => e.ev === "node" && e.nodeId === F && e.up === false));
  assert.not.ok(N.events.some((e) => e.ev === "mon"), JSON.stringify(N.events.filter((e) => e.ev === "mon")));
});

test("crossed - F refuses N's dial first and dials N a moment later: nothing is lost", async () => {
  const N = await freshNode("m");
  const F = `a/fake2.${Date.now()}`;
  await registerFake(F);
  await N.mon(`${F}#inbox`); // must not fire
  N.command("snd", { to: `${F}#inbox`, msg: ["hello", 3] });
  const out = await nextDial();
  // What F's node would do: greet, see N's greeting, refuse N's (non-preferred) link.
  const lines = out.greeting({ nodeId: F });
  await out.write(`${lines[0]}\n${lines[1]}\n`);
  await out.readGreeting();
  out.close();
  // F's own link reaches N a little later (well within connect_interval).
  await new Promise<void>((r) => setTimeout(r, 100));
  const inbound = await FakePeer.connect(N.addresses[0]);
  fakes.push(inbound);
  await inbound.handshake({ nodeId: F });
  assert.equal(await inbound.packet((p) => p[0] === "inbox"), ["inbox", "hello", 3]);
  await N.linkedTo(F);
  assert.not.ok(N.events.some((e) => e.ev === "mon"), JSON.stringify(N.events.filter((e) => e.ev === "mon")));
});

test("crossed - F refuses N's dial and never dials back: N's monitors fire after connect_interval", async () => {
  const N = await freshNode("m");
  const F = `a/fake3.${Date.now()}`;
  await registerFake(F);
  const gone = await N.mon(`${F}#inbox`);
  const out = await nextDial();
  const lines = out.greeting({ nodeId: F });
  await out.write(`${lines[0]}\n${lines[1]}\n`);
  await out.readGreeting();
  const t0 = Date.now();
  out.close();
  const reason = await gone(3000);
  assert.equal(reason.slice(0, 2), ["transport_error", F]);
  assert.match(String(reason[2]), /^(Unexpected end-of-file|Connection reset by peer)$/);
  const waited = Date.now() - t0;
  assert.ok(waited >= 400, `fired after ${waited} ms, before the grace of connect_interval`);
});

test.run();
