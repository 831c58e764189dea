/**
 * `trace NODE [--dot]`: the connection graph of the network, walked from NODE.
 *
 * Each node reached is asked which nodes it has live links to (the `aemp_links`
 * node-port request, after asking with `can` whether it knows it: Perl nodes do not),
 * and every node it names is asked in turn, up to 8 at a time (p-queue). This aemp
 * process itself is left out of the graph.
 *
 * Text output, one line per node in the order found:
 *     seed/x -> node/a, node/b
 *     node/c (unreachable: connect timeout)
 *     perl/d (links unknown: it does not answer aemp_links)
 *     aemp/host/e (no listener: not asked)
 * With `--dot`, an undirected Graphviz graph (`aemp trace seed --dot | dot -Tsvg`).
 * Exit code 1 if NODE itself cannot be reached.
 */
import PQueue from "p-queue";
import { NODE, nodeOf } from "../../lib/kernel/ids.ts";
import { CliError, type Command, UsageError, parseOptions, secondsOption } from "./command.ts";
import { DEFAULT_TIMEOUT, NETWORK_OPTIONS, TIMEOUT_HELP, dbQuery, joinNetwork, leave, nodeRequest } from "./network.ts";

interface Visit {
  links?: string[];
  /** Why the links are unknown. */
  problem?: string;
}

/** Asks one node for its links. */
async function visit(node: string, timeout: number): Promise<Visit> {
  try {
    const [can] = await nodeRequest(node, timeout, "can", "aemp_links");
    if (can !== "1" && can !== 1 && can !== true) return { problem: "links unknown: it does not answer aemp_links" };
    const [links] = await nodeRequest(node, timeout, "aemp_links");
    if (!Array.isArray(links)) return { problem: "links unknown: unexpected answer" };
    return { links: links.filter((l): l is string => typeof l === "string" && l !== NODE()).sort() };
  } catch (err) {
    return { problem: `unreachable: ${(err as Error).message.replace(/^(cannot reach node|node) \S+:? /, "")}` };
  }
}

/**
 * Walks the graph from `start`. Nodes known (in `listeners`, the 'l family) to have
 * no listener cannot be connected to and are not asked.
 */
export async function walk(start: string, timeout: number, listeners: Record<string, unknown> = {}, concurrency = 8): Promise<Map<string, Visit>> {
  const found = new Map<string, Visit>();
  const silent = (node: string): boolean => Array.isArray(listeners[node]) && (listeners[node] as unknown[]).length === 0;
  const queue = new PQueue({ concurrency });
  const enqueue = (node: string): void => {
    if (found.has(node)) return;
    if (silent(node)) {
      found.set(node, { problem: "no listener: not asked" });
      return;
    }
    found.set(node, {});
    void queue.add(async () => {
      const v = await visit(node, timeout);
      found.set(node, v);
      for (const next of v.links ?? []) enqueue(next);
    });
  };
  enqueue(start);
  await queue.onIdle();
  return found;
}

const quote = (s: string): string => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** The graph in Graphviz DOT: one undirected edge per link. */
export function toDot(graph: Map<string, Visit>): string {
  let out = "graph aemp {\n";
  const edges = new Set<string>();
  for (const [node, v] of graph) {
    out += v.problem === undefined ? `  ${quote(node)};\n` : `  ${quote(node)} [style=dashed, tooltip=${quote(v.problem)}];\n`;
    for (const other of v.links ?? []) {
      const key = [node, other].sort().join("\u0000");
      if (edges.has(key)) continue;
      edges.add(key);
      out += `  ${quote(node)} -- ${quote(other)};\n`;
    }
  }
  return `${out}}\n`;
}

export function toText(graph: Map<string, Visit>): string {
  let out = "";
  for (const [node, v] of graph) {
    if (v.problem !== undefined) out += `${node} (${v.problem})\n`;
    else out += `${node} -> ${v.links!.length > 0 ? v.links!.join(", ") : "(no links)"}\n`;
  }
  return out;
}

export const trace: Command = {
  name: "trace",
  usage: "NODE [--dot]",
  summary: "walk the connection graph from a node (text, or Graphviz with --dot)",
  help: `  --dot                   print a Graphviz graph: aemp trace NODE --dot | dot -Tsvg > net.svg
  ${TIMEOUT_HELP.replace("give up after this long", "wait this long for each node")}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("trace", args, { ...NETWORK_OPTIONS, flags: ["dot"], anywhere: true });
    if (positional.length !== 1 || positional[0] === "") throw new UsageError("takes one NODE (aemp help trace)");
    const start = nodeOf(positional[0]);
    const timeout = secondsOption("trace", values.get("timeout"), DEFAULT_TIMEOUT);
    await joinNetwork(ctx, timeout);
    const listeners = ((await dbQuery("g_db_family", "'l", timeout)) ?? {}) as Record<string, unknown>;
    const graph = await walk(start, timeout, listeners);
    const first = graph.get(start)!;
    if (first.problem?.startsWith("unreachable")) throw new CliError(`cannot trace from ${start}: ${first.problem.replace(/^unreachable: /, "")}`);
    ctx.io.out(flags.has("dot") ? toDot(graph) : toText(graph));
    return leave(0);
  },
};

export default [trace];
