/**
 * `spawn` and the registry of init functions.
 *
 * A node runs only init functions it has registered by name (`registerInit`): names
 * arrive from other nodes, so they must never resolve to arbitrary code. Local spawns
 * check the name at once and throw `UnknownInitError`; the init function runs later, on
 * the run queue, never before `spawn` returns, with `SELF()` set to the new port.
 */
import { UnknownInitError, argumentError } from "../errors.ts";
import { NODE, nodeOf, randomPortName } from "./ids.ts";
import { type Callback, createNamedPort, defer, isLivePort, peval } from "./ports.ts";
import { currentRouter } from "./remote.ts";

const inits = new Map<string, Callback>();

/**
 * Names a function that `spawn` (from this node or any other) may run as a port's init
 * function, e.g. `registerInit("Chat::clientConnect", fn)`. Registering a name again
 * replaces it.
 */
export function registerInit(name: string, fn: Callback): void {
  if (typeof name !== "string" || name === "") throw argumentError("registerInit", "name", "a non-empty string", name);
  if (typeof fn !== "function") throw argumentError("registerInit", "fn", "a function", fn);
  inits.set(name, fn);
}

/** The registered init function of that name, if any. */
export function findInit(name: string): Callback | undefined {
  return inits.get(name);
}

/**
 * Creates a port on `node` (a node ID, or a port ID meaning that port's node) and runs
 * the init function registered there as `init` with `args`, in the new port's context.
 * Returns the new port's ID at once: it can be sent to and monitored immediately.
 */
export function spawn(node: string, init: string, ...args: unknown[]): string {
  if (typeof node !== "string" || node === "") throw argumentError("spawn", "node", "a node or port ID string", node);
  if (typeof init !== "string" || init === "") throw argumentError("spawn", "init", "the registered name of an init function", init);
  const nodeId = nodeOf(node);
  const name = randomPortName();
  const id = `${nodeId}#${name}`;
  if (nodeId !== NODE()) {
    currentRouter().spawn(nodeId, name, init, args);
    return id;
  }
  const fn = inits.get(init);
  if (fn === undefined) throw new UnknownInitError(init);
  spawnLocal(id, fn, args);
  return id;
}

/** Creates local port `id` now and runs `fn(...args)` in its context on the run queue. */
export function spawnLocal(id: string, fn: Callback, args: unknown[]): void {
  createNamedPort(id);
  defer(() => {
    if (isLivePort(id)) peval(id, fn, ...args);
  });
}
