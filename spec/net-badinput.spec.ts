// Bad input on the wire: this spec process is a node (listening on 127.0.0.1, no
// seeds) and a scripted fake peer (a plain net.Socket, spec/net-helpers.ts FakePeer)
// writes exact bytes to its listener. Whatever arrives, the node refuses or drops it,
// says so in a log line, and keeps serving: each test ends with a good link that works.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, configure, port, snd } from "../lib/index.ts";
import { logSubscriberCount } from "../lib/log-catcher.ts";
import { currentNetwork } from "../lib/node/network.ts";
import { buildAuthLine } from "../lib/transport/handshake.ts";
import { type LogCapture, captureLog, deferred, portDeath, waitFor } from "./helpers.ts";
import { FakePeer, SECRET, registerListeners } from "./net-helpers.ts";

let address = "";
let log: LogCapture;
/** Messages received by `inbox`, in order. */
const received: unknown[][] = [];
let inbox = "";
let waiting: (() => void) | undefined;

/** Resolves once `inbox` has received `n` messages in total. */
function receivedCount(n: number, ms = 3000): Promise<void> {
  const d = deferred<void>();
  const check = (): void => {
    if (received.length >= n) d.resolve();
  };
  waiting = check;
  check();
  return waitFor(d.promise, ms, `${n} messages on the inbox (have ${received.length})`);
}

/** A fresh fake peer that completed a valid handshake. */
async function goodPeer(nodeId = `good/${Math.random().toString(36).slice(2)}`): Promise<FakePeer> {
  const peer = await FakePeer.connect(address);
  await peer.handshake({ nodeId });
  return peer;
}

/** The node still serves: a new, valid link gets its requests answered and delivered. */
async function stillServes(): Promise<void> {
  const peer = await goodPeer();
  try {
    const [, , time] = await peer.ping();
    assert.is(typeof time, "number");
    const before = received.length;
    await peer.sendPacket([inbox.slice(inbox.indexOf("#") + 1), "still alive"]);
    await receivedCount(before + 1);
    assert.equal(received[before], ["still alive"]);
  } finally {
    peer.close();
  }
}

/** The log line about `text` for a link from the fake peer. */
function refusal(text: string): Promise<string> {
  return log.until((r) => r.level <= 5 && r.text.includes(text), 2000).then((r) => r.text);
}

test.before(async () => {
  try {
    ({ addresses: [address] } = await configure({ nodeid: "badinput/%u", binds: ["127.0.0.1:*"], secret: SECRET, norc: true }));
    inbox = port((...msg: unknown[]) => {
      received.push(msg);
      waiting?.();
    });
    log = captureLog();
  } catch (err) {
    console.error("net-badinput setup failed:", err);
    process.exit(1);
  }
});

test.after(async () => {
  log.stop();
  await currentNetwork()?.stop();
});

test("good peer - a valid handshake, a request answered, a message delivered", async () => {
  await stillServes();
});

test("keepalive - Perl's empty packet [] (sent by nodes without listeners) is ignored, nothing logged", async () => {
  const peer = await goodPeer();
  try {
    const count = log.records.length;
    await peer.sendPacket([]);
    await peer.sendPacket([]);
    const [, , time] = await peer.ping(); // answered after both: they were read
    assert.is(typeof time, "number");
    assert.equal(log.records.slice(count).map((r) => r.text), []);
  } finally {
    peer.close();
  }
});

test("wrong secret - refused with a clear log line; another link works meanwhile", async () => {
  const good = await goodPeer();
  const bad = await FakePeer.connect(address);
  try {
    await bad.handshake({ nodeId: "intruder/1", secret: "not the secret" }).catch(() => {});
    await bad.waitClosed();
    const line = await refusal("authentication failure/shared secret mismatch");
    assert.match(line, /intruder\/1/);
    assert.match(line, /127\.0\.0\.1:\d+/);
    // The good link was not disturbed.
    const [, , time] = await good.ping();
    assert.is(typeof time, "number");
  } finally {
    good.close();
    bad.close();
  }
  await stillServes();
});

