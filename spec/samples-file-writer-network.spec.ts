/**
 * The file-writer sample across processes: network-server.ts in one child process,
 * network-client.ts in others, finding the server through the database.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runSample, stopSamples } from "./sample-helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "aemp-fw-net-"));
const env = { AEMP_SECRET: "file-writer-network-spec" };
const dirOf = "samples/file-writer";

/** Runs a client to its end; resolves with its exit code and output. */
function client(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return runSample(`${dirOf}/network-client.ts`, args, { env }).result();
}

const server = runSample(`${dirOf}/network-server.ts`, ["*"], { env });
let info: { addresses: string[]; server: string };

test.before(async () => {
  info = JSON.parse(await server.line(/^\{.*\}$/, 60_000));
});

test("file-writer network - two clients in their own processes write two whole files", async () => {
  const a = randomBytes(200_000);
  const b = Buffer.from("line of text\n".repeat(20_000));
  writeFileSync(join(dir, "a.src"), a);
  writeFileSync(join(dir, "b.src"), b);
  const [ra, rb] = await Promise.all([
    client([info.addresses[0], join(dir, "a.out"), join(dir, "a.src")]),
    client([info.addresses[0], join(dir, "b.out"), join(dir, "b.src")]),
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
  const r = await client([info.addresses[0], join(dir, "no/such/dir/c.out"), join(dir, "c.src")]);
  assert.is(r.code, 1);
  assert.match(r.err, /ENOENT/);
});

test("file-writer network - the supervisor's new server is found by the next client", async () => {
  writeFileSync(join(dir, "d.src"), "after the restart\n");
  const r = await client([info.addresses[0], join(dir, "d.out"), join(dir, "d.src")]);
  assert.is(r.code, 0, r.err);
  assert.is.not(JSON.parse(r.out).server, info.server);
  assert.is(readFileSync(join(dir, "d.out"), "utf8"), "after the restart\n");
});

test.after(async () => {
  await stopSamples();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
