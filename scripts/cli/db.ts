/**
 * `db FAMILY [--keys]`: prints one family of the distributed database as JSON (an
 * object key -> value), as the global nodes have it; `--keys` prints only the keys,
 * one per line. Internal families can be read too: `aemp db "'l"`.
 */
import { type Command, parseOptions, secondsOption, toJson } from "./command.ts";
import { DEFAULT_TIMEOUT, NETWORK_OPTIONS, TIMEOUT_HELP, dbQuery, joinNetwork, leave } from "./network.ts";
import { familyArgument } from "./dbmon.ts";

export const db: Command = {
  name: "db",
  usage: "FAMILY [--keys]",
  summary: "print a database family as JSON",
  help: `  --keys                  print only the keys, one per line
  ${TIMEOUT_HELP}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("db", args, { ...NETWORK_OPTIONS, flags: ["keys"], anywhere: true });
    const family = familyArgument("db", positional);
    const timeout = secondsOption("db", values.get("timeout"), DEFAULT_TIMEOUT);
    await joinNetwork(ctx, timeout);
    if (flags.has("keys")) {
      const keys = (await dbQuery("g_db_keys", family, timeout)) as string[];
      for (const k of [...keys].sort()) ctx.io.out(`${k}\n`);
    } else {
      ctx.io.out(`${toJson((await dbQuery("g_db_family", family, timeout)) ?? {}, 2)}\n`);
    }
    return leave(0);
  },
};

export default [db];
