/**
 * One object per remote node: connect on demand, queue while connecting, remote
 * monitors, and turning a lost link into monitor events.
 *
 * The "no holes" rule lives here: when a link fails (or cannot be made) the queue is
 * dropped and every monitor of that node fires at once with
 * `["transport_error", node, text]`, before anything else can be sent. A later send
 * starts a new connection, so after the monitors have fired messages may flow again,
 * as AEMP promises.
 *
 * A message that cannot be sent throws out of `send` (an `EncodeError`) and nothing
 * is queued: on a live link it is encoded at once in the link's framing. While the
 * link is being made its framing is not known yet (the peer picks it): the message is
 * checked against the framing of the node's last link, or for a node never linked our
 * preferred one (superjson, what our own nodes pick; no framing is strictest: json
 * cannot carry a BigInt, superjson refuses a `__proto__` key). If the framing the peer
 * picks cannot carry it after all, the new link is closed with that error, so the
 * monitors fire: no silent hole.
 *
 * A node that failed and is left with nothing (no link, no queue, no monitors) is
 * released from the node table (`host.release`): one entry per node ever seen would
 * grow for ever. Its last known addresses are kept apart, in a bounded cache.
 */
import type { MonitorAction } from "../kernel/remote.ts";
import { error as logError, isTracing, trace } from "../log.ts";
import type { Link, SharedPacket } from "../transport/connection.ts";
import type { Packet } from "../transport/framing.ts";

/** What a RemoteNode needs from the network around it. */
export interface NodeHost {
  /** Starts connecting to `node` (lookup + dial); calls node.attach or node.fail. */
  connect(node: RemoteNode): void;
  /** Throws an `EncodeError` unless `packet` can probably go to node `nodeId` (`framing`: of its last link). */
  checkSendable(packet: Packet, nodeId: string, framing: string | undefined): void;
  /** The node failed and holds nothing any more: drop it from the node table. */
  release(node: RemoteNode): void;
  /** A link came up or went down: for up/down listeners (monNodes). */
  nodeEvent(nodeId: string, up: boolean, text?: string): void;
  /** The peer is gone: drop what it registered on us (its monitors of our ports). */
  forgetPeer(nodeId: string): void;
}

/** Packets and bytes a node's links carried, each way. */
export interface Traffic {
  packetsOut: number;
  packetsIn: number;
  bytesOut: number;
  bytesIn: number;
}

/** Links lost and connections that could not be made, since the process started. */
let failures = 0;

/** How many times a node's link failed or could not be made (for metrics). */
export function linkFailureCount(): number {
  return failures;
}

export class RemoteNode {
  readonly id: string;
  link: Link | null = null;
  connecting = false;
  /** Known listen addresses, once looked up (or dialled, or read from the database). */
  addresses: string[] | null = null;
  /** Set once released from the node table: holders of this object must look the node up again. */
  released = false;
  /** The framing its last link wrote, what queued messages are checked against. */
  framing: string | undefined;
  /** What the node's earlier links carried (the current link counts its own). */
  readonly pastTraffic: Traffic = { packetsOut: 0, packetsIn: 0, bytesOut: 0, bytesIn: 0 };
  private queue: Packet[] = [];
  /** Monitors of this node's ports by port ID; node monitors under "". */
  private monitors = new Map<string, Set<MonitorAction>>();
  private readonly host: NodeHost;

  constructor(id: string, host: NodeHost) {
    this.id = id;
    this.host = host;
  }

  get isUp(): boolean {
    return this.link !== null;
  }

  /**
   * Sends now if the link is up, else queues and makes sure a connection is on its way.
   * Throws an `EncodeError` (nothing queued) for a message that cannot be sent.
   */
  send(packet: Packet): void {
    if (isTracing()) trace("SND", this.id, packet);
    if (this.link !== null) {
      this.link.send(packet);
      return;
    }
    this.host.checkSendable(packet, this.id, this.framing);
    this.queue.push(packet);
    if (!this.connecting) {
      this.connecting = true;
      this.host.connect(this);
    }
  }

