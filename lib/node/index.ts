/** The node layer's public surface: node state and node-level sends. */
import { argumentError } from "../errors.ts";
import { type Guard, guard } from "../kernel/guard.ts";
import { NODE, nodeOf } from "../kernel/ids.ts";
import { currentRouter } from "../kernel/remote.ts";
import type { MessageOf, SpreadOnly } from "../kernel/types.ts";
import { currentNetwork, onNodeEvent } from "./network.ts";

/** Whether there is a live link to `node` (a node or port ID). Our own node is always up. */
export function nodeIsUp(node: string): boolean {
  const id = nodeOf(node);
  if (id === NODE()) return true;
  return currentNetwork()?.nodes.get(id)?.isUp ?? false;
}

/** The node IDs we have a live link to. */
export function upNodes(): string[] {
  const net = currentNetwork();
  if (net === null) return [];
  return [...net.nodes.values()].filter((n) => n.isUp).map((n) => n.id);
}

/**
 * Calls `cb(nodeId, true)` when a link to a node comes up and `cb(nodeId, false, text)`
 * when it goes down, until the guard is cancelled. May be called before `configure`.
 */
export function monNodes(cb: (nodeId: string, up: boolean, text?: string) => void): Guard {
  if (typeof cb !== "function") throw argumentError("monNodes", "cb", "a function", cb);
  return guard(onNodeEvent(cb));
}

/** Asks `node` to run `snd(port, ...msg)` itself (`port` is a port ID, or a node ID for its node port). */
export function sndOn<P extends string>(node: string, port: P, ...msg: MessageOf<P>): void;
/** `sndOn(node, ...args)` with the port and message in an array of unknown shape. */
export function sndOn<A extends unknown[]>(node: string, ...msg: SpreadOnly<A>): void;
export function sndOn(node: string, ...msg: unknown[]): void {
  const id = nodeOf(node);
  if (typeof msg[0] !== "string" || msg[0] === "" || msg[0].startsWith("#")) throw argumentError("sndOn", "port", "a port or node ID as first message element", msg[0]);
  currentRouter().send(id, `${id}#`, ["snd", ...msg]);
}
