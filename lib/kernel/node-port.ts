/**
 * The node port `""`: requests other nodes send as `["", TAG, ...args]`.
 *
 * The node layer calls `handleNodeRequest(fromNode, msg)` for every packet addressed to
 * `""`. The kernel answers what it owns (`mon1`, `mon0`, `kil1`, `snd`, `can`, `time`,
 * `devnull`, `""`, `eval`, spawn); other layers add tags with `registerNodeRequest`
 * (the node layer: `kil0`; the global service: `g_*`). Replies go back through the
 * router as ordinary sends.
 *
 * Remote code execution is never allowed: `eval` is refused, and any other unknown tag
 * is run only if it names a registered init function (Perl would call any function).
 * A spawn never takes over a live port: a name that exists is refused (logged), and the
 * spawner's monitors of that port ID hear `["die", ...]` through `kil0`, as for a spawn
 * whose init function failed; the live port and its monitors are left alone.
 */
import { error as logError, warn } from "../log.ts";
import { NODE } from "./ids.ts";
import { deliverLocal, isLivePort, kil, monitorLocal, setNodePortHandler, snd } from "./ports.ts";
import { currentRouter } from "./remote.ts";
import { findInit, spawnLocal } from "./spawn.ts";

/**
 * A node request handler: `from` is the node that sent it. A method type, so handlers
 * may declare the argument types they expect (they must check them: they come off the wire).
 */
export type NodeRequest = { bivarianceHack(from: string, ...args: unknown[]): void }["bivarianceHack"];

const requests = new Map<string, NodeRequest>();

/** Adds (or replaces) the handler of a node-port request tag. */
export function registerNodeRequest(tag: string, handler: NodeRequest): void {
  requests.set(tag, handler);
}

/** Monitors peers asked for (`mon1`), per peer, so `mon0` and link loss can drop them. */
const peerMonitors = new Map<string, Map<string, () => void>>();

function sendToNodePort(nodeId: string, ...msg: unknown[]): void {
  currentRouter().send(nodeId, `${nodeId}#`, msg);
}

function reply(replyTo: unknown[], ...values: unknown[]): void {
  if (replyTo.length === 0 || typeof replyTo[0] !== "string") return;
  snd(replyTo[0] as string, ...replyTo.slice(1), ...values);
}

registerNodeRequest("mon1", (from, name: unknown) => {
  if (typeof name !== "string") return;
  const id = `${NODE()}#${name}`;
  const mine = peerMonitors.get(from) ?? new Map<string, () => void>();
  if (mine.has(name)) return;
  // A real monitor (not an internal one): a port another node watches is monitored, so
  // its abnormal death is reported there, not logged here as unmonitored.
  const remove = monitorLocal(id, (reason) => {
    mine.delete(name);
    sendToNodePort(from, "kil0", name, ...reason);
  });
  if (remove === null) {
    sendToNodePort(from, "kil0", name, "no_such_port", "cannot monitor nonexistent port", id);
    return;
  }
  mine.set(name, remove);
  peerMonitors.set(from, mine);
});

registerNodeRequest("mon0", (from, name: unknown) => {
  const mine = peerMonitors.get(from);
  if (mine === undefined || typeof name !== "string") return;
  mine.get(name)?.();
  mine.delete(name);
});

registerNodeRequest("kil1", (_from, name: unknown, ...reason: unknown[]) => {
  if (typeof name === "string") kil(`${NODE()}#${name}`, ...reason);
});

// Relay: `["", "snd", TARGET, ...msg]`. TARGET splits on `#` as a port ID does; without
// one it is that node's node port (Perl's rule). A local receiver sees the relaying
// node as SRCNODE().
registerNodeRequest("snd", (from, target: unknown, ...msg: unknown[]) => {
  if (typeof target !== "string" || target === "" || target.startsWith("#")) return;
  if (isLivePort(target)) deliverLocal(target, msg, from);
  else snd(target, ...msg);
});

registerNodeRequest("can", (_from, tag: unknown, ...replyTo: unknown[]) => {
  reply(replyTo, typeof tag === "string" && requests.has(tag) ? "1" : "");
});

registerNodeRequest("time", (_from, ...replyTo: unknown[]) => {
  reply(replyTo, Date.now() / 1000);
});

registerNodeRequest("devnull", () => {});
registerNodeRequest("", () => {});

registerNodeRequest("eval", (from, _code: unknown, ...replyTo: unknown[]) => {
  warn(`refused remote eval from ${from}: remote execution not allowed`);
  reply(replyTo, "remote execution not allowed");
});

registerNodeRequest("AnyEvent::MP::_spawn", (from, name: unknown, init: unknown, ...args: unknown[]) => {
  if (typeof name !== "string" || name === "" || name.includes("#") || typeof init !== "string") return;
  const id = `${NODE()}#${name}`;
  if (isLivePort(id)) {
    warn(`refused a spawn request from ${from} for port ${id}: a port of that name exists`);
    sendToNodePort(from, "kil0", name, "die", `spawn refused: port ${id} exists already`);
    return;
  }
  const fn = findInit(init);
  if (fn === undefined) {
    warn(`spawn request from ${from} for unregistered init function '${init}'`);
    spawnLocal(id, () => {
      throw new Error(`no init function registered as '${init}'`);
    }, []);
    return;
  }
  spawnLocal(id, fn, args);
});

/** Runs the handler for a request packet `["", TAG, ...args]` (the leading "" removed). */
export function handleNodeRequest(from: string, msg: unknown[]): void {
  const [tag, ...args] = msg;
  const handler = typeof tag === "string" ? requests.get(tag) : undefined;
  try {
    if (handler !== undefined) {
      handler(from, ...args);
      return;
    }
    const fn = typeof tag === "string" ? findInit(tag) : undefined;
    if (fn !== undefined) fn(...args);
    else warn(`ignoring unknown node request '${String(tag)}' from ${from}`);
  } catch (err) {
    logError(`node request '${String(tag)}' from ${from} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

// What is sent to our own node port (`snd(NODE(), ...)`) runs here too.
setNodePortHandler(handleNodeRequest);

/** A peer's link went down: the monitors it had on our ports go with it. */
export function forgetPeer(nodeId: string): void {
  const mine = peerMonitors.get(nodeId);
  if (mine === undefined) return;
  peerMonitors.delete(nodeId);
  for (const remove of mine.values()) remove();
}
