/**
 * `KEY VALUE` pairs on the command line (`aemp run profile seed nodeid x`,
 * `aemp showconfig seed binds '*:4041'`) turned into `configure()` options: `profile`
 * is a name, `norc` and `force` are booleans, every other key is checked as `aemp set`
 * checks it.
 */
import { resolve } from "node:path";
import type { ConfigureOptions } from "../../lib/config/configure.ts";
import { CONFIG_KEYS, valueFromArgument } from "../../lib/config/rc.ts";
import { CliError } from "./command.ts";

function bool(key: string, text: string): boolean {
  const s = text.toLowerCase();
  if (["1", "true", "yes", "on"].includes(s)) return true;
  if (["0", "", "false", "no", "off"].includes(s)) return false;
  throw new CliError(`'${key}' must be a boolean (1/0, true/false), received ${JSON.stringify(text)}`);
}

export function parseConfigureArgs(args: string[]): ConfigureOptions {
  if (args.length % 2 !== 0) throw new CliError(`expected KEY VALUE pairs, but '${args[args.length - 1]}' has no value`);
  const options: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i += 2) {
    const [key, text] = [args[i], args[i + 1]];
    if (key === "profile") {
      if (text === "") throw new CliError("a profile name must not be empty");
      options.profile = text;
    } else if (key === "norc" || key === "force") options[key] = bool(key, text);
    else if (key === "parent") throw new CliError("'parent' belongs in a profile, not on the command line");
    else if (CONFIG_KEYS[key] !== undefined) {
      const v = valueFromArgument(key, text);
      options[key] = key === "module_roots" ? (v as string[]).map((d) => resolve(d)) : v;
    } else throw new CliError(`unknown configuration key '${key}' (known: profile, norc, force, ${Object.keys(CONFIG_KEYS).filter((k) => k !== "parent").join(", ")})`);
  }
  return options as ConfigureOptions;
}
