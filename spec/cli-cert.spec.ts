/**
 * `aemp gencert`, `setcert`, `delcert` against a private rc file, and a TLS network
 * made of nothing but the generated certificate: a seed started with `aemp run` and
 * the CLI itself (no secret), which can only talk over TLS.
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type TempRc, aemp, aempOk, startAemp, stopAll, tempRc } from "./cli-helpers.ts";

let rc: TempRc;

test.before(() => {
  rc = tempRc();
});
test.after(async () => {
  await stopAll();
  rc.cleanup();
});

function parts(pem: string): { key: string; cert: string } {
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(pem)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(pem)?.[0];
  assert.ok(key !== undefined && cert !== undefined, "a PEM key and a PEM certificate");
  return { key: key!, cert: cert! };
}

test("cli gencert - a self-signed certificate and its key, in the cert key", async () => {
  await aempOk(rc, ["gencert"]);
  const { cert } = parts(rc.read().cert);
  const x509 = new X509Certificate(cert);
  assert.match(x509.subject, /CN=aemp/);
  assert.ok(new Date(x509.validTo).getFullYear() > new Date().getFullYear() + 50, x509.validTo);
  const shown = await aempOk(rc, ["showconfig"]);
  assert.ok(shown.includes(x509.fingerprint256), "showconfig shows the fingerprint, not the PEM");
  assert.not.ok(shown.includes("PRIVATE KEY"));
});

test("cli setcert/delcert - from a file or stdin, checked; delcert removes it", async () => {
  const pem = rc.read().cert as string;
  const other = tempRc();
  try {
    const file = join(other.dir, "net.pem");
    writeFileSync(file, pem);
    await aempOk(other, ["setcert", file]);
    assert.is(other.read().cert, pem);
    await aempOk(other, ["delcert"]);
    assert.equal(other.read(), { version: 1 });
    await aempOk(other, ["profile", "tls", "setcert", "-"], { input: pem });
    assert.is(other.read().profile.tls.cert, pem);
    // A key that does not belong to the certificate, a file without a key, no file.
    await aempOk(other, ["gencert"]);
    const mixed = join(other.dir, "mixed.pem");
    writeFileSync(mixed, parts(other.read().cert).key + parts(pem).cert);
    let r = await aemp(other, ["setcert", mixed]);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^aemp setcert: the private key in .*mixed\.pem does not belong to its certificate\n$/);
    const certOnly = join(other.dir, "cert-only.pem");
    writeFileSync(certOnly, parts(pem).cert);
    r = await aemp(other, ["setcert", certOnly]);
    assert.match(r.stderr, /must hold a PEM certificate and its PEM private key/);
    r = await aemp(other, ["setcert", join(other.dir, "missing.pem")]);
    assert.match(r.stderr, /^aemp setcert: cannot read .*missing\.pem: ENOENT/);
  } finally {
    other.cleanup();
  }
});

test("cli gencert - without openssl, a clear error", async () => {
  const bin = join(rc.dir, "bin");
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, "node"));
  const r = await aemp(rc, ["gencert"], { env: { PATH: bin } });
  assert.is(r.code, 1);
  assert.is(r.stderr, "aemp gencert: needs the openssl command, which is not in PATH (or use setcert FILE)\n");
});

test("cli gencert - the certificate alone makes a working TLS network", async () => {
  await aempOk(rc, ["delsecret", "profile", "seed", "setbinds", "127.0.0.1:*"]);
  const seed = startAemp(rc, ["run", "profile", "seed"]);
  const [, seedId, address] = await seed.line(/^(\S+) listening on (\S+) \(profile seed\)$/);
  await aempOk(rc, ["setseeds", address]);
  const nodes = await aempOk(rc, ["nodes", "--check"]);
  assert.match(nodes, new RegExp(`^${seedId.replace(/[/]/g, "\\/")} +${address} +global +up `, "m"));
  assert.is(await seed.signal("SIGINT"), 0);
});

test.run();
