/**
 * `nodes [--check] [--json]`: the nodes the global nodes know (the internal `'l`
 * family: node ID -> listen addresses), one per line: `NODE ADDRESSES [global]`.
 * Global nodes come from the `'g` family.
 *
 * The global nodes forget a node when its link to them drops, so the list is the
 * network as they see it now. With `--check` this command also asks every node for
 * its time (up to 8 at once) and adds `up 0.4ms` or `down (reason)` as seen from here.
 * A node without listeners (such as another running aemp command) cannot be asked:
 * it is shown as such.
 */
import PQueue from "p-queue";
import { NODE } from "../../lib/kernel/ids.ts";
import { type Command, UsageError, parseOptions, secondsOption, toJson } from "./command.ts";
import { DEFAULT_TIMEOUT, NETWORK_OPTIONS, TIMEOUT_HELP, dbQuery, joinNetwork, leave, nodeRequest } from "./network.ts";

export const nodes: Command = {
  name: "nodes",
  usage: "[--check] [--json]",
  summary: "list the nodes of the network (with --check: up or down from here)",
  help: `  --check                 also ask each node for its time: up (round trip) or down
  --json                  print {node: {addresses, global, up?, rtt?, error?}}
  ${TIMEOUT_HELP}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("nodes", args, { ...NETWORK_OPTIONS, flags: ["check", "json"], anywhere: true });
    if (positional.length > 0) throw new UsageError(`takes no arguments, received ${positional.join(" ")} (aemp help nodes)`);
    const timeout = secondsOption("nodes", values.get("timeout"), DEFAULT_TIMEOUT);
    await joinNetwork(ctx, timeout);
    const [l, g] = (await Promise.all([dbQuery("g_db_family", "'l", timeout), dbQuery("g_db_family", "'g", timeout)])) as Record<string, unknown>[];
    const ids = Object.keys(l ?? {}).filter((id) => id !== NODE()).sort();
    const info: Record<string, { addresses: string[]; global: boolean; up?: boolean; rtt?: number; error?: string }> = {};
    for (const id of ids) {
      const addresses = Array.isArray(l[id]) ? (l[id] as unknown[]).filter((a): a is string => typeof a === "string") : [];
      info[id] = { addresses, global: g !== undefined && g !== null && id in g };
    }
    if (flags.has("check")) {
      const queue = new PQueue({ concurrency: 8 });
      await queue.addAll(
        ids.filter((id) => info[id].addresses.length > 0).map((id) => async () => {
          const started = performance.now();
          try {
            await nodeRequest(id, Math.min(timeout, 5), "time");
            info[id].up = true;
            info[id].rtt = Math.round((performance.now() - started) * 100) / 100;
          } catch (err) {
            info[id].up = false;
            info[id].error = (err as Error).message.replace(/^cannot reach node \S+: /, "");
          }
        }),
      );
    }
    if (flags.has("json")) ctx.io.out(`${toJson(info, 2)}\n`);
    else {
      const width = Math.max(0, ...ids.map((id) => id.length)) + 2;
      for (const id of ids) {
        const n = info[id];
        const state = n.addresses.length === 0 ? "  (no listener: reached only through its own links)" : n.up === undefined ? "" : n.up ? `  up ${n.rtt}ms` : `  down (${n.error})`;
        ctx.io.out(`${id.padEnd(width)}${n.addresses.join(",") || "-"}${n.global ? "  global" : ""}${state}\n`);
      }
    }
    return leave(0);
  },
};

export default [nodes];
