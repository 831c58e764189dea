// Messages that cannot be sent to another node: snd throws an EncodeError and queues
// nothing (as Perl's snd raises the encoder's error), whether the link is up or still
// being made; the messages around it arrive and no monitor fires. This spec process is
// a global node N; J (a child node, superjson like every aemp node, max_packet_size
// 1 MiB) is registered with N but not linked to it until the first message that goes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EncodeError, configure, mon, nodeIsUp, snd } from "../lib/index.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { deferred, throwsSync } from "./helpers.ts";
import { type FakePeer, SECRET, type TestNode, freePort, registerListeners, startNode, stopAllNodes } from "./net-helpers.ts";

let J: TestNode;
let rec = "";
const monitors = deferred<unknown[]>();
const fakes: FakePeer[] = [];

/** Values no framing can carry: the encoder throws, whichever framing it is (a cycle is fine in superjson). */
function unencodable(): [string, unknown][] {
  let deep: unknown = 1;
  for (let i = 0; i < 10_000; i++) deep = [deep];
  return [
    ["a Proxy whose trap throws", new Proxy({}, { ownKeys: () => { throw new Error("trap"); } })],
    ["a getter that throws", { get x() { throw new Error("getter"); } }],
    ["an array 10,000 deep", deep],
  ];
}

test.before(async () => {
  try {
    const self = `127.0.0.1:${await freePort()}`;
    const { addresses: [address] } = await configure({ nodeid: "encode/%u", binds: [self], seeds: [self], secret: SECRET, norc: true });
    J = await startNode({ max_packet_size: 2 ** 20 }, { name: "j" });
    rec = await J.port("record");
    // Tell N where J listens, as J's registration would have.
    fakes.push(await registerListeners(address, { [J.nodeId]: J.addresses }));
  } catch (err) {
    console.error("net-encode setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  for (const f of fakes) f.close();
  await stopAllNodes();
  await currentNetwork()?.stop();
});

test("unencodable, before the link is up - snd throws ERR_UNENCODABLE and queues nothing", () => {
  assert.not.ok(nodeIsUp(J.nodeId));
  mon(rec, (...reason: unknown[]) => monitors.resolve(reason));
  for (const [what, value] of unencodable()) {
    const err = throwsSync(() => snd(rec, "bad", value), { instanceOf: EncodeError, code: "ERR_UNENCODABLE" }) as EncodeError;
    assert.is(err.port, rec, what);
    assert.is(err.framing, "superjson-bin", what);
  }
  // A key superjson refuses (JSON carries it): our own nodes read superjson.
  throwsSync(() => snd(rec, "bad", JSON.parse('{"__proto__": 1}')), { instanceOf: EncodeError, code: "ERR_UNENCODABLE", message: /__proto__/ });
  snd(rec, "first");
});

test("unencodable, on the live link - snd throws, the next message arrives", async () => {
  assert.equal(await J.message(rec, "first"), ["first"]);
  assert.ok(nodeIsUp(J.nodeId));
  for (const [what, value] of unencodable()) {
    throwsSync(() => snd(rec, "bad", value), { instanceOf: EncodeError, code: "ERR_UNENCODABLE", message: /superjson-bin framing/ });
    snd(rec, "after", what);
    await J.event((e) => e.ev === "msg" && e.port === rec && e.msg[0] === "after" && e.msg[1] === what, 5000, `the message after ${what}`);
  }
});

test("too large for the receiver - snd throws ERR_MESSAGE_TOO_LARGE (J reads 1 MiB), the link and the rest live on", async () => {
  const big = "x".repeat(2 ** 20);
  const err = throwsSync(() => snd(rec, "big", big), { instanceOf: EncodeError, code: "ERR_MESSAGE_TOO_LARGE", message: /1048576 bytes the receiver accepts/ }) as EncodeError;
  assert.ok(err.size! > 2 ** 20);
  snd(rec, "small", "x".repeat(1000));
  assert.equal((await J.message(rec, "small"))[1], "x".repeat(1000));
  assert.ok(nodeIsUp(J.nodeId));
  assert.not.ok(J.events.some((e) => e.ev === "msg" && (e.msg[0] === "bad" || e.msg[0] === "big")));
  assert.not.ok(monitors.settled, "a monitor of J's port fired");
});

test.run();