test("wrong version - refused with version mismatch", async () => {
  const bad = await FakePeer.connect(address);
  try {
    await bad.readGreeting();
    await bad.write(`aemp;2;old/1;hmac_sha3_512;json\n${"A".repeat(88)}\n`);
    await bad.waitClosed();
    await refusal("version mismatch (we: 1, they: 2)");
  } finally {
    bad.close();
  }
  await stillServes();
});

test("other protocol - refused as an unparsable greeting", async () => {
  const bad = await FakePeer.connect(address);
  try {
    await bad.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await bad.waitClosed();
    await refusal("unparsable greeting, expected 'aemp', got 'GET / HTTP/1.1'");
  } finally {
    bad.close();
  }
  await stillServes();
});

test("echo attack - reflecting the node's own greeting is refused", async () => {
  const bad = await FakePeer.connect(address);
  try {
    const [l1, l2] = await bad.readGreeting();
    assert.ok(l1.startsWith(`aemp;1;${NODE()};`), l1);
    await bad.write(`${l1}\n${l2}\n`);
    await bad.waitClosed();
    await refusal("authentication error, echo attack?");
  } finally {
    bad.close();
  }
  await stillServes();
});

test("our own node ID - refused: I refuse to talk to myself", async () => {
  const bad = await FakePeer.connect(address);
  try {
    await bad.write(`${bad.greeting({ nodeId: NODE() }).join("\n")}\n`);
    await bad.waitClosed();
    await refusal("I refuse to talk to myself");
  } finally {
    bad.close();
  }
  await stillServes();
});

test("oversize greeting - more than 4096 bytes without LF is refused", async () => {
  const bad = await FakePeer.connect(address);
  try {
    await bad.write(`aemp;1;big/1;hmac_sha3_512;json;x=${"y".repeat(5000)}`);
    await bad.waitClosed();
    await refusal("handshake line longer than 4096 bytes");
  } finally {
    bad.close();
  }
  await stillServes();
});

test("oversize greeting - exactly 4096 bytes before the LF is still accepted", async () => {
  const peer = await FakePeer.connect(address);
  try {
    peer.nodeId = "long/1";
    const lines = peer.greeting();
    const padded = `${lines[0]};pad=${"p".repeat(4096 - lines[0].length - 5)}`;
    assert.is(Buffer.byteLength(padded), 4096);
    peer.ourLines = [padded, lines[1]];
    await peer.write(`${padded}\n${lines[1]}\n`);
    const theirs = await peer.readGreeting();
    await peer.write(buildAuthLine("hmac_sha3_512", SECRET, peer.ourLines, theirs, "json"));
    await peer.readLine(); // its auth line
    peer.startPackets();
    const [, , time] = await peer.ping();
    assert.is(typeof time, "number");
  } finally {
    peer.close();
  }
});

test("garbage after auth - an invalid JSON frame ends that link only, with a log line", async () => {
  const good = await goodPeer();
  const bad = await goodPeer("garbage/1");
  try {
    await bad.write('["", "devnull"]["x", tru]');
    await bad.waitClosed();
    const line = await refusal("invalid JSON in packet");
    assert.match(line, /garbage\/1/);
    const [, , time] = await good.ping();
    assert.is(typeof time, "number");
  } finally {
    good.close();
    bad.close();
  }
  await stillServes();
});

test("garbage after auth - a frame that is not an array is refused", async () => {
  const bad = await goodPeer("garbage/2");
  try {
    await bad.write('{"a":1}');
    await bad.waitClosed();
    await refusal("garbage/2");
  } finally {
    bad.close();
  }
  await stillServes();
});

