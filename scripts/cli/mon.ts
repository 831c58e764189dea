/**
 * `mon PORT`: monitors a port and prints its kill reason as JSON when it dies (`[]`
 * for a normal kill). PORT may be a node ID (`aemp mon doomed`): then it waits until
 * the link to that node fails. Once the monitor is in place on the port's node, it says so on
 * stderr ("monitoring PORT"). Exit code 0 for a normal kill, 2 for any other reason
 * (including a port that does not exist and a node that cannot be reached), 130 if
 * interrupted.
 */
import { nodeOf } from "../../lib/kernel/ids.ts";
import { mon as monitor } from "../../lib/kernel/mon.ts";
import { type Command, UsageError, parseOptions, secondsOption, toJson } from "./command.ts";
import { DEFAULT_TIMEOUT, NETWORK_OPTIONS, TIMEOUT_HELP, interrupted, joinNetwork, leave, nodeRequest, portArgument } from "./network.ts";

export const mon: Command = {
  name: "mon",
  usage: "PORT|NODE",
  summary: "wait until a port (or the link to a node) dies and print the kill reason as JSON",
  help: `Exit code: 0 for a normal kill, 2 for any other reason, 130 when interrupted.
  ${TIMEOUT_HELP.replace("give up after this long", "limit for joining and reaching the node")}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { values, positional } = parseOptions("mon", args, { ...NETWORK_OPTIONS, anywhere: true });
    const timeout = secondsOption("mon", values.get("timeout"), DEFAULT_TIMEOUT);
    const port = portArgument("mon", positional[0]);
    if (positional.length > 1) throw new UsageError(`takes one PORT, received ${positional.length} arguments (aemp help mon)`);
    await joinNetwork(ctx, timeout);
    const died = new Promise<unknown[]>((resolve) => monitor(port, (...reason: unknown[]) => resolve(reason)));
    // The mon1 request went out before this one on the same link: once the node
    // answers, the monitor is in place (or has already fired).
    const placed = nodeRequest(nodeOf(port), timeout, "time").then(
      () => ctx.io.err(`monitoring ${port}\n`),
      () => {},
    );
    const result = await Promise.race([died, interrupted()]);
    if (!Array.isArray(result)) return leave(130);
    await placed;
    ctx.io.out(`${toJson(result)}\n`);
    return leave(result.length === 0 ? 0 : 2);
  },
};

export default [mon];
