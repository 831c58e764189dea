/**
 * The file-copy sample across processes: receiver.ts in one child process, send.ts in
 * others, finding the receiver through the database; compare.ts on a small file.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runSample, stopSamples } from "./sample-helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "aemp-file-copy-spec-"));
const received = join(dir, "received");
mkdirSync(received);
const env = { AEMP_SECRET: "file-copy-spec" };
const run = (script: string, args: string[]) => runSample(join("samples/file-copy", script), args, { env });
const receiver = run("receiver.ts", [received, "*"]);
let info: { nodeId: string; addresses: string[] };

test.before(async () => {
  info = JSON.parse(await receiver.line(/^\{.*\}$/, 15_000));
});

test.after(async () => {
  await stopSamples();
  rmSync(dir, { recursive: true, force: true });
});

test("file-copy - a file crosses to the receiver's directory whole, with progress shown", async () => {
  const data = randomBytes(5 * 1024 * 1024 + 17);
  writeFileSync(join(dir, "five.bin"), data);
  const r = await run("send.ts", [info.addresses[0], join(dir, "five.bin")]).result(20_000);
  assert.is(r.code, 0, r.err);
  const result = JSON.parse(r.out) as { receiver: string; name: string; bytes: number };
  assert.equal([result.receiver, result.name, result.bytes], [info.nodeId, "five.bin", data.length]);
  assert.ok(readFileSync(join(received, "five.bin")).equals(data), "the copy differs");
  assert.match(r.err, /five\.bin 100% 5\.0\/5\.0 MiB/);
});

test("file-copy - a name with a path is refused; nothing is written outside the directory", async () => {
  writeFileSync(join(dir, "x.bin"), "x");
  const r = await run("send.ts", [info.addresses[0], join(dir, "x.bin"), "../escaped.bin"]).result(20_000);
  assert.is(r.code, 1);
  assert.match(r.err, /plain file name/);
  assert.not.ok(existsSync(join(dir, "escaped.bin")));
});

test("file-copy - compare.ts times both ways and checks both copies", async () => {
  const r = await run("compare.ts", ["4"]).result(30_000);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /data messages .* MiB\/s .* ok/);
  assert.match(r.out, /data connection .* MiB\/s .* ok/);
});

test.run();