test("split packets - one byte per write, and every split position, arrive intact", async () => {
  const peer = await goodPeer("splitter/1");
  try {
    const name = inbox.slice(inbox.indexOf("#") + 1);
    // Multi-byte UTF-8, escapes and brackets inside strings: the splitter's hard cases.
    const packet = [name, "split", "héllo wörld ✓ 𝄞", 'q"uote\\ [brackets] {braces}', { n: [1, 2.5, -3e-7], t: true, z: null }];
    const bytes = Buffer.from(JSON.stringify(packet));
    const before = received.length;
    for (const byte of bytes) await peer.write(Buffer.from([byte]));
    await receivedCount(before + 1);
    assert.equal(received[before], packet.slice(1));
    // Every position: the packet in two writes (k = 1 .. length - 1), numbered.
    const start = received.length;
    for (let k = 1; k < bytes.length; k++) {
      const p = Buffer.from(JSON.stringify([name, "cut", k, ...packet.slice(2)]));
      const at = Math.min(k, p.length - 1);
      await peer.write(p.subarray(0, at));
      await peer.write(p.subarray(at));
    }
    await receivedCount(start + bytes.length - 1, 5000);
    const cuts = received.slice(start);
    assert.equal(cuts.map((m) => m[1]), Array.from({ length: bytes.length - 1 }, (_, i) => i + 1));
    assert.ok(cuts.every((m) => m[0] === "cut" && m[2] === packet[2] && m[3] === packet[3]));
    const [, , time] = await peer.ping();
    assert.is(typeof time, "number");
  } finally {
    peer.close();
  }
});

test("unknown node request - logged and ignored, the link stays up", async () => {
  const peer = await goodPeer("asker/1");
  try {
    await peer.sendPacket(["", "no_such_request", 1, 2]);
    await log.until("ignoring unknown node request 'no_such_request' from asker/1");
    await peer.sendPacket(["", "can", "no_such_request", "asker/1#r", "can?"]);
    assert.equal(await peer.packet((p) => p[0] === "r" && p[1] === "can?"), ["r", "can?", ""]);
    await peer.sendPacket(["", "can", "mon1", "asker/1#r", "can mon1?"]);
    assert.equal(await peer.packet((p) => p[0] === "r" && p[1] === "can mon1?"), ["r", "can mon1?", "1"]);
    assert.not.ok(peer.isClosed);
  } finally {
    peer.close();
  }
});

test("unknown port - a packet for a port that does not exist is dropped silently", async () => {
  const peer = await goodPeer("lost/1");
  try {
    const count = log.records.length;
    await peer.sendPacket(["no.such.port", "hello?"]);
    await peer.sendPacket([12, "not even a string"]);
    const [, , time] = await peer.ping();
    assert.is(typeof time, "number");
    // Nothing above warning level about the missing port.
    assert.not.ok(log.records.slice(count).some((r) => r.level <= 4), log.texts().join("\n"));
  } finally {
    peer.close();
  }
});

test("eval - refused: the reply says remote execution is not allowed", async () => {
  const peer = await goodPeer("evil/1");
  try {
    await peer.sendPacket(["", "eval", "system('rm -rf /')", "evil/1#r", "eval-reply"]);
    const reply = await peer.packet((p) => p[0] === "r" && p[1] === "eval-reply");
    assert.is(reply.length, 3);
    assert.match(String(reply[2]), /remote execution not allowed/);
    await log.until("refused remote eval from evil/1");
    // Without a reply port it is refused all the same, and the link lives on.
    await peer.sendPacket(["", "eval", "1+1"]);
    const [, , time] = await peer.ping();
    assert.is(typeof time, "number");
  } finally {
    peer.close();
  }
});

test("malformed node requests - wrong argument types are ignored, the link lives on", async () => {
  const peer = await goodPeer("odd/1");
  try {
    for (const packet of [
      [""],
      ["", 42],
      ["", "mon1"],
      ["", "mon1", { x: 1 }],
      ["", "kil1", null],
      ["", "snd"],
      ["", "snd", "not-a-port"],
      ["", "AnyEvent::MP::_spawn"],
      ["", "AnyEvent::MP::_spawn", "a#b", "test::x"],
      ["", "g_find", 7],
      ["", "g_slave", "not a db"],
      ["", "g_upd", 1, 2, 3],
      ["", "time"],
      ["", "can"],
    ]) await peer.sendPacket(packet);
    const [, , time] = await peer.ping();
    assert.is(typeof time, "number");
    assert.not.ok(peer.isClosed);
  } finally {
    peer.close();
  }
  await stillServes();
});

