/**
 * `showconfig [PROFILE] [KEY VALUE...] [--json]`: the configuration a node would run
 * with (`aemp run profile PROFILE KEY VALUE...` or `configure({profile})`): defaults,
 * the file's top level and the profile chain merged, and where each value came from.
 * The profile defaults to the one selected with `profile NAME`, else the host name.
 * It names the rc file and why that one (`$AEMP_RC`, `~/.aemp.json`, or Perl's file
 * when ours does not exist). The secret is masked unless `--show-secret`.
 */
import { X509Certificate } from "node:crypto";
import type { splitPem as SplitPem } from "../../lib/config/configure.ts";
import { CONFIG_KEYS, rcLocation } from "../../lib/config/rc.ts";
import { type Command, parseOptions, toJson } from "./command.ts";
import { parseConfigureArgs } from "./config-args.ts";

const FIRST = ["nodeid", "secret", "cert", "binds", "seeds", "services", "module_roots"];

function certSummary(pem: string, splitPem: typeof SplitPem): string {
  try {
    const x509 = new X509Certificate(splitPem(pem).cert);
    return `<certificate ${x509.subject.replace(/\n/g, ", ")}, SHA-256 ${x509.fingerprint256}, valid until ${x509.validTo}>`;
  } catch {
    return "<unreadable certificate>";
  }
}

export const showconfig: Command = {
  name: "showconfig",
  usage: "[PROFILE] [KEY VALUE...] [--json]",
  summary: "print the effective configuration of a profile, and where each value comes from",
  help: `PROFILE defaults to the one chosen with 'profile NAME' before, else the host name.
KEY VALUE pairs are configure() arguments, as for 'aemp run' (norc 1, force 1 too), so
'aemp showconfig seed nodeid x' shows what 'aemp run profile seed nodeid x' would use.
The certificate is shown by its fingerprint, the secret masked.
  --json                  print the values as one JSON object
  --show-secret           show the secret itself`,
  group: "profile",
  arity: "rest",
  async run(ctx, args) {
    const { CONFIG_DEFAULTS, resolveConfig, splitPem } = await import("../../lib/config/configure.ts");
    const { flags, positional } = parseOptions("showconfig", args, { flags: ["json", "show-secret"], anywhere: true });
    const profile = positional.length % 2 === 1 ? positional.shift() : ctx.profile;
    const options = parseConfigureArgs(positional);
    if (profile !== undefined) options.profile = profile;
    const resolved = resolveConfig(options, options.norc ? null : { data: ctx.rc(), path: ctx.path });
    const values: Record<string, unknown> = { nodeid: `${resolved.profile}/`, ...CONFIG_DEFAULTS, ...resolved.values };
    if (typeof values.secret === "string" && !flags.has("show-secret")) values.secret = `<${values.secret.length} characters, hidden: --show-secret shows it>`;
    const keys = [...new Set([...FIRST, ...Object.keys(CONFIG_DEFAULTS), ...Object.keys(values)])].filter((k) => values[k] !== undefined);
    if (flags.has("json")) {
      ctx.io.out(`${toJson(Object.fromEntries(keys.map((k) => [k, values[k]])), 2)}\n`);
      return 0;
    }
    const layers = resolved.file === null ? "arguments only, the rc file is ignored (norc)" : `arguments, then the top level${resolved.chain.map((p) => `, then profile '${p}'`).join("")} of ${resolved.file}${resolved.chain.length === 0 ? ` (it has no profile '${resolved.profile}')` : ""}`;
    const location = rcLocation();
    if (resolved.file !== null) ctx.io.out(`# rc file: ${resolved.file}${resolved.file === location.path ? ` (${location.source})` : " (--rc)"}\n`);
    ctx.io.out(`# profile '${resolved.profile}': ${layers}\n`);
    const rows = keys.map((key) => {
      const v = values[key];
      let origin = resolved.origins[key] ?? "default";
      if (key === "nodeid" && resolved.values.nodeid === undefined) origin = "default: PROFILE/ + random";
      if (CONFIG_KEYS[key] === undefined) origin += ", not used by this implementation";
      return [key, key === "cert" && typeof v === "string" ? certSummary(v, splitPem) : toJson(v), origin];
    });
    const kw = Math.max(...rows.map((r) => r[0].length)) + 2;
    const vw = Math.min(48, Math.max(...rows.map((r) => r[1].length))) + 1;
    for (const [key, shown, origin] of rows) ctx.io.out(`${key.padEnd(kw)}${shown.padEnd(vw)} (${origin})\n`);
    return 0;
  },
};

export default [showconfig];
