/**
 * `cal [--json] PORT [ARG...]`: sends `[ARG..., REPLY-PORT]` to a port, as `cal` does,
 * and prints the first reply as one line of JSON (`["pong",1]`).
 *
 * Fails (exit 1) if no reply comes within the timeout (30 s by default, like `cal`),
 * or if the port dies or cannot be reached before replying.
 */
import { mon } from "../../lib/kernel/mon.ts";
import { cal as call } from "../../lib/kernel/timers.ts";
import { CliError, type Command, parseOptions, secondsOption, toJson } from "./command.ts";
import { NETWORK_OPTIONS, joinNetwork, leave, messageArguments, portArgument, reasonText, within } from "./network.ts";

const CAL_TIMEOUT = 30;

export const cal: Command = {
  name: "cal",
  usage: "[--json] PORT [ARG...]",
  summary: "call a port (reply port appended) and print the reply as JSON",
  help: `Arguments are strings; with --json each is parsed as JSON.
  --json                  parse each argument as JSON
  -t, --timeout SECONDS   wait this long for the reply (default ${CAL_TIMEOUT})`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("cal", args, { ...NETWORK_OPTIONS, flags: ["json"] });
    const timeout = secondsOption("cal", values.get("timeout"), CAL_TIMEOUT);
    const [target, ...rest] = positional;
    const port = portArgument("cal", target);
    const msg = messageArguments(rest, flags.has("json"));
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
