/**
 * `set KEY VALUE` and `del KEY` for any configuration key, and AEMP's spelling of the
 * same for the protocol options: `setmonitor_timeout 10`, `delnodelay`...
 *
 * Values are checked before they are stored: numbers for timeouts, 1/0 (or
 * true/false, yes/no, on/off) for booleans, and for lists a JSON array as AEMP takes
 * it (`'["superjson","json"]'`) or items separated by commas. `module_roots` are
 * stored as absolute paths (relative ones are taken from the current directory).
 */
import { resolve } from "node:path";
import { CONFIG_KEYS, valueFromArgument } from "../../lib/config/rc.ts";
import { CliError, type Command, type Context } from "./command.ts";
import { delparent, setparent } from "./profile.ts";

/** The protocol options that get their own setKEY/delKEY commands. */
export const PROTOCOL_KEYS = ["monitor_timeout", "connect_interval", "framing_format", "auth_offer", "auth_accept", "nodelay", "secure", "max_packet_size", "module_roots", "db", "db_lease", "metrics"] as const;

function checkKey(key: string): void {
  if (CONFIG_KEYS[key] === undefined) throw new CliError(`unknown configuration key '${key}' (known: ${Object.keys(CONFIG_KEYS).join(", ")})`);
}

/** Stores `key` from a command-line argument in the profile being edited. */
export function setKey(ctx: Context, key: string, text: string): void {
  checkKey(key);
  if (key === "cert") throw new CliError("a certificate is set from a file: aemp setcert FILE (or aemp gencert)");
  if (key === "parent") {
    setparent.run(ctx, [text]);
    return;
  }
  let value = valueFromArgument(key, text);
  if (key === "module_roots") value = (value as string[]).map((dir) => resolve(dir));
  ctx.set(key, value);
}

/** Removes `key` from the profile being edited (its default, or inherited value, applies). */
export function delKey(ctx: Context, key: string): void {
  checkKey(key);
  if (key === "parent") {
    delparent.run(ctx, []);
    return;
  }
  ctx.del(key);
}

const KEY_TABLE = Object.entries(CONFIG_KEYS)
  .map(([key, spec]) => `  ${key.padEnd(18)}${spec.expected}`)
  .join("\n");

export const set: Command = {
  name: "set",
  usage: "KEY VALUE",
  summary: "set any configuration key (see the key list below)",
  help: `Lists are a JSON array or items separated by commas; booleans 1/0 (true/false,
yes/no, on/off). AEMP's spelling setKEY VALUE works too. Keys and their values:
${KEY_TABLE}
(cert is set with setcert FILE or gencert; parent only in a profile.)`,
  group: "protocol",
  arity: 2,
  run(ctx, [key, value]) {
    setKey(ctx, key, value);
  },
};

export const del: Command = {
  name: "del",
  usage: "KEY",
  summary: "remove a configuration key",
  group: "protocol",
  arity: 1,
  run(ctx, [key]) {
    delKey(ctx, key);
  },
};

function keyCommands(key: string): Command[] {
  const spec = CONFIG_KEYS[key];
  return [
    {
      name: `set${key}`,
      usage: key === "framing_format" || key.startsWith("auth_") ? "JSON-ARRAY" : key === "module_roots" ? "DIR,..." : "VALUE",
      summary: spec.summary,
      group: "protocol",
      hidden: true,
      arity: 1,
      run(ctx, [value]) {
        setKey(ctx, key, value);
      },
    },
    {
      name: `del${key}`,
      usage: "",
      summary: `remove ${key} (back to its default)`,
      group: "protocol",
      hidden: true,
      arity: 0,
      run(ctx) {
        delKey(ctx, key);
      },
    },
  ];
}

export default [set, del, ...PROTOCOL_KEYS.flatMap(keyCommands)];