  /** `send` of a packet that goes to many nodes: on a live link, encoded once for all of them. */
  sendShared(shared: SharedPacket): void {
    if (this.link === null) {
      this.send(shared.packet);
      return;
    }
    if (isTracing()) trace("SND", this.id, shared.packet);
    this.link.sendShared(shared);
  }

  /** Makes sure a link exists or is being made (for node monitors and seeds). */
  ensureLink(): void {
    if (this.link === null && !this.connecting) {
      this.connecting = true;
      this.host.connect(this);
    }
  }

  /** Packets waiting for a link. */
  get queued(): number {
    return this.queue.length;
  }

  /** A link authenticated: flush the queue in order. */
  attach(link: Link): void {
    this.link = link;
    this.connecting = false;
    this.framing = link.writeFraming;
    const queue = this.queue;
    this.queue = [];
    for (const packet of queue) {
      try {
        link.send(packet);
      } catch (err) {
        // The framing the peer chose cannot carry it: fail the link, so monitors fire.
        link.close(err instanceof Error ? err.message : String(err));
        return;
      }
    }
    this.host.nodeEvent(this.id, true);
  }

  /**
   * The link failed or could not be made: drop the queue, fire every monitor once,
   * forget what the peer registered here.
   */
  fail(text: string): void {
    const wasUp = this.link !== null;
    if (this.link !== null) addTraffic(this.pastTraffic, this.link);
    failures++;
    this.link = null;
    this.connecting = false;
    this.queue = [];
    const monitors = this.monitors;
    this.monitors = new Map();
    const reason = ["transport_error", this.id, text];
    for (const actions of monitors.values()) fire(actions, reason);
    this.host.forgetPeer(this.id);
    if (wasUp) this.host.nodeEvent(this.id, false, text);
    // Whoever was told may have sent or monitored again: then the entry is still in use.
    if (this.link === null && !this.connecting && this.queue.length === 0 && this.monitors.size === 0) this.host.release(this);
  }

  /**
   * Monitors a port of this node (or the node itself when `portId` is null). The first
   * monitor of a port asks the peer with `mon1`, cancelling the last sends `mon0`.
   */
  monitor(portId: string | null, action: MonitorAction): () => void {
    const key = portId ?? "";
    let actions = this.monitors.get(key);
    if (actions === undefined) {
      actions = new Set();
      this.monitors.set(key, actions);
      if (portId !== null) this.send(["", "mon1", portName(portId)]);
    }
    const once: MonitorAction = (reason) => action(reason);
    actions.add(once);
    if (portId === null) this.ensureLink();
    return () => {
      const set = this.monitors.get(key);
      if (set === undefined || !set.delete(once) || set.size > 0) return;
      this.monitors.delete(key);
      // While connecting, the mon1 is still queued: queue the mon0 behind it, or the
      // peer would keep that monitor for the life of the link.
      if (portId !== null && (this.link !== null || this.connecting)) this.send(["", "mon0", portName(portId)]);
    };
  }

  /** Everything this node's links carried, the current one included. */
  traffic(): Traffic {
    const total = { ...this.pastTraffic };
    if (this.link !== null) addTraffic(total, this.link);
    return total;
  }

  /** The peer says one of its ports we monitor died (`kil0`): fire those monitors once. */
  portDied(name: string, reason: unknown[]): void {
    const key = `${this.id}#${name}`;
    const actions = this.monitors.get(key);
    if (actions === undefined) return;
    this.monitors.delete(key);
    fire(actions, reason);
  }
}

function addTraffic(to: Traffic, link: Link): void {
  to.packetsOut += link.packetsOut;
  to.packetsIn += link.packetsIn;
  to.bytesOut += link.bytesOut;
  to.bytesIn += link.bytesIn;
}

function fire(actions: Set<MonitorAction>, reason: unknown[]): void {
  for (const action of actions) {
    try {
      action(reason);
    } catch (err) {
      logError(`monitor action threw (monitor callbacks must not throw): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function portName(portId: string): string {
  return portId.slice(portId.indexOf("#") + 1);
}
