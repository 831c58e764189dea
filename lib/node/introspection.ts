/**
 * Node-port requests that let tools look inside a running network (`aemp trace`).
 *
 * - `["", "aemp_links", ...reply]`: replies with the node IDs this node has a live
 *   link to (an array of strings). Read-only and cheap; it tells an authenticated peer
 *   nothing it could not learn from the global database. Perl nodes do not know it:
 *   ask `["", "can", "aemp_links", ...reply]` first (they answer `""`).
 */
import { isPortId } from "../kernel/ids.ts";
import { registerNodeRequest } from "../kernel/node-port.ts";
import { snd } from "../kernel/ports.ts";
import { upNodes } from "./index.ts";

let registered = false;

/** Registers the introspection requests on the node port (once). */
export function registerIntrospection(): void {
  if (registered) return;
  registered = true;
  registerNodeRequest("aemp_links", (_from, ...replyTo: unknown[]) => {
    if (!isPortId(replyTo[0])) return;
    snd(replyTo[0], ...replyTo.slice(1), upNodes());
  });
}
