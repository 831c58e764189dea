/**
 * The file-writer sample across processes: network-server.ts in one child process,
 * network-client.ts in others, finding the server through the database.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { waitFor } from "./helpers.ts";

const root = new URL("..", import.meta.url).pathname;
const tsx = join(root, "node_modules/.bin/tsx");
const dir = mkdtempSync(join(tmpdir(), "aemp-fw-net-"));
const env = { ...process.env, AEMP_SECRET: "file-writer-network-spec" };
const children: ChildProcess[] = [];
// Whatever happens to this spec, its nodes go with it.
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

function run(script: string, args: string[]): { child: ChildProcess; firstLine: Promise<string>; exit: Promise<{ code: number | null; out: string; err: string }> } {
  const child = spawn(tsx, [join(root, "samples/file-writer", script), ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  let lineSeen: (line: string) => void = () => {};
  const firstLine = new Promise<string>((resolve) => (lineSeen = resolve));
  child.stdout!.on("data", (d) => {
    out += d;
    if (out.includes("\n")) lineSeen(out.slice(0, out.indexOf("\n")));
  });
  child.stderr!.on("data", (d) => (err += d));
  const exit = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on("close", (code) => resolve({ code, out, err })));
  return { child, firstLine, exit };
}

const server = run("network-server.ts", ["*"]);
let info: { addresses: string[]; server: string };

test.before(async () => {
  info = JSON.parse(await waitFor(server.firstLine, 60_000, "the server's address line"));
});

test("file-writer network - two clients in their own processes write two whole files", async () => {
  const a = randomBytes(200_000);
  const b = Buffer.from("line of text\n".repeat(20_000));
  writeFileSync(join(dir, "a.src"), a);
  writeFileSync(join(dir, "b.src"), b);
  const [ra, rb] = await Promise.all([
    waitFor(run("network-client.ts", [info.addresses[0], join(dir, "a.out"), join(dir, "a.src")]).exit, 30_000, "client a"),
    waitFor(run("network-client.ts", [info.addresses[0], join(dir, "b.out"), join(dir, "b.src")]).exit, 30_000, "client b"),
  ]);
  assert.is(ra.code, 0, ra.err);
  assert.is(rb.code, 0, rb.err);
  assert.equal(JSON.parse(ra.out).bytes, a.length);
  assert.equal(JSON.parse(rb.out).server, info.server);
  assert.ok(readFileSync(join(dir, "a.out")).equals(a), "file a arrived whole");
  assert.ok(readFileSync(join(dir, "b.out")).equals(b), "file b arrived whole");
});

test("file-writer network - a bad path is reported to the client as the server's death", async () => {
  writeFileSync(join(dir, "c.src"), "x");
  const r = await waitFor(run("network-client.ts", [info.addresses[0], join(dir, "no/such/dir/c.out"), join(dir, "c.src")]).exit, 30_000, "client c");
  assert.is(r.code, 1);
  assert.match(r.err, /ENOENT/);
});

test("file-writer network - the supervisor's new server is found by the next client", async () => {
  writeFileSync(join(dir, "d.src"), "after the restart\n");
  const r = await waitFor(run("network-client.ts", [info.addresses[0], join(dir, "d.out"), join(dir, "d.src")]).exit, 30_000, "client d");
  assert.is(r.code, 0, r.err);
  assert.is.not(JSON.parse(r.out).server, info.server);
  assert.is(readFileSync(join(dir, "d.out"), "utf8"), "after the restart\n");
});

test.after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
  setImmediate(() => process.exit(0));
});

test.run();
