// shutdown() drains before it closes: messages sent just before `await shutdown()`
// all arrive, in order, and the peer's monitors hear a clean shutdown, not a lost link.
// With a deadline it closes anyway and says how many messages it gave up on, and
// closed() resolves with that. Nodes are child processes (sender S, receiver R); the
// last test makes this spec process a node and shuts it down.
import { type Server, type Socket, createServer } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { closed, configure, shutdown, snd } from "../lib/index.ts";
import { waitFor } from "./helpers.ts";
import { SECRET, freePort, registerListeners, startNode, stopAllNodes } from "./net-helpers.ts";

/** Messages sent right before shutdown (AEMP_SPEC_SHUTDOWN_N for a long run, e.g. 1000000). */
const N = Number(process.env.AEMP_SPEC_SHUTDOWN_N ?? 200_000);

test.after(async () => {
  await stopAllNodes();
});

test(`shutdown - ${N.toLocaleString("en")} messages sent right before it all arrive, in order; the peer's monitors say 'node shut down'`, async () => {
  const R = await startNode({}, { name: "receiver" });
  const S = await startNode({ seeds: [R.addresses[0]] }, { name: "sender" });
  await S.joined(R);
  const counter = await R.port("counter");
  const watched = await S.port("record");
  const gone = await R.mon(watched);
  const t0 = Date.now();
  const answer = await S.call("burst", { to: counter, n: N, shutdown: 30 }, 60_000);
  const count = await R.event((e) => e.ev === "count" && e.port === counter, 60_000, "the receiver's count");
  console.log(`  ${N} messages, then shutdown: ${count.count} arrived (in order: ${count.inOrder}), ${answer.abandoned} abandoned, ${Date.now() - t0} ms`);
  assert.is(answer.abandoned, 0);
  assert.is(count.count, N);
  assert.ok(count.inOrder);
  assert.equal(await gone(), ["transport_error", S.nodeId, "node shut down"]);
});

test("shutdown({ timeout }) - messages for a node that never answers are dropped at the deadline and counted; closed() resolves with that", async () => {
  // A listener that accepts and never speaks, registered (through a fake slave) as node ghost.
  const accepted: Socket[] = [];
  const silent: Server = createServer((s) => {
    accepted.push(s);
    s.on("error", () => {});
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const self = `127.0.0.1:${await freePort()}`;
  const { addresses: [address] } = await configure({ nodeid: "shutdown/%u", binds: [self], seeds: [self], secret: SECRET, norc: true, connect_interval: 30 });
  const registrar = await registerListeners(address, { "ghost/1": [`127.0.0.1:${(silent.address() as { port: number }).port}`] });
  try {
    for (let i = 0; i < 25; i++) snd("ghost/1#p", "waiting", i);
    const done = closed();
    const t0 = Date.now();
    const result = await waitFor(shutdown({ timeout: 0.3 }), 5000, "shutdown");
    const took = Date.now() - t0;
    assert.equal(result, { abandoned: 25 });
    assert.equal(await waitFor(done, 1000, "closed()"), result);
    assert.ok(took >= 250 && took < 3000, `shutdown took ${took} ms`);
    assert.is(await shutdown(), result, "a second call gives the same result");
  } finally {
    registrar.close();
    for (const s of accepted) s.destroy();
    silent.close();
  }
});

test.run();