test("undialable addresses in the database - each node fails with transport_error, the process goes on", async () => {
  // An authenticated peer (here registering as a slave, which makes this node global)
  // stores addresses no one can dial; sending to those nodes must fail them, not throw.
  const bad = ["127.0.0.1:99999", "127.0.0.1:", ":", "[::1]", "127.0.0.1:-1", "127.0.0.1:0", "*:*", "1.2.3.4:1e3", 12, null];
  const ghosts = bad.map((_, i) => `ghost/${i}`);
  const registrar = await registerListeners(address, Object.fromEntries(ghosts.map((g, i) => [g, [bad[i]]])));
  try {
    const reasons = await Promise.all(ghosts.map((g) => {
      const gone = portDeath(`${g}#p`, 5000);
      snd(`${g}#p`, "hello");
      return gone;
    }));
    for (const [i, reason] of reasons.entries()) {
      assert.equal(reason.slice(0, 2), ["transport_error", ghosts[i]], JSON.stringify(reason));
      assert.is(typeof reason[2], "string");
    }
    assert.match(String(reasons[0][2]), /cannot dial "127\.0\.0\.1:99999": port must be 0\.\.65535/);
    assert.is(reasons[9][2], "no known address");
  } finally {
    registrar.close();
  }
  await stillServes();
});

test("remote spawn of a live port's name - refused with a warning and a kil0 for the spawner; the port lives on", async () => {
  const peer = await goodPeer("spawner/1");
  const name = inbox.slice(inbox.indexOf("#") + 1);
  try {
    await peer.sendPacket(["", "AnyEvent::MP::_spawn", name, "No::such"]);
    const kil0 = await peer.packet((p) => p[0] === "" && p[1] === "kil0" && p[2] === name);
    assert.equal(kil0.slice(3), ["die", `spawn refused: port ${inbox} exists already`]);
    await log.until(`refused a spawn request from spawner/1 for port ${inbox}`);
    const before = received.length;
    await peer.sendPacket([name, "still mine"]);
    await receivedCount(before + 1);
    assert.equal(received[before], ["still mine"]);
  } finally {
    peer.close();
  }
});

test("log injection - what peers send is logged with its control characters escaped", async () => {
  const peer = await goodPeer("injector/1");
  try {
    await peer.sendPacket(["", "evil\n2026-01-01T00:00:00.000Z <1> FORGED LINE\u001b[2J"]);
    const record = await log.until("ignoring unknown node request 'evil");
    assert.ok(record.text.includes("evil\\n2026-01-01T00:00:00.000Z <1> FORGED LINE\\x1b[2J"), record.text);
  } finally {
    peer.close();
  }
  // Before authentication too.
  const bad = await FakePeer.connect(address);
  try {
    await bad.write("GET \u001b[2J\u0007\r / HTTP/1.1\n\n");
    await bad.waitClosed();
    const line = await refusal("got 'GET \\x1b[2J\\x07\\r / HTTP/1.1'");
    assert.match(line, /^link from 127\.0\.0\.1:\d+ refused: unparsable greeting/);
  } finally {
    bad.close();
  }
});

test("log catcher request with a port ID without a node part - ignored (records to it would fail in snd, each one)", async () => {
  const peer = await goodPeer("catcher/1");
  const stderr: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    stderr.push(String(chunk));
    return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    const before = logSubscriberCount();
    for (const to of ["#b", "#", "no-hash"]) await peer.sendPacket(["", "AnyEvent::MP::LogCatcher::connect", 1, to, 9]);
    await peer.sendPacket(["", "no_such_request_after_connect"]); // a record for the subscribers, if any
    await log.until("no_such_request_after_connect");
    await peer.ping();
    assert.is(logSubscriberCount(), before);
    assert.equal(stderr.filter((line) => line.includes("log sink threw")), []);
  } finally {
    process.stderr.write = write;
    peer.close();
  }
});

test("logs - no record of this whole spec holds a control character", () => {
  const raw = log.records.filter((r) => /[\x00-\x1f\x7f]/.test(r.text));
  assert.equal(raw.map((r) => r.text), []);
});

test.run();
