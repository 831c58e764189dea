/**
 * `help [COMMAND]`: the command list, or one command's usage and details. Also what
 * `aemp` prints with no command, and (on stderr) after an unknown one.
 */
import { CONFIG_KEYS } from "../../lib/config/rc.ts";
import { type Command, type CommandGroup, UsageError } from "./command.ts";
import { PROTOCOL_KEYS } from "./keys.ts";

const GROUPS: [CommandGroup, string][] = [
  ["config", "Configuration (edit the rc file; commands can follow each other):"],
  ["profile", "Profiles:"],
  ["protocol", "Other keys: set KEY VALUE / del KEY, or AEMP's setKEY VALUE / delKEY, for KEY in:"],
  ["run", "Running a node:"],
  ["network", "Looking inside a network (joins as node aemp/HOST/RANDOM using the file's secret and seeds):"],
  ["help", "Help:"],
];

function line(left: string, right: string): string {
  return left.length < 30 ? `  ${left.padEnd(30)}${right}\n` : `  ${left}\n  ${"".padEnd(30)}${right}\n`;
}

/** The overview: usage, every command by group, the protocol keys. */
export function overview(commands: readonly Command[], rcFile: string): string {
  let out = `aemp: configure, run and look inside aemp (AnyEvent::MP) networks.

Usage: aemp [--rc FILE] COMMAND [ARGS] [COMMAND [ARGS]...]

The rc file is ${rcFile}
(--rc FILE, else $AEMP_RC, else ~/.aemp.json, else Perl's $PERL_ANYEVENT_MP_RC or
~/.perl-anyevent-mp if one exists). Configuration commands edit its top level,
or the profile named by a 'profile NAME' before them, and are saved together at the end:
  aemp profile seed setbinds '*:4040' setseeds 127.0.0.1:4040
`;
  for (const [group, title] of GROUPS) {
    out += `\n${title}\n`;
    if (group === "protocol") {
      for (const key of PROTOCOL_KEYS) out += line(key, CONFIG_KEYS[key].summary);
      continue;
    }
    for (const c of commands) {
      if (c.group !== group || c.hidden) continue;
      out += line(`${c.name}${c.usage ? ` ${c.usage}` : ""}`, c.summary);
    }
  }
  return `${out}\n'aemp help COMMAND' tells more about one command.\n`;
}

/** One command's help. */
export function commandHelp(c: Command): string {
  let out = `Usage: aemp ${c.name}${c.usage ? ` ${c.usage}` : ""}\n\n${c.summary[0].toUpperCase()}${c.summary.slice(1)}.\n`;
  if (c.aliases?.length) out += `Also spelled: ${c.aliases.join(", ")}.\n`;
  if (c.help) out += `\n${c.help}\n`;
  return out;
}

/** The help command, given the (lazily read) list of all commands. */
export function helpCommand(all: () => readonly Command[], find: (name: string) => Command | undefined, rcFile: () => string): Command {
  return {
    name: "help",
    usage: "[COMMAND]",
    summary: "this overview, or one command's details",
    group: "help",
    arity: "rest",
    run(ctx, args) {
      if (args.length === 0) {
        ctx.io.out(overview(all(), rcFile()));
        return 0;
      }
      const c = find(args[0]);
      if (c === undefined) throw new UsageError(`there is no command '${args[0]}' (aemp help lists them)`);
      ctx.io.out(commandHelp(c));
      return 0;
    },
  };
}
