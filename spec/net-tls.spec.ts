/**
 * TLS links: this process is a node with the network's certificate; a child process
 * (spec/fixtures/tls-caller.ts) joins it with a given certificate and secret and
 * calls an echo port here. Certificates are generated with openssl into a temp dir.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { configure, port, rcv, snd } from "../lib/index.ts";
import { captureLog, waitFor } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "aemp-tls-"));
const root = new URL("..", import.meta.url).pathname;

function makeCert(name: string): string {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", `/CN=${name}`], { stdio: "ignore" });
  const pem = join(dir, `${name}.pem`);
  writeFileSync(pem, readFileSync(key, "utf8") + readFileSync(crt, "utf8"));
  return pem;
}

const networkCert = makeCert("network");
const otherCert = makeCert("other");
const { addresses } = await configure({
  nodeid: "tls-spec/%u",
  binds: ["127.0.0.1:*"],
  secret: "tls-spec-secret",
  cert: readFileSync(networkCert, "utf8"),
});
const echo = rcv(port(), "echo", (value: unknown, reply: string) => snd(reply, "echoed", value));

function runCaller(env: Record<string, string>): Promise<{ reply: unknown[] | null; stderr: string }> {
  return waitFor(
    new Promise((resolve, reject) => {
      const child = spawn(join(root, "node_modules/.bin/tsx"), [join(root, "spec/fixtures/tls-caller.ts"), addresses[0], echo], {
        env: { ...process.env, AEMP_CERT_FILE: "", AEMP_SECRET: "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("close", () => {
        const line = out.trim().split("\n").pop() ?? "";
        try {
          resolve({ ...JSON.parse(line), stderr: err });
        } catch {
          reject(new Error(`caller printed no result: ${out} ${err}`));
        }
      });
    }),
    20_000,
    "the TLS caller's result",
  );
}

test("tls - same certificate and secret: the call goes through TLS and superjson", async () => {
  const r = await runCaller({ AEMP_CERT_FILE: networkCert, AEMP_SECRET: "tls-spec-secret" });
  assert.equal(r.reply, ["echoed", new Date(86_400_000).toISOString()]);
});

test("tls - same certificate, no secret: tls_sha3_512 authenticates", async () => {
  const r = await runCaller({ AEMP_CERT_FILE: networkCert });
  assert.equal(r.reply, ["echoed", new Date(86_400_000).toISOString()]);
});

test("tls - another certificate: no link, the call times out, and both nodes warn about it at the default level", async () => {
  using log = captureLog();
  const r = await runCaller({ AEMP_CERT_FILE: otherCert, AEMP_SECRET: "tls-spec-secret" });
  assert.is(r.reply, null);
  const ours = log.records.filter((rec) => rec.level === 5 && /^link from .* refused: TLS /.test(rec.text));
  assert.ok(ours.length > 0, log.texts().join("\n"));
  assert.match(r.stderr, /<5> link to .* refused: TLS /);
});

test("tls - peer without a certificate but with the secret: plain authenticated link", async () => {
  const r = await runCaller({ AEMP_SECRET: "tls-spec-secret" });
  assert.equal(r.reply, ["echoed", new Date(86_400_000).toISOString()]);
});

test("tls - wrong secret and no certificate: no link", async () => {
  const r = await runCaller({ AEMP_SECRET: "wrong" });
  assert.is(r.reply, null);
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
  setImmediate(() => process.exit(0));
});

test.run();
