// Node and port identity: lib/kernel/ids.ts (NODE, nodeOf, portIsLocal, port names).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NODE, kil, nodeOf, port, portIsLocal, spawn, registerInit } from "../lib/index.ts";
import { isPortId, nextPortName, randomPortName, randomString, setNodeId } from "../lib/kernel/ids.ts";
import { throwsSync } from "./helpers.ts";

const ALNUM = /^[A-Za-z0-9]+$/;

registerInit("ids::noop", () => {});

test("NODE - is anon/<random> before configure", () => {
  const m = /^anon\/(.+)$/.exec(NODE());
  assert.ok(m, `expected anon/<random>, got ${NODE()}`);
  assert.ok(ALNUM.test(m![1]), `random part should be alphanumeric, got ${m![1]}`);
  assert.ok(m![1].length >= 8, `random part should be long enough to be unique, got ${m![1]}`);
  assert.not.ok(NODE().includes("#"));
});

test("NODE - is stable across calls and port creation", () => {
  const first = NODE();
  port();
  spawn(NODE(), "ids::noop");
  assert.is(NODE(), first);
  assert.is(NODE(), first);
});

test("port - IDs are NODE()#name with a non-empty name without '#'", () => {
  const id = port();
  const hash = id.indexOf("#");
  assert.is(id.slice(0, hash), NODE());
  const name = id.slice(hash + 1);
  assert.ok(name.length > 0);
  assert.not.ok(name.includes("#"));
  kil(id);
});

test("port - 10,000 port IDs are all distinct", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 10_000; i++) ids.add(port());
  assert.is(ids.size, 10_000);
  for (const id of ids) kil(id);
});

test("port - names of killed ports are never reused", () => {
  const dead = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = port();
    kil(id);
    dead.add(id);
  }
  for (let i = 0; i < 1000; i++) {
    const id = port();
    assert.not.ok(dead.has(id), `port ID ${id} was reused`);
    kil(id);
  }
});

test("spawn - port names are random, distinct and differ from port() names", () => {
  const a = spawn(NODE(), "ids::noop");
  const b = spawn(NODE(), "ids::noop");
  assert.is.not(a, b);
  const nameA = a.slice(a.indexOf("#") + 1);
  assert.ok(ALNUM.test(nameA), `spawned port name should be alphanumeric, got ${nameA}`);
  assert.ok(nameA.length >= 10, "spawned port names should be long enough not to be guessed");
  kil(a);
  kil(b);
});

test("nodeOf - returns the node part of a port ID", () => {
  assert.is(nodeOf("mynode#abc"), "mynode");
  assert.is(nodeOf("aemp/host/Xy12#p.1"), "aemp/host/Xy12");
  const id = port();
  assert.is(nodeOf(id), NODE());
  kil(id);
});

test("nodeOf - returns a node ID unchanged", () => {
  assert.is(nodeOf("mynode"), "mynode");
  assert.is(nodeOf(NODE()), NODE());
  assert.is(nodeOf("host:4040"), "host:4040");
});

test("nodeOf - the node port ID 'node#' belongs to 'node'", () => {
  assert.is(nodeOf("mynode#"), "mynode");
});

test("nodeOf - splits at the first '#'", () => {
  assert.is(nodeOf("a#b#c"), "a");
});

test("nodeOf - a non-string throws a TypeError naming the argument", () => {
  throwsSync(() => nodeOf(42 as unknown as string), { instanceOf: TypeError, message: "'id'" });
  throwsSync(() => nodeOf(undefined as unknown as string), TypeError);
});

test("portIsLocal - true for local port IDs, even dead ones", () => {
  const id = port();
  assert.ok(portIsLocal(id));
  kil(id);
  assert.ok(portIsLocal(id), "a dead port still has a local ID");
  assert.ok(portIsLocal(`${NODE()}#never-created`));
});

test("portIsLocal - true for this node's ID and its node port", () => {
  assert.ok(portIsLocal(NODE()));
  assert.ok(portIsLocal(`${NODE()}#`));
});

test("portIsLocal - false for other nodes and their ports", () => {
  assert.not.ok(portIsLocal("othernode#abc"));
  assert.not.ok(portIsLocal("othernode"));
  // A node whose ID merely starts with ours is another node.
  assert.not.ok(portIsLocal(`${NODE()}x#abc`));
  assert.not.ok(portIsLocal(`${NODE()}/sub`));
});

test("portIsLocal - a non-string throws a TypeError naming the argument", () => {
  throwsSync(() => portIsLocal(7 as unknown as string), { instanceOf: TypeError, message: "'port'" });
});

test("isPortId - node#name shapes only", () => {
  assert.ok(isPortId("n#p"));
  assert.ok(isPortId("n#"));
  assert.not.ok(isPortId("n"));
  assert.not.ok(isPortId("#p"), "the node part must not be empty");
  assert.not.ok(isPortId(""));
  assert.not.ok(isPortId(5));
  assert.not.ok(isPortId(null));
});

test("randomString - has the requested length and only [A-Za-z0-9]", () => {
  for (const n of [1, 5, 10, 64]) {
    const s = randomString(n);
    assert.is(s.length, n);
    assert.ok(ALNUM.test(s), s);
  }
  assert.is(randomString().length, 10);
});

test("randomString - values differ and use the whole alphabet", () => {
  const seen = new Set<string>();
  const chars = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const s = randomString(10);
    seen.add(s);
    for (const c of s) chars.add(c);
  }
  assert.is(seen.size, 500);
  // 5000 draws from 62 symbols: missing one by chance has probability ~ 62 * e^-80.
  assert.is(chars.size, 62);
});

test("nextPortName / randomPortName - fresh every time", () => {
  const names = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    names.add(nextPortName());
    names.add(randomPortName());
  }
  assert.is(names.size, 2000);
});

test("setNodeId - rejects IDs that are empty, contain '#' or are not strings", () => {
  const before = NODE();
  throwsSync(() => setNodeId(""), TypeError);
  throwsSync(() => setNodeId("a#b"), TypeError);
  throwsSync(() => setNodeId(3 as unknown as string), TypeError);
  assert.is(NODE(), before, "a rejected ID leaves the node ID alone");
});

// Last: it renames this process's node.
test("setNodeId - renames the node; new ports carry the new ID", () => {
  setNodeId("spec/ids/renamed");
  assert.is(NODE(), "spec/ids/renamed");
  const id = port();
  assert.is(nodeOf(id), "spec/ids/renamed");
  assert.ok(portIsLocal(id));
  assert.ok(portIsLocal("spec/ids/renamed"));
  kil(id);
});

test.run();
