/**
 * Real network partitions for the specs: two Linux network namespaces joined by a veth
 * pair, whose traffic can be dropped silently in either direction and let through
 * again. Nodes run inside them as child processes (`startNode(..., { netns })` in
 * spec/net-helpers.ts), so their sockets see exactly what a cut cable or a dead
 * switch shows them: nothing (no RST, no ICMP, no error), only silence.
 *
 * - `netnsUnavailable()`: why namespaces cannot be used here (not root, no `ip`, the
 *   kernel refuses), or undefined. `skipWithoutNetns(file)` prints the SKIPPED line.
 * - `createNetnsPair(prefix, subnet)`: namespaces `PREFIXa` and `PREFIXb`, veth ends
 *   `PREFIXva` / `PREFIXvb` with SUBNET.1 and SUBNET.2 (/24), loopback up, and fixed
 *   neighbour entries, so that after a heal no ARP state is left to recover. Name
 *   everything with your issue number as prefix (e.g. `i12`). Leftovers of an earlier
 *   run with the same prefix are removed first; `cleanup()` removes everything and
 *   also runs when the process exits, however it exits (not on SIGKILL).
 * - `cut(direction)`: drops every packet leaving one side (`"a->b"`, `"b->a"`) or both
 *   (`"both"`), with a qdisc that holds nothing (`pfifo limit 0`): the sender's TCP just
 *   retransmits. `heal()` lets everything through again.
 */
import { execFileSync } from "node:child_process";

export interface NetnsHost {
  /** The namespace's name. */
  readonly ns: string;
  /** Its address on the veth link. */
  readonly ip: string;
  /** Its end of the veth pair. */
  readonly dev: string;
}

export type CutDirection = "a->b" | "b->a" | "both";

export interface NetnsPair {
  readonly a: NetnsHost;
  readonly b: NetnsHost;
  cut(direction?: CutDirection): void;
  heal(): void;
  cleanup(): void;
}

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function quiet(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // already gone
  }
}

/** Why network namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(probePrefix = "i12probe"): string | undefined {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "network namespaces need root";
  try {
    ip("netns", "add", probePrefix);
    ip("netns", "del", probePrefix);
    return undefined;
  } catch (err) {
    quiet(() => ip("netns", "del", probePrefix));
    const text = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
    return `cannot create a network namespace (${text})`;
  }
}

/** Prints the SKIPPED line for a spec that needs namespaces; true when it must skip. */
export function skipWithoutNetns(file: string): boolean {
  const why = netnsUnavailable();
  if (why === undefined) return false;
  console.log(`SKIPPED ${file}: ${why}; its tests were not registered`);
  return true;
}

/** Two namespaces joined by a veth pair (see the module comment). */
export function createNetnsPair(prefix: string, subnet = "10.212.0"): NetnsPair {
  if (!/^[a-z0-9]{1,12}$/.test(prefix)) throw new TypeError(`createNetnsPair: 'prefix' must be 1-12 lowercase letters or digits, received ${JSON.stringify(prefix)}`);
  const a: NetnsHost = { ns: `${prefix}a`, ip: `${subnet}.1`, dev: `${prefix}va` };
  const b: NetnsHost = { ns: `${prefix}b`, ip: `${subnet}.2`, dev: `${prefix}vb` };
  const cleanup = (): void => {
    for (const h of [a, b]) quiet(() => ip("netns", "del", h.ns));
    quiet(() => ip("link", "del", a.dev)); // a veth end that never left the root namespace
  };
  cleanup();
  process.on("exit", cleanup);
  try {
    for (const h of [a, b]) ip("netns", "add", h.ns);
    ip("link", "add", a.dev, "type", "veth", "peer", "name", b.dev);
    for (const h of [a, b]) {
      ip("link", "set", h.dev, "netns", h.ns);
      ip("-n", h.ns, "addr", "add", `${h.ip}/24`, "dev", h.dev);
      ip("-n", h.ns, "link", "set", h.dev, "up");
      ip("-n", h.ns, "link", "set", "lo", "up");
    }
    const mac = (h: NetnsHost): string => /link\/ether ([0-9a-f:]+)/.exec(ip("-n", h.ns, "link", "show", h.dev))![1];
    ip("-n", a.ns, "neigh", "replace", b.ip, "lladdr", mac(b), "dev", a.dev, "nud", "permanent");
    ip("-n", b.ns, "neigh", "replace", a.ip, "lladdr", mac(a), "dev", b.dev, "nud", "permanent");
  } catch (err) {
    cleanup();
    throw err;
  }
  const drop = (h: NetnsHost): void => {
    ip("netns", "exec", h.ns, "tc", "qdisc", "replace", "dev", h.dev, "root", "pfifo", "limit", "0");
  };
  return {
    a,
    b,
    cut(direction = "both") {
      if (direction !== "b->a") drop(a);
      if (direction !== "a->b") drop(b);
    },
    heal() {
      for (const h of [a, b]) quiet(() => ip("netns", "exec", h.ns, "tc", "qdisc", "del", "dev", h.dev, "root"));
    },
    cleanup() {
      process.off("exit", cleanup);
      cleanup();
    },
  };
}
