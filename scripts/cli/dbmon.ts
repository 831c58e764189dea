/**
 * `dbmon FAMILY [--json]`: follows a database family until interrupted. First every
 * entry there is, then each change, one line each:
 *
 *     + KEY VALUE     added
 *     = KEY VALUE     changed
 *     - KEY           deleted
 *
 * VALUE is JSON. With `--json` each change is one JSON line instead:
 * `{"added":{...},"changed":{...},"deleted":[...]}`. Ctrl-C (or SIGTERM) ends it
 * cleanly with exit code 0.
 */
import { CliError, type Command, UsageError, parseOptions, secondsOption, toJson } from "./command.ts";
import { DEFAULT_TIMEOUT, NETWORK_OPTIONS, TIMEOUT_HELP, interrupted, joinNetwork, leave } from "./network.ts";

/** The FAMILY argument of `db` and `dbmon`. */
export function familyArgument(command: string, positional: string[]): string {
  if (positional.length === 0) throw new UsageError(`a FAMILY is missing (aemp help ${command})`);
  if (positional.length > 1) throw new UsageError(`takes one FAMILY, received ${positional.length} arguments (aemp help ${command})`);
  if (positional[0] === "") throw new CliError("the FAMILY must not be empty");
  return positional[0];
}

export const dbmon: Command = {
  name: "dbmon",
  usage: "FAMILY [--json]",
  summary: "follow a database family: + added, = changed, - deleted",
  help: `Runs until Ctrl-C.
  --json                  one JSON line per change
  ${TIMEOUT_HELP.replace("give up after this long", "limit for joining the network")}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("dbmon", args, { ...NETWORK_OPTIONS, flags: ["json"], anywhere: true });
    const family = familyArgument("dbmon", positional);
    const timeout = secondsOption("dbmon", values.get("timeout"), DEFAULT_TIMEOUT);
    const stop = interrupted();
    if ((await Promise.race([joinNetwork(ctx, timeout), stop])) !== undefined) return leave(0);
    const json = flags.has("json");
    let first = true;
    const { dbBackend } = await import("../../lib/db/backend.ts");
    const unwatch = dbBackend().watch(family, (content, added, changed, deleted) => {
      if (first) {
        first = false;
        ctx.io.err(`following ${family} (Ctrl-C to stop)\n`);
      }
      if (json) {
        const pick = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, content[k]]));
        ctx.io.out(`${toJson({ added: pick(added), changed: pick(changed), deleted })}\n`);
        return;
      }
      let text = "";
      for (const k of added) text += `+ ${k} ${toJson(content[k])}\n`;
      for (const k of changed) text += `= ${k} ${toJson(content[k])}\n`;
      for (const k of deleted) text += `- ${k}\n`;
      ctx.io.out(text);
    }, (status) => ctx.io.err(status.up ? "the database is back\n" : `the database is unreachable: ${status.error.message}\n`));
    await stop;
    unwatch();
    return leave(0);
  },
};

export default [dbmon];
