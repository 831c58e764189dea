/**
 * `snd [--json|--raw] PORT [ARG...]`: sends `[ARG...]` to a port and returns once the
 * port's node has it. PORT may be a node ID: its node port (`aemp snd mynode devnull`).
 *
 * Arguments starting with `[`, `{` or `"` are JSON, others strings, as in Perl's aemp;
 * `--json` parses every one (`12`, `true`), `--raw` none. Delivery is confirmed by a round trip to the node port of the port's
 * node (messages from one node to another keep their order), so when `snd` exits 0
 * the node has received the message. A monitor of the port, set up first, turns a
 * port that does not exist into an error instead of a silent drop.
 */
import { nodeOf } from "../../lib/kernel/ids.ts";
import { mon } from "../../lib/kernel/mon.ts";
import { snd as send } from "../../lib/kernel/ports.ts";
import { CliError, type Command, parseOptions, secondsOption } from "./command.ts";
import { ARGUMENT_HELP, DEFAULT_TIMEOUT, NETWORK_OPTIONS, TIMEOUT_HELP, argumentMode, joinNetwork, leave, messageArguments, nodeRequest, portArgument } from "./network.ts";

export const snd: Command = {
  name: "snd",
  usage: "[--json|--raw] PORT [ARG...]",
  summary: "send a message to a port (or a node ID's node port)",
  help: `${ARGUMENT_HELP}
Waits until the port's node has the message; fails if the port does not exist.
  ${TIMEOUT_HELP}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("snd", args, { ...NETWORK_OPTIONS, flags: ["json", "raw"] });
    const timeout = secondsOption("snd", values.get("timeout"), DEFAULT_TIMEOUT);
    const [target, ...rest] = positional;
    const port = portArgument("snd", target);
    const msg = messageArguments(rest, argumentMode(flags));
    await joinNetwork(ctx, timeout);
    let gone: unknown[] | undefined;
    const watch = mon(port, (...reason: unknown[]) => (gone = reason));
    send(port, ...msg);
    await nodeRequest(nodeOf(port), timeout, "time");
    watch.cancel();
    if (gone !== undefined && gone[0] === "no_such_port") throw new CliError(`there is no port ${port} (the message was dropped)`);
    return leave(0);
  },
};

export default [snd];
