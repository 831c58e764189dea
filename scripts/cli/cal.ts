/**
 * `cal [--json|--raw] PORT [ARG...]`: sends `[ARG..., REPLY-PORT]` to a port, as `cal`
 * does, and prints the first reply as one line of JSON (`["pong",1]`). PORT may be a
 * node ID: `aemp cal mynode time` asks that node's node port, as in Perl's aemp.
 * Arguments are read as `snd`'s are.
 *
 * Fails (exit 1) if no reply comes within the timeout (5 s by default, as Perl's aemp),
 * or if the port dies or cannot be reached before replying.
 */
import { mon } from "../../lib/kernel/mon.ts";
import { cal as call } from "../../lib/kernel/timers.ts";
import { CliError, type Command, parseOptions, secondsOption, toJson } from "./command.ts";
import { ARGUMENT_HELP, NETWORK_OPTIONS, argumentMode, joinNetwork, leave, messageArguments, portArgument, reasonText, within } from "./network.ts";

/** Perl's aemp: "They all use a timeout of five seconds". */
const CAL_TIMEOUT = 5;

export const cal: Command = {
  name: "cal",
  usage: "[--json|--raw] PORT [ARG...]",
  summary: "call a port or a node ID's node port (reply port appended), print the reply as JSON",
  help: `Example: aemp cal mynode time
${ARGUMENT_HELP}
  -t, --timeout SECONDS   wait this long for the reply (default ${CAL_TIMEOUT})`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("cal", args, { ...NETWORK_OPTIONS, flags: ["json", "raw"] });
    const timeout = secondsOption("cal", values.get("timeout"), CAL_TIMEOUT);
    const [target, ...rest] = positional;
    const port = portArgument("cal", target);
    const msg = messageArguments(rest, argumentMode(flags));
    await joinNetwork(ctx, timeout);
    let died: unknown[] | undefined;
    const watch = mon(port, (...reason: unknown[]) => (died = reason));
    const reply = await within(
      new Promise<unknown[]>((resolve) => call(port, ...msg, (...r: unknown[]) => resolve(r))),
      timeout,
      `no reply from ${port} within ${timeout} s`,
    );
    watch.cancel();
    if (reply.length === 0) throw new CliError(`${port} ended without replying: ${died === undefined ? "unknown reason" : reasonText(died)}`);
    ctx.io.out(`${toJson(reply)}\n`);
    return leave(0);
  },
};

export default [cal];
