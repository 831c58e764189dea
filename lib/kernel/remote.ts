/**
 * The seam between the kernel and the node layer.
 *
 * The kernel never imports the transport: everything addressed to another node goes
 * through the `Router` installed here. Until the node layer installs one (when
 * `configure` starts networking) the offline router answers as AEMP does for a node
 * it cannot reach: messages are dropped and monitors fire with
 * `["transport_error", node, "no known address"]`.
 */
import { debug } from "../log.ts";

/** What to do when a monitored port (or node) dies: called once with the reason. */
export type MonitorAction = (reason: unknown[]) => void;

export interface Router {
  /** Deliver `msg` to port `portId` on node `nodeId` (queue and connect if needed). */
  send(nodeId: string, portId: string, msg: unknown[]): void;
  /** `kil` of a remote port. */
  kill(nodeId: string, portId: string, reason: unknown[]): void;
  /**
   * Monitor a remote port, or the node itself when `portId` is null. Returns a function
   * that cancels the monitor. The action must fire at most once.
   */
  monitor(nodeId: string, portId: string | null, action: MonitorAction): () => void;
  /** Create port `name` on `nodeId` and run the registered init function there. */
  spawn(nodeId: string, name: string, init: string, args: unknown[]): void;
}

type Defer = (job: () => void) => void;

function offlineRouter(defer: Defer): Router {
  const unreachable = (nodeId: string): unknown[] => ["transport_error", nodeId, "no known address"];
  return {
    send(nodeId, portId) {
      debug(`dropping message for ${portId}: node ${nodeId} is not reachable (networking not configured)`);
    },
    kill(nodeId, portId) {
      debug(`dropping kil of ${portId}: node ${nodeId} is not reachable (networking not configured)`);
    },
    monitor(nodeId, _portId, action) {
      let live = true;
      defer(() => {
        if (live) action(unreachable(nodeId));
      });
      return () => {
        live = false;
      };
    },
    spawn(nodeId, name) {
      debug(`dropping spawn of ${nodeId}#${name}: node ${nodeId} is not reachable (networking not configured)`);
    },
  };
}

let router: Router | null = null;
let deferJob: Defer = (job) => queueMicrotask(job);

/** Called once by the kernel so the offline router can fire monitors on the run queue. */
export function setDefer(defer: Defer): void {
  deferJob = defer;
}

export function currentRouter(): Router {
  return (router ??= offlineRouter(deferJob));
}

/** Installs the node layer's router (done by `configure`); null goes back to the offline one. */
export function setRouter(next: Router | null): void {
  router = next;
}
