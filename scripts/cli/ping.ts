/**
 * `ping NODE [-c COUNT]`: round trips to a node's node port with its `time` request
 * (which every AEMP node answers, Perl ones too). The first request also makes the
 * connection (lookup through the master, connect, handshake) and is reported apart;
 * then COUNT timed requests (default 3) follow one after the other:
 *
 *     connected to seed/x in 12.1 ms
 *     seed/x: seq=1 time=0.41 ms
 *     ...
 *     3 replies, rtt min/avg/max 0.38/0.40/0.41 ms, clock offset +0.12 ms
 *
 * The clock offset is the node's clock minus ours at the midpoint of the fastest
 * round trip. Exit code 1 if the node cannot be reached or stops answering.
 */
import { NODE, nodeOf } from "../../lib/kernel/ids.ts";
import { CliError, type Command, UsageError, parseOptions, secondsOption } from "./command.ts";
import { DEFAULT_TIMEOUT, TIMEOUT_HELP, joinNetwork, leave, nodeRequest } from "./network.ts";

const ms = (n: number): string => n.toFixed(2);

export const ping: Command = {
  name: "ping",
  usage: "NODE [-c COUNT]",
  summary: "measure round trips to a node (and its clock offset)",
  help: `  -c, --count COUNT       timed requests after connecting (default 3)
  ${TIMEOUT_HELP.replace("give up after this long", "wait this long for each answer")}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { values, positional } = parseOptions("ping", args, { values: ["timeout", "count"], short: { t: "timeout", c: "count" }, anywhere: true });
    if (positional.length !== 1 || positional[0] === "") throw new UsageError("takes one NODE (aemp help ping)");
    const node = nodeOf(positional[0]);
    const count = Number(values.get("count") ?? 3);
    if (!Number.isInteger(count) || count < 1) throw new UsageError(`--count must be a whole number >= 1, received ${JSON.stringify(values.get("count"))} (aemp help ping)`);
    const timeout = secondsOption("ping", values.get("timeout"), DEFAULT_TIMEOUT);
    await joinNetwork(ctx, timeout);
    if (node === NODE()) throw new CliError("that is this aemp process itself");
    let t0 = performance.now();
    await nodeRequest(node, timeout, "time");
    ctx.io.out(`connected to ${node} in ${ms(performance.now() - t0)} ms\n`);
    const rtts: number[] = [];
    let offset = 0;
    for (let seq = 1; seq <= count; seq++) {
      const sent = Date.now();
      t0 = performance.now();
      const [remote] = await nodeRequest(node, timeout, "time");
      const rtt = performance.now() - t0;
      if (rtts.length === 0 || rtt < Math.min(...rtts)) offset = Number(remote) * 1000 - (sent + rtt / 2);
      rtts.push(rtt);
      ctx.io.out(`${node}: seq=${seq} time=${ms(rtt)} ms\n`);
    }
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    const sign = offset >= 0 ? "+" : "-";
    ctx.io.out(`${rtts.length} replies, rtt min/avg/max ${ms(Math.min(...rtts))}/${ms(avg)}/${ms(Math.max(...rtts))} ms, clock offset ${Number.isFinite(offset) ? `${sign}${ms(Math.abs(offset))} ms` : "unknown"}\n`);
    return leave(0);
  },
};

export default [ping];
