// The file-writer sample (samples/file-writer): server, supervisor, client, and the
// `npm start` demo run as a child process.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { kil, mailboxOf, mon, port, rcv, snd } from "../lib/index.ts";
import { deliverLocal } from "../lib/kernel/ports.ts";
import { sendFile } from "../samples/file-writer/client.ts";
import { type FileWriter, startFileWriter } from "../samples/file-writer/server.ts";
import { superviseFileWriter } from "../samples/file-writer/supervisor.ts";
import { deferred, rejects, waitFor } from "./helpers.ts";
import { runToEnd } from "./sample-helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
let dir = "";

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), "aemp-spec-file-writer-"));
});

test.after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Resolves with the kill reason of `p` (empty for a normal kill). */
function death(p: string, ms = 2000): Promise<unknown[]> {
  const d = deferred<unknown[]>();
  mon(p, (...reason: unknown[]) => d.resolve(reason));
  return waitFor(d.promise, ms, `death of ${p}`);
}

/**
 * A client port that waits for the server's ["written", path, bytes] reply; `log`, if
 * given, records the order in which replies arrive.
 */
function replyPort(label: string, log?: string[]): { id: string; written(): Promise<[string, number]> } {
  const d = deferred<[string, number]>();
  const id = rcv(port(), "written", (path: string, bytes: number) => {
    log?.push(label);
    d.resolve([path, bytes]);
    kil(id);
  });
  return { id, written: () => waitFor(d.promise, 2000, `${label}'s "written" reply`) };
}

/**
 * Waits until `cond()` holds, testing it once per event-loop turn (a condition wait,
 * not a sleep): for states that have no event of their own, like a mailbox's size.
 */
