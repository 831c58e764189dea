/**
 * `gencert`, `setcert FILE`, `delcert`: the network's shared TLS certificate.
 *
 * The `cert` key holds one PEM text with the private key and the certificate, as in
 * Perl AEMP. Every node of the network uses the same one: with it, links are
 * encrypted and each side checks that the other presents exactly this certificate.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CliError, type Command } from "./command.ts";

/** Checks that a PEM text holds a certificate and the private key that belongs to it. */
export async function checkCertPem(pem: string, source: string): Promise<string> {
  const { splitPem } = await import("../../lib/config/configure.ts");
  let parts: { cert: string; key: string };
  try {
    parts = splitPem(pem);
  } catch {
    throw new CliError(`${source} must hold a PEM certificate and its PEM private key`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(parts.cert);
  } catch (err) {
    throw new CliError(`the certificate in ${source} is not readable: ${(err as Error).message}`);
  }
  let key;
  try {
    key = createPrivateKey(parts.key);
  } catch (err) {
    throw new CliError(`the private key in ${source} is not readable (it must not be encrypted): ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(key)) throw new CliError(`the private key in ${source} does not belong to its certificate`);
  return `${parts.key}${parts.cert}`;
}

/** Days a generated certificate is valid: the network breaks when it expires. */
export const GENCERT_DAYS = 36500;

export const gencert: Command = {
  name: "gencert",
  usage: "",
  summary: "generate a self-signed certificate (with openssl) and store it",
  help: `Runs openssl to make an EC (P-256) key and a self-signed certificate valid for
${GENCERT_DAYS} days, and stores both in the cert key. Copy the rc file to every node.`,
  group: "config",
  arity: 0,
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), "aemp-gencert-"));
    try {
      const key = join(dir, "key.pem");
      const crt = join(dir, "cert.pem");
      const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", String(GENCERT_DAYS), "-subj", "/CN=aemp", "-keyout", key, "-out", crt];
      try {
        execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
        if (e.code === "ENOENT") throw new CliError("needs the openssl command, which is not in PATH (or use setcert FILE)");
        const detail = e.stderr?.toString().trim().split("\n")[0] ?? e.message;
        throw new CliError(`openssl failed: ${detail}`);
      }
      ctx.set("cert", await checkCertPem(`${readFileSync(key, "utf8")}${readFileSync(crt, "utf8")}`, "the generated certificate"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export const setcert: Command = {
  name: "setcert",
  usage: "FILE",
  summary: "store a PEM file (private key + certificate; - for stdin)",
  group: "config",
  arity: 1,
  async run(ctx, [file]) {
    let pem: string;
    try {
      pem = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
    }
    ctx.set("cert", await checkCertPem(pem, file === "-" ? "stdin" : file));
  },
};

export const delcert: Command = {
  name: "delcert",
  usage: "",
  summary: "remove the certificate (links go back to plain TCP)",
  group: "config",
  arity: 0,
  run(ctx) {
    ctx.del("cert");
  },
};

export default [gencert, setcert, delcert];
