/**
 * The file-copy sample across processes: receiver.ts in one child process, send.ts in
 * others, finding the receiver through the database; compare.ts on a small file.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { waitFor } from "./helpers.ts";

const root = new URL("..", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "aemp-file-copy-spec-"));
const received = join(dir, "received");
mkdirSync(received);
const env = { ...process.env, AEMP_SECRET: "file-copy-spec" };
const children: ChildProcess[] = [];

function run(script: string, args: string[]): { firstLine: Promise<string>; exit: Promise<{ code: number | null; out: string; err: string }> } {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "samples/file-copy", script), ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
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
  return { firstLine, exit };
}

const receiver = run("receiver.ts", [received, "*"]);
const info = JSON.parse(await waitFor(receiver.firstLine, 15_000, "the receiver's address line")) as { nodeId: string; addresses: string[] };

test.after(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("file-copy - a file crosses to the receiver's directory whole, with progress shown", async () => {
  const data = randomBytes(5 * 1024 * 1024 + 17);
  writeFileSync(join(dir, "five.bin"), data);
  const r = await waitFor(run("send.ts", [info.addresses[0], join(dir, "five.bin")]).exit, 20_000, "send.ts");
  assert.is(r.code, 0, r.err);
  const result = JSON.parse(r.out) as { receiver: string; name: string; bytes: number };
  assert.equal([result.receiver, result.name, result.bytes], [info.nodeId, "five.bin", data.length]);
  assert.ok(readFileSync(join(received, "five.bin")).equals(data), "the copy differs");
  assert.match(r.err, /five\.bin 100% 5\.0\/5\.0 MiB/);
});

test("file-copy - a name with a path is refused; nothing is written outside the directory", async () => {
  writeFileSync(join(dir, "x.bin"), "x");
  const r = await waitFor(run("send.ts", [info.addresses[0], join(dir, "x.bin"), "../escaped.bin"]).exit, 20_000, "send.ts");
  assert.is(r.code, 1);
  assert.match(r.err, /plain file name/);
  assert.not.ok(existsSync(join(dir, "escaped.bin")));
});

test("file-copy - compare.ts times both ways and checks both copies", async () => {
  const r = await waitFor(run("compare.ts", ["4"]).exit, 30_000, "compare.ts");
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /data messages .* MiB\/s .* ok/);
  assert.match(r.out, /data connection .* MiB\/s .* ok/);
});

test.run();
