/**
 * The file-writer demo (`npm start`): a supervised file-writer server (server.ts,
 * supervisor.ts) and clients (client.ts), all in this process, in a temp directory.
 *
 * 1. Two clients stream two files to the one server at the same time, chunk by
 *    chunk; their messages arrive interleaved, the server takes one file at a time,
 *    and the copies come out whole: sizes and SHA-256 checksums match the sources.
 * 2. A third client starts a file and goes silent; the server's data timeout kills it,
 *    the supervisor reports why and starts a new server, which serves the next file.
 *
 * Run: npm start   (or: npx tsx samples/file-writer/demo.ts)
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { snd } from "aemp";
import { sendFile } from "./client.ts";
import { reasonText } from "./server.ts";
import { superviseFileWriter } from "./supervisor.ts";

const started = performance.now();
// Nothing should keep this process alive once the demo is over; if something does,
// fail loudly instead of hanging (the timer itself does not keep the process alive).
setTimeout(() => {
  console.error("demo: still running after 20 s; something was left behind");
  process.exit(1);
}, 20_000).unref();

const KiB = 1024;
const dir = await mkdtemp(join(tmpdir(), "aemp-file-writer-"));
let nextRestart = (_server: string): void => {};
const supervisor = superviseFileWriter({
  dataTimeout: 1,
  onDeath: (server, reason) => console.log(`  server ${server} died: ${reasonText(reason)}`),
  onRestart: (server) => nextRestart(server),
});

try {
  console.log(`file-writer demo: one supervised server, clients in ${dir}`);
  console.log(`  server ${supervisor.server}`);

  // 1. Two clients at once.
  const sources = join(dir, "sources");
  await mkdir(sources);
  const files = [
    { name: "alice.txt", data: Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i + 1}: alice was here, ünïcödé included\n`).join("")) },
    { name: "bob.bin", data: randomBytes(200 * KiB) },
  ];
  for (const f of files) await writeFile(join(sources, f.name), f.data);

  let order = "";
  const written = await Promise.all(
    files.map((f) =>
      sendFile(supervisor.server, join(dir, f.name), createReadStream(join(sources, f.name), { highWaterMark: 16 * KiB }), {
        onChunk: () => (order += f.name[0]),
      }),
    ),
  );
  console.log(`  two clients sent ${order.length} chunks; arrival order (a = alice, b = bob): ${order}`);
  for (const [i, f] of files.entries()) await check(join(dir, f.name), f.data, written[i]);

  // 2. A client that goes silent. Any unique string will do as the source: it need not
  //    be a port (then the server just has nobody to reply to).
  const restarted = new Promise<string>((resolve) => (nextRestart = resolve));
  console.log("  a third client sends one chunk and goes silent (the server waits 1 s)...");
  snd(supervisor.server, "write_file", "silent-client", join(dir, "silent.txt"));
  snd(supervisor.server, "data", "silent-client", "hello?\n");
  const replacement = await restarted;
  console.log(`  restarted as ${replacement}`);
  const carol = Buffer.from("carol's file, written by the new server\n");
  await check(join(dir, "carol.txt"), carol, await sendFile(supervisor.server, join(dir, "carol.txt"), carol.toString()));

  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s; temp directory removed`);
} catch (err) {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  supervisor.stop();
  await rm(dir, { recursive: true, force: true });
}

/** Compares a copy with its source: byte count, size on disk and SHA-256. */
async function check(path: string, source: Uint8Array, reported: number): Promise<void> {
  const copy = await readFile(path);
  const want = sha256(source);
  const got = sha256(copy);
  const ok = reported === source.byteLength && copy.byteLength === source.byteLength && got === want;
  const name = basename(path).padEnd(10);
  console.log(`  ${name} ${String(copy.byteLength).padStart(7)} bytes  sha256 ${got.slice(0, 16)}  ${ok ? "ok, same as the source" : `MISMATCH (source: ${source.byteLength} bytes, sha256 ${want.slice(0, 16)})`}`);
  if (!ok) throw new Error(`${basename(path)}: the copy differs from the source`);
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
