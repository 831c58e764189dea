/**
 * The same file sent two ways, timed: as `data` messages to the file-writer server
 * (samples/file-writer: network-server.ts in its own process, `sendFile` from
 * client.ts here), and over a data connection to the file-copy receiver (receiver.ts
 * in its own process, `copyFile` from copy.ts here). Both copies are checked against
 * the source's SHA-256; how much the sending process's RSS grew is shown for each.
 *
 * Run: npx tsx samples/file-copy/compare.ts [MiB]   (default 200)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { asPort, configure, dbWaitFor, nodeOf } from "aemp";
import { sendFile } from "../file-writer/client.ts";
import type { FileWriterMessage } from "../file-writer/server.ts";
import { RECEIVERS, copyFile, progressPrinter } from "./copy.ts";

const mib = Number(process.argv[2] ?? 200);
if (!Number.isFinite(mib) || mib <= 0) {
  console.error("usage: compare.ts [MiB]");
  process.exit(2);
}
const size = Math.round(mib * 1048576);
const secret = `compare-${randomBytes(8).toString("hex")}`;
const here = new URL(".", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "aemp-file-copy-"));
const children: ChildProcess[] = [];

function cleanUp(): void {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanUp);

/** Starts a sample program; resolves with the JSON line it prints once ready. */
function start(script: string, args: string[]): Promise<Record<string, any>> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { env: { ...process.env, AEMP_SECRET: secret }, stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout! }).once("line", (line) => resolve(JSON.parse(line)));
  });
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Runs `fn`, timing it and sampling how much this process's RSS grows meanwhile. */
async function measure(fn: () => Promise<unknown>): Promise<{ seconds: number; rssGrowth: number }> {
  const startRss = process.memoryUsage().rss;
  let peakRss = startRss;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const started = performance.now();
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return { seconds: (performance.now() - started) / 1000, rssGrowth: Math.max(peakRss, process.memoryUsage().rss) - startRss };
}

// A source file of random bytes.
const source = join(dir, "source.bin");
const fd = openSync(source, "w");
for (let left = size; left > 0; left -= 1048576) writeSync(fd, randomBytes(Math.min(1048576, left)));
closeSync(fd);
const expected = await sha256(source);

// The file-writer server is the seed; the file-copy receiver and this process join it.
const server = await start(join(here, "../file-writer/network-server.ts"), ["*"]);
const seed = server.addresses.find((a: string) => a.startsWith("127.")) ?? server.addresses[0];
mkdirSync(join(dir, "received"));
await start(join(here, "receiver.ts"), [join(dir, "received"), "--seed", seed]);
await configure({ nodeid: "filecopy-compare/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret });

const writers = await dbWaitFor("filewriter::servers", 10);
const receivers = await dbWaitFor(RECEIVERS, 10);
if (writers === undefined || receivers === undefined) throw new Error("the servers did not show up within 10 s");
const writer = asPort<FileWriterMessage>(Object.keys(writers)[0]);
const receiver = nodeOf(Object.keys(receivers)[0]);

// The data connection first: what the message path leaves behind (RSS is rarely given
// back) would otherwise count against it.
console.error(`sending ${mib} MiB over a data connection to ${receiver}`);
const dataconn = await measure(() => copyFile(receiver, source, "via-dataconn.bin", { onProgress: progressPrinter("dataconn") }));

console.error(`sending ${mib} MiB as data messages to the file writer ${writer}`);
const viaMessages = join(dir, "via-messages.bin");
const showMessages = progressPrinter("messages");
let sentByMessages = 0;
const messages = await measure(() =>
  sendFile(writer, viaMessages, createReadStream(source), {
    timeout: 120,
    onChunk: (n) => showMessages((sentByMessages += n), size),
  }),
);

const okMessages = (await sha256(viaMessages)) === expected;
const okDataconn = (await sha256(join(dir, "received", "via-dataconn.bin"))) === expected;

const row = (method: string, r: { seconds: number; rssGrowth: number }, ok: boolean): string =>
  `${method.padEnd(18)} ${r.seconds.toFixed(2).padStart(7)} s ${(mib / r.seconds).toFixed(1).padStart(8)} MiB/s ${(r.rssGrowth / 1048576).toFixed(0).padStart(8)} MiB   ${ok ? "ok" : "MISMATCH"}`;
console.log(`${mib} MiB         time       rate   sender's RSS growth`);
console.log(row("data messages", messages, okMessages));
console.log(row("data connection", dataconn, okDataconn));
console.log(`data connection ${(messages.seconds / dataconn.seconds).toFixed(1)}x faster`);
process.exit(okMessages && okDataconn ? 0 : 1);

