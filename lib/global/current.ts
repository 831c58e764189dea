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
  standalone.moveWatchesTo(service);
  for (const [family, entries] of Object.entries(standalone.localDb)) {
    if (family.startsWith("'")) continue;
    for (const [key, value] of Object.entries(entries)) service.localSet(family, key, value);
  }
  standalone = null;
}