function until(cond: () => boolean, label: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out after ${ms} ms waiting until ${label}`));
      else setImmediate(check);
    };
    check();
  });
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

// ---- server ----------------------------------------------------------------------------

test("server - two clients' interleaved messages give two whole, separate files", async () => {
  const server = startFileWriter();
  const a = replyPort("a");
  const b = replyPort("b");
  const pa = join(dir, "interleaved-a.txt");
  const pb = join(dir, "interleaved-b.bin");
  snd(server, "write_file", a.id, pa);
  snd(server, "write_file", b.id, pb);
  snd(server, "data", a.id, "alpha ");
  snd(server, "data", b.id, new Uint8Array([1, 2, 3]));
  snd(server, "data", a.id, "beta ");
  snd(server, "data", b.id, "four");
  snd(server, "data", a.id, "gamma");
  snd(server, "data", b.id, new Uint8Array(0)); // an empty chunk ends b's file
  snd(server, "data", a.id); // so does a missing one
  assert.equal(await a.written(), [pa, 16]);
  assert.equal(await b.written(), [pb, 7]);
  assert.is(await readFile(pa, "utf8"), "alpha beta gamma");
  assert.equal([...(await readFile(pb))], [1, 2, 3, 102, 111, 117, 114]);
  const died = death(server);
  kil(server);
  assert.equal(await died, []);
});

test("server - other requests wait in the mailbox while one file is in progress", async () => {
  const server = startFileWriter();
  const order: string[] = [];
  const a = replyPort("a", order);
  const b = replyPort("b", order);
  const pa = join(dir, "first.txt");
  const pb = join(dir, "second.txt");
  snd(server, "write_file", a.id, pa);
  snd(server, "data", a.id, "a1 ");
  snd(server, "write_file", b.id, pb);
  snd(server, "data", b.id, "b1");
  snd(server, "data", b.id);
  // The server has taken a's write_file and chunk and waits for a's next chunk; b's
  // three messages wait in the mailbox, untouched.
  await until(() => mailboxOf(server)?.size === 3 && mailboxOf(server)?.pending === 1, "b's messages are queued and the server waits");
  assert.not.ok(await exists(pb), "b's file must not be opened before a's is done");
  snd(server, "data", a.id, "a2");
  snd(server, "data", a.id);
  assert.equal(await a.written(), [pa, 5]);
  assert.equal(await b.written(), [pb, 2]);
  assert.equal(order, ["a", "b"]);
  assert.is(await readFile(pa, "utf8"), "a1 a2");
  assert.is(await readFile(pb, "utf8"), "b1");
  assert.is(mailboxOf(server)?.size, 0);
  kil(server);
});

test("server - no data within the timeout kills it with a clear reason; the file is closed", async () => {
  const server = startFileWriter({ dataTimeout: 0.05 });
  const died = death(server);
  const client = port();
  const path = join(dir, "timeout.txt");
  snd(server, "write_file", client, path);
  snd(server, "data", client, "partial");
  assert.equal(await died, ["die", `timeout waiting for data message from ${client}`]);
  assert.is(mailboxOf(server), undefined);
  assert.is(await readFile(path, "utf8"), "partial");
  kil(client);
});

test("server - a path that cannot be opened kills it with the fs error text", async () => {
  const server = startFileWriter();
  const died = death(server);
  const path = join(dir, "no-such-directory", "file.txt");
  snd(server, "write_file", "some-client", path);
  const reason = await died;
  assert.is(reason.length, 2);
  assert.is(reason[0], "die");
  assert.match(String(reason[1]), "ENOENT");
  assert.ok(String(reason[1]).includes(path), `the reason names the path: ${String(reason[1])}`);
});

test("server - a first message that is not write_file kills it", async () => {
  const server = startFileWriter();
  const died = death(server);
  snd(server, "data", "nobody", "stray chunk");
  assert.equal(await died, ["die", 'only write_file messages expected, received "data"']);
});

test("server - a message from another node that does not fit its schema kills it with invalid_message", async () => {
  const server = startFileWriter();
  const died = death(server);
  // deliverLocal is where messages from other nodes enter (the compiler stops local ones).
  deliverLocal(server, ["write_file", "c", join(dir, "bad-chunk.txt")], "peer/1");
  deliverLocal(server, ["data", "c", { not: "a chunk" }], "peer/1");
  assert.equal(await died, ["invalid_message", "Invalid input: expected string, received object (at 2)"]);
});

test("server, supervisor - bad options are refused at once", () => {
  assert.throws(() => startFileWriter({ dataTimeout: 0 }), /dataTimeout/);
  assert.throws(() => startFileWriter({ dataTimeout: Number.NaN }), /dataTimeout/);
  assert.throws(() => superviseFileWriter({ dataTimeout: -1 }), /dataTimeout/);
  assert.throws(() => superviseFileWriter({ maxRestarts: 1.5 }), /maxRestarts/);
});

// ---- client ----------------------------------------------------------------------------

test("client - sendFile writes strings, bytes and streams in chunks, concurrently", async () => {
  const server = startFileWriter();
  const text = "héllo 😀 wörld ".repeat(50); // small odd chunks must not split a surrogate pair
  const bytes = new Uint8Array(1000).map((_, i) => i % 251);
  async function* slowly(): AsyncGenerator<string> {
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      yield `part ${i};`;
    }
  }
  const chunks: number[] = [];
  const [n1, n2, n3] = await waitFor(
    Promise.all([
      sendFile(server, join(dir, "text.txt"), text, { chunkSize: 7 }),
      sendFile(server, join(dir, "bytes.bin"), bytes, { chunkSize: 64, onChunk: (n) => chunks.push(n) }),
      sendFile(server, join(dir, "stream.txt"), slowly()),
    ]),
  );
  assert.is(n1, Buffer.byteLength(text));
  assert.is(n2, 1000);
  assert.is(n3, 35);
  assert.is(await readFile(join(dir, "text.txt"), "utf8"), text);
  assert.equal(new Uint8Array(await readFile(join(dir, "bytes.bin"))), bytes);
  assert.is(await readFile(join(dir, "stream.txt"), "utf8"), "part 0;part 1;part 2;part 3;part 4;");
  assert.is(chunks.length, 16);
  kil(server);
});

test("client - sendFile rejects with the reason when the server dies", async () => {
  const server = startFileWriter();
  const died = death(server);
  await rejects(sendFile(server, join(dir, "missing", "x.txt"), "data"), /died before writing .*ENOENT/);
  assert.is((await died)[0], "die");
  await rejects(sendFile(server, join(dir, "y.txt"), "data"), /no_such_port/);
});

// ---- supervisor --------------------------------------------------------------------------

test("supervisor - reports the death, restarts the server, and the new one works", async () => {
  const deaths: [string, unknown[]][] = [];
  const restarted = deferred<[FileWriter, FileWriter]>();
  const sup = superviseFileWriter({
    dataTimeout: 0.05,
    onDeath: (server, reason) => deaths.push([server, reason]),
    onRestart: (server, previous) => restarted.resolve([server, previous]),
  });
  const first = sup.server;
  snd(first, "write_file", "quiet", join(dir, "quiet.txt"));
  const [second, previous] = await waitFor(restarted.promise, 2000, "the restart");
  assert.is(previous, first);
  assert.is.not(second, first);
  assert.is(sup.server, second);
  assert.is(sup.restarts, 1);
  assert.equal(deaths, [[first, ["die", "timeout waiting for data message from quiet"]]]);
  const path = join(dir, "after-restart.txt");
  assert.is(await sendFile(second, path, "still serving"), 13);
  assert.is(await readFile(path, "utf8"), "still serving");
  const serverGone = death(second);
  const supGone = death(sup.port);
  sup.stop();
  assert.equal(await supGone, []);
  assert.equal(await serverGone, []);
  assert.is(deaths.length, 1, "stop() is not reported as a death");
});

test("supervisor - gives up after maxRestarts within the period", async () => {
  const deaths: unknown[][] = [];
  const restarted = deferred<string>();
  const sup = superviseFileWriter({
    maxRestarts: 1,
    onDeath: (_server, reason) => deaths.push(reason),
    onRestart: (server) => restarted.resolve(server),
  });
  const supGone = death(sup.port);
  kil(sup.server, "boom", 1);
  const second = await waitFor(restarted.promise, 2000, "the first restart");
  const secondGone = death(second);
  kil(second, "boom", 2);
  assert.equal(await secondGone, ["boom", 2]);
  const reason = await supGone;
  assert.is(reason[0], "restart_limit");
  assert.match(String(reason[1]), "died 2 times within 60 s; last reason: boom 2");
  assert.equal(deaths, [["boom", 1], ["boom", 2]]);
  assert.is(sup.restarts, 1);
});

test("supervisor - a supervisor killed abnormally takes its server with it", async () => {
  const sup = superviseFileWriter({ onDeath: () => {} });
  const serverGone = death(sup.server);
  const supGone = death(sup.port);
  kil(sup.port, "shutdown_now");
  assert.equal(await supGone, ["shutdown_now"]);
  assert.equal(await serverGone, ["shutdown_now"]);
});

// ---- command line: client.ts and the demo --------------------------------------------------

const tsx = (args: string[], ms = 30_000) => runToEnd(args, ms);

test("client - the command line copies a file through a file writer", async () => {
  const source = join(root, "samples", "file-writer", "server.ts");
  const target = join(dir, "cli-copy.ts");
  const run = await tsx(["samples/file-writer/client.ts", target, source]);
  assert.equal(run, { code: 0, stdout: `wrote ${(await readFile(source)).byteLength} bytes to ${target}\n`, stderr: "" });
  assert.equal(await readFile(target), await readFile(source));
  const bad = await tsx(["samples/file-writer/client.ts", join(dir, "nowhere", "x"), source]);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /^client: file writer \S+ died before writing .*: die ENOENT/);
});

test("demo - `npm start` runs, prints the checks and exits 0", async () => {
  const { code, stdout, stderr } = await tsx(["samples/file-writer/demo.ts"]);
  assert.is(stderr, "", "the demo writes nothing to stderr");
  assert.is(code, 0, stdout);
  assert.match(stdout, /two clients sent \d+ chunks; arrival order \(a = alice, b = bob\): [ab]+\n/);
  assert.match(stdout, /alice\.txt +\d+ bytes +sha256 [0-9a-f]{16} +ok, same as the source/);
  assert.match(stdout, /bob\.bin +204800 bytes +sha256 [0-9a-f]{16} +ok, same as the source/);
  assert.match(stdout, /died: die timeout waiting for data message from silent-client\n/);
  assert.match(stdout, /restarted as \S+#\S+\n/);
  assert.match(stdout, /carol\.txt +\d+ bytes .* ok, same as the source/);
  assert.match(stdout, /done in [\d.]+ s; temp directory removed\n$/);
  assert.not.match(stdout, /MISMATCH|failed/);
  const tempDir = /clients in (\S+)\n/.exec(stdout)?.[1];
  assert.ok(tempDir !== undefined && !(await exists(tempDir)), "the demo removes its temp directory");
});

test.run();
