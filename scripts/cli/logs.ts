/**
 * `logs [--level N] [--follow] [--json]`: the log records of every node in the network
 * (lib/log-catcher.ts, AnyEvent::MP::LogCatcher's protocol), one line each, prefixed
 * with the node ID:
 *
 *     seed/x 2026-11-23T12:00:01.250Z <5> something aemp warns about
 *     seed/x 2026-11-23T12:00:02.000Z <7> Chat::Server: client joined
 *
 * (the context, a logger's name or a Perl package, before the text unless it is aemp's).
 *
 * Without `--follow` it prints what the nodes have kept (each node's recent printed
 * records at or under the level) and exits once every node has sent them (or after
 * `--timeout`; nodes that did not answer, e.g. Perl nodes, are named on stderr).
 * With `--follow` it goes on with every new record, from nodes present and joining
 * later, until Ctrl-C. `--level` (1..9 or a name, numbered as AnyEvent::Log does:
 * 1 fatal .. 5 warn .. 7 info .. 9 trace; default 7 info) also raises what the nodes
 * produce while we listen: records above a node's own level are sent, not printed
 * there. This aemp process's own records are left out.
 */
import type { CaughtLog } from "../../lib/log-catcher.ts";
import { LEVEL_EXPECTED, levelNumber, withContext } from "../../lib/log.ts";
import { type Command, UsageError, parseOptions, secondsOption, toJson } from "./command.ts";
import { DEFAULT_TIMEOUT, NETWORK_OPTIONS, TIMEOUT_HELP, interrupted, joinNetwork, leave } from "./network.ts";

/** The default `--level`: info. */
export const DEFAULT_LOG_LEVEL = 7;

/** The `--level` option of `logs` and `observe`. */
export function levelOption(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LOG_LEVEL;
  const n = levelNumber(value);
  if (n === undefined || n === 0) throw new UsageError(`--level must be ${LEVEL_EXPECTED.replace("0..9", "1..9")}, received ${JSON.stringify(value)} (aemp help logs)`);
  return n;
}

/** One record as a line: node, time, level, text. */
export function formatLog(r: CaughtLog): string {
  const time = Number.isFinite(r.time) ? new Date(r.time * 1000).toISOString() : "?";
  return `${r.node} ${time} <${r.level}> ${withContext(r.context, r.text)}\n`;
}

export const logs: Command = {
  name: "logs",
  usage: "[--level N] [--follow] [--json]",
  summary: "log records of every node, each line prefixed with its node ID",
  help: `Without --follow: what the nodes kept (their recent printed records), then exit.
  -l, --level N           records at or under level N (a number or name): 1 fatal, 2 alert,
                          3 critical, 4 error, 5 warn, 6 note, 7 info, 8 debug, 9 trace (default ${DEFAULT_LOG_LEVEL})
  -f, --follow            keep printing new records, also from nodes that join later, until Ctrl-C
  --json                  one JSON object per record: {"node","level","context","time","text","backlog"}
  ${TIMEOUT_HELP.replace("give up after this long", "limit for joining and for the nodes to answer")}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("logs", args, {
      flags: ["follow", "json"],
      values: ["level", ...(NETWORK_OPTIONS.values ?? [])],
      short: { ...NETWORK_OPTIONS.short, f: "follow", l: "level" },
      anywhere: true,
    });
    if (positional.length > 0) throw new UsageError(`logs takes no arguments, received ${JSON.stringify(positional[0])} (aemp help logs)`);
    const level = levelOption(values.get("level"));
    const timeout = secondsOption("logs", values.get("timeout"), DEFAULT_TIMEOUT);
    const follow = flags.has("follow");
    const json = flags.has("json");
    const stop = interrupted();
    if ((await Promise.race([joinNetwork(ctx, timeout), stop])) !== undefined) return leave(0);
    const print = (r: CaughtLog): void => ctx.io.out(json ? `${toJson(r)}\n` : formatLog(r));
    // Loaded here, as the other network commands load theirs: configuration commands start fast.
    const { catchLogs } = await import("../../lib/log-catcher.ts");
    const catcher = catchLogs(level, print, { self: false, backlog: true });
    const silent = await Promise.race([catcher.settled(timeout), stop.then(() => [])]);
    if (silent.length > 0) ctx.io.err(`no answer from ${silent.join(", ")} within ${timeout} s (unreachable, or a Perl node, which sends no backlog)\n`);
    if (follow) {
      ctx.io.err(`following the logs of ${catcher.nodes().length} node(s) at level ${level} (Ctrl-C to stop)\n`);
      await stop;
    }
    catcher.cancel();
    return leave(0);
  },
};

export default [logs];
