/**
 * Which global service this process uses: the networked one `configure` creates, or,
 * before (or without) `configure`, a standalone one in which this node is its own
 * global node. Entries set and family monitors started before `configure` move to the
 * networked service.
 */
import { GlobalService } from "./global.ts";

let networked: GlobalService | null = null;
let standalone: GlobalService | null = null;

export function globalService(): GlobalService {
  return networked ?? (standalone ??= new GlobalService(null));
}

/** Called by `configure` once the network exists. */
export function setNetworkedGlobal(service: GlobalService): void {
  networked = service;
  if (standalone === null) return;
  moveState(standalone, service);
  standalone = null;
}

/** Undoes `setNetworkedGlobal` for a `configure` that failed: back to a standalone service. */
export function unsetNetworkedGlobal(service: GlobalService): void {
  if (networked !== service) return;
  networked = null;
  moveState(service, globalService());
}

/** Hands the family monitors and this node's own entries (not `'l`/`'g`) from one service to another. */
function moveState(from: GlobalService, to: GlobalService): void {
  from.moveWatchesTo(to);
  for (const [family, entries] of Object.entries(from.localDb)) {
    if (family.startsWith("'")) continue;
    for (const [key, value] of Object.entries(entries)) to.localSet(family, key, value);
  }
}
