// configure() checks every option before anything starts: a value that would break the
// node later is refused at once, naming the option; a refused configure leaves nothing
// running (no listener, the node ID unchanged) and can be called again; a bind that
// cannot listen is a ListenError; unknown keys are warned about. In process, norc.
import { createServer, type Server } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ListenError, NODE, configure, shutdown } from "../lib/index.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { type LogCapture, captureLog, rejects } from "./helpers.ts";
import { FakePeer, SECRET, freePort } from "./net-helpers.ts";

let log: LogCapture;
const anonymous = NODE();

test.before(() => {
  log = captureLog();
});

test.after(async () => {
  log.stop();
  await shutdown({ timeout: 0 });
});

/** Whether something listens on 127.0.0.1:port (by trying to listen there ourselves). */
async function taken(port: number): Promise<boolean> {
  const server = createServer();
  const inUse = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(true));
    server.listen(port, "127.0.0.1", () => resolve(false));
  });
  if (!inUse) await new Promise<void>((r) => server.close(() => r()));
  return inUse;
}

const base = { secret: SECRET, norc: true, binds: ["127.0.0.1:*"] };

const refused: [string, Record<string, unknown>, RegExp][] = [
  ["a node ID with ';'", { nodeid: "a;b" }, /configure: 'nodeid' must be a non-empty node ID without '#', ';' or control characters/],
  ["a node ID with a newline", { nodeid: "a\nb/%u" }, /'nodeid'/],
  ["a default node ID (PROFILE/...) with '#'", { profile: "p#q" }, /'nodeid'/],
  ["max_packet_size 'big'", { max_packet_size: "big" }, /'max_packet_size' must be a whole number of bytes, 1 to 536870912/],
  ["max_packet_size -5", { max_packet_size: -5 }, /'max_packet_size'/],
  ["max_packet_size 2 GiB", { max_packet_size: 2 ** 31 }, /'max_packet_size'/],
  ["an empty secret", { secret: "" }, /'secret' must be a non-empty string/],
  ["monitor_timeout 0", { monitor_timeout: 0 }, /'monitor_timeout' must be a positive number of seconds/],
  ["connect_interval 'soon'", { connect_interval: "soon" }, /'connect_interval'/],
  ["a bind that is no address", { binds: ["nowhere"] }, /configure: 'binds' must be a list of host:port listen addresses/],
  ["a seed with port 99999", { seeds: ["127.0.0.1:99999"] }, /configure: 'seeds' must be a list of host:port seed addresses/],
  ["a seed without a port", { seeds: ["127.0.0.1"] }, /'seeds'/],
  ["nodelay 'maybe'", { nodelay: "maybe" }, /'nodelay'/],
  ["framing_format 7", { framing_format: 7 }, /'framing_format'/],
];

for (const [what, options, message] of refused) {
  test(`configure - refuses ${what}, names the option, and starts nothing`, async () => {
    await rejects(configure({ ...base, ...options }), { instanceOf: TypeError, message });
    assert.is(currentNetwork(), null);
    assert.is(NODE(), anonymous);
  });
}

test("configure - a bind that is in use: ListenError naming it; the other bind is closed again; configure works afterwards", async () => {
  const busy: Server = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
  const busyPort = (busy.address() as { port: number }).port;
  const freeOne = await freePort();
  try {
    const err = (await rejects(configure({ ...base, binds: [`127.0.0.1:${freeOne}`, `127.0.0.1:${busyPort}`] }), { instanceOf: ListenError, code: "ERR_LISTEN" })) as ListenError;
    assert.is(err.bind, `127.0.0.1:${busyPort}`);
    assert.is(err.reason, "EADDRINUSE");
    assert.match(err.message, /cannot listen on 127\.0\.0\.1:\d+: address already in use/);
    assert.not.ok(await taken(freeOne), "the bind that worked was left listening");
    assert.is(currentNetwork(), null);
    assert.is(NODE(), anonymous);
  } finally {
    await new Promise<void>((r) => busy.close(() => r()));
  }
});

test("configure - unknown keys are warned about, naming the known ones; no secret is a warning; a huge monitor_timeout works", async () => {
  const { nodeId, addresses: [address] } = await configure({ binds: ["127.0.0.1:*"], norc: true, colour: "red", autocork: 1, monitor_timeout: 3e6 } as never);
  assert.is(NODE(), nodeId);
  const unknown = await log.until("configure: ignoring unknown option 'colour' (argument)");
  assert.match(unknown.text, /known options: .*monitor_timeout.*seeds/);
  assert.not.ok(log.texts().some((t) => t.includes("'autocork'")), "Perl's own keys are not warned about");
  assert.ok(log.records.some((r) => r.level === 5 && /no secret and no certificate are configured/.test(r.text)));
  // monitor_timeout is also the handshake limit: 3e6 s must not overflow into 1 ms.
  const peer = await FakePeer.connect(address);
  try {
    await peer.readGreeting(); // and say nothing
    await new Promise<void>((r) => setTimeout(r, 50));
    assert.not.ok(peer.isClosed, "the handshake timed out at once");
  } finally {
    peer.close();
  }
  await rejects(configure(base), /already called/);
});

test.run();
