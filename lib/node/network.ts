/**
 * The networked node: listeners, links, the table of remote nodes, seeds, and the
 * router the kernel sends remote traffic through.
 *
 * - Links are symmetric; either side may have dialled. What a connection says before
 *   it authenticates has no lasting say: a greeting that claims some node's ID never
 *   blocks its real links, and delays a dial to that node by half a second at most
 *   (it used to hold it for the whole handshake timeout; a peer with no secret could
 *   lock a node out that way).
 * - The first link to a node that authenticates is its link. A later one replaces it
 *   (the peer reconnected, so the old link is dead on its side: a half-open TCP
 *   connection, or the peer's process was restarted with the same node ID): the old
 *   link's monitors fire first with `["transport_error", NODE, "switched connections"]`,
 *   as AEMP's own switch does, so the no-holes rule holds. Only while the old link is
 *   younger than `connect_interval` (the two came from a crossing, below, or the
 *   peer's end of the old one has not reached us yet) the link dialled by the smaller
 *   node ID is kept, whichever came first; refusing the other is logged as a warning.
 * - Crossed links (both nodes dial each other at once) must not kill each other. Both
 *   sides keep the link dialled by the node with the smaller ID (plain string order):
 *   the smaller node refuses the peer's link at its greeting, before sending an auth
 *   line, while its own dial to that peer is under way or came up less than
 *   `connect_interval` ago; the peer, seeing its dial
 *   refused so, gives the smaller node's link `connect_interval` to arrive before it
 *   fails the node. The larger node never refuses at a greeting: what it would go by
 *   (a link "from" the smaller node in its handshake) is not authenticated yet. Either
 *   node, wanting a link while one from the peer is in its handshake (it has sent its
 *   auth line there, so the peer will take that link up), waits for that handshake
 *   instead of dialling a second link, but at most half a second (`connect_interval`
 *   if shorter): a real handshake takes one round trip.
 * - Sending to a node without a link queues and connects: its addresses are the last
 *   known ones (from an earlier lookup, the seed address that reached it, or the
 *   database entry it had), else the resolver's (the global layer: our own `'l` copy,
 *   or `g_find` on our master); none means `no known address`. Remembering them means
 *   a healed network carries traffic again as soon as a send dials, without waiting
 *   for a master. Addresses are tried in order, one every `connect_interval` (shorter
 *   with several addresses, never under 0.4 s); an address whose TCP connect is still
 *   unanswered when its turn comes again is dialled once more beside the first
 *   attempt, so a partition that heals is noticed within about a second, not after
 *   the kernel's doubling SYN retries. When every attempt has failed the node fails
 *   with the last error; if no link is up within `connect_interval` per address plus
 *   one, it fails with `connect timeout`.
 * - A node that failed and holds nothing is dropped from the table; what we knew of it
 *   (addresses, the framing its last link wrote) goes to a cache bounded by size, as
 *   do the other caches keyed by what peers send.
 * - Seeds: a link to every seed is kept up; the first attempt is immediate, retries
 *   wait 0.6-1.2 s, doubling up to `monitor_timeout`, and start over once a seed is
 *   lost. A seed that is one of our own addresses is skipped.
 * - Shutdown (`stop`) drains: the run queue, the queues of nodes being connected, the
 *   links' unsent packets, until nothing is left or the deadline passes; then it tells
 *   each of our own peers (`["", "aemp_shutdown"]`, so their monitors say
 *   `node shut down` instead of a lost link), ends every link cleanly and reports how
 *   many packets it gave up on.
 * - Side channels: a listener accepts greetings of the protocols registered with
 *   `registerLinkProtocol` (`aemp-dataconn`, lib/node/dataconn.ts) besides `aemp`.
 *   Such a link never becomes a node's link (nor is it refused as "already
 *   connected"): once authenticated, its stream goes to the protocol's handler.
 */
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { ProtocolError } from "../errors.ts";
import { NODE } from "../kernel/ids.ts";
import { forgetPeer, handleNodeRequest, registerNodeRequest } from "../kernel/node-port.ts";
import { deliverLocal, runQueueLength } from "../kernel/ports.ts";
import { type MonitorAction, type Router, setRouter } from "../kernel/remote.ts";
import { type Timer, timer } from "../kernel/timers.ts";
import { debug, error as logError, info, isTracing, trace, warn } from "../log.ts";
import { Link, type LinkOptions, SharedPacket, encodeChecked, socketErrorText } from "../transport/connection.ts";
import { FRAMINGS_WE_WRITE, type Packet } from "../transport/framing.ts";
import { PROTOCOL, PROVIDER_NAME, alreadyConnectedError } from "../transport/handshake.ts";
import { type Listener, dial, listen } from "../transport/tcp.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { type NodeHost, RemoteNode, type Traffic } from "./remote-node.ts";

export interface NetworkConfig {
  nodeId: string;
  binds: string[];
  seeds: string[];
  secret: string | undefined;
  authOffer: string[];
  authAccept: string[];
  framings: string[];
  monitorTimeout: number;
  connectInterval: number;
  maxPacketSize: number;
  nodelay: boolean;
  /** Shared certificate and key (PEM): links run TLS with nodes that have it too. */
  tls?: { cert: string; key: string };
}

/** Finds the listen addresses of a node (null: none known). */
export type Resolver = (nodeId: string) => Promise<string[] | null>;

type NodeListener = (nodeId: string, up: boolean, text?: string) => void;

/** Characters each cache keyed by peers' strings may hold (about 2 MB each). */
const CACHE_BUDGET = 1 << 20;
/** The transport error of a link replaced by a newer one (AEMP's text). */
const SWITCHED = "switched connections";
/** What the monitors of a peer that said it was shutting down are told. */
const PEER_SHUT_DOWN = "node shut down";
/** What our own monitors of remote ports are told when we shut down. */
const SHUTTING_DOWN = "node is shutting down";
/** Seconds a dial waits, at most, for a crossing link from the node to finish its handshake. */
const CROSSING_GRACE = 0.5;

const addressesLength = (list: string[]): number => list.reduce((n, a) => n + a.length, 0);

/** What the node table forgets with a released node, and a later send (or the metrics) wants back. */
interface LastKnown {
  addresses: string[];
  framing: string | undefined;
  /** What its links carried, so per-peer counters go on where they were. */
  traffic: Traffic | undefined;
}

/** What a LastKnown entry costs in the cache, besides its key. */
const lastKnownSize = (k: LastKnown): number => addressesLength(k.addresses) + 40;

class Network implements NodeHost, Router {
  readonly config: NetworkConfig;
  readonly nodes = new Map<string, RemoteNode>();
  listeners: Listener[] = [];
  private readonly links = new Set<Link>();
  private resolver: Resolver = async () => null;
  /** Full port IDs of recent packet targets, so a hot port costs no string building. */
  private readonly portIds = new BoundedCache<string>(CACHE_BUDGET, (id) => id.length);
  /** Remote node and port name of recent send targets, by full port ID. */
  private readonly targets = new BoundedCache<{ node: RemoteNode; name: string }>(CACHE_BUDGET, (t) => t.name.length);
  /** What we knew of nodes released from the table (addresses, framing), for the next send to them. */
  private readonly lastKnown = new BoundedCache<LastKnown>(CACHE_BUDGET, lastKnownSize);
  private seedKeepers: SeedKeeper[] = [];
  private stopped = false;
  private stopping: Promise<number> | undefined;
  /** Nodes we are looking up or dialling, with the token of the attempt (lookup or Dialer). */
  private readonly dialing = new Map<string, object>();
  /** Inbound node links past their greeting, not authenticated yet, by the node ID they claim. */
  private readonly handshakes = new Map<string, Set<Link>>();
  /** Nodes whose dial waits for such a handshake (see `connect`), with the grace timer. */
  private readonly awaiting = new Map<string, Timer>();

  constructor(config: NetworkConfig) {
    this.config = config;
  }

  get addresses(): string[] {
    return this.listeners.flatMap((l) => l.addresses);
  }

  /** Binds the listeners; if one fails, the others are closed again and the error is thrown. */
  async listen(): Promise<void> {
    try {
      for (const bind of this.config.binds) {
        this.listeners.push(await listen(bind, (socket) => this.adopt(socket, false)));
      }
    } catch (err) {
      await this.closeListeners();
      throw err;
    }
    info(`node ${this.config.nodeId} listening on ${this.addresses.join(", ") || "(no binds)"}`);
  }

  private async closeListeners(): Promise<void> {
    const listeners = this.listeners;
    this.listeners = [];
    await Promise.all(listeners.map((l) => new Promise<void>((r) => l.server.close(() => r()))));
  }

  /** Whether one of our seeds is this node itself (which makes it a global node). */
  get seedIsSelf(): boolean {
    return this.config.seeds.some((seed) => this.isOwnAddress(seed));
  }

  /** Starts keeping links to the seeds (other than ourselves). */
  startSeeds(): void {
    for (const seed of this.config.seeds) {
      if (!this.isOwnAddress(seed)) this.seedKeepers.push(new SeedKeeper(this, seed));
    }
  }

  private isOwnAddress(seed: string): boolean {
    if (this.addresses.includes(seed)) return true;
    const port = seed.slice(seed.lastIndexOf(":") + 1);
    const host = seed.slice(0, seed.lastIndexOf(":"));
    const loopback = host === "localhost" || host.startsWith("127.");
    return loopback && this.addresses.some((a) => a.endsWith(`:${port}`));
  }

  private readonly seedListeners = new Set<(nodeId: string) => void>();

  /** Calls `cb(nodeId)` whenever the link to a seed is up. */
  onSeedUp(cb: (nodeId: string) => void): void {
    this.seedListeners.add(cb);
  }

  seedUp(nodeId: string): void {
    for (const cb of this.seedListeners) cb(nodeId);
  }

  /** Installs the resolver of the global layer. */
  setResolver(resolver: Resolver): void {
    this.resolver = resolver;
  }

  /** A node's listen addresses as `connect` finds them: the last known ones, else the resolver's. */
  resolve(nodeId: string): Promise<string[] | null> {
    const known = this.nodes.get(nodeId)?.addresses ?? this.lastKnown.get(nodeId)?.addresses;
    if (known !== null && known !== undefined && known.length > 0) return Promise.resolve(known);
    // A resolver that throws (rather than rejects) must not throw out of a send.
    return Promise.resolve().then(() => this.resolver(nodeId));
  }

  /** Keeps `addresses` as the node's last known ones (the global layer, before it forgets them). */
  rememberAddresses(nodeId: string, addresses: string[] | null): void {
    if (addresses === null || addresses.length === 0) return;
    const node = this.nodes.get(nodeId);
    if (node !== undefined) node.addresses = addresses;
    else this.lastKnown.set(nodeId, { ...this.lastKnown.get(nodeId), addresses } as LastKnown);
  }

  onNodeEvent(listener: NodeListener): () => void {
    return onNodeEvent(listener);
  }

  node(nodeId: string): RemoteNode {
    let n = this.nodes.get(nodeId);
    if (n === undefined) {
      n = new RemoteNode(nodeId, this);
      const known = this.lastKnown.get(nodeId);
      if (known !== undefined) {
        n.addresses = known.addresses.length > 0 ? known.addresses : null;
        n.framing = known.framing;
        if (known.traffic !== undefined) Object.assign(n.pastTraffic, known.traffic);
      }
      this.nodes.set(nodeId, n);
    }
    return n;
  }

  // ---- Router (what the kernel calls) ----------------------------------------------

  send(nodeId: string, portId: string, msg: unknown[]): void {
    // A stream of sends to one port reuses its node and port name: the port ID a
    // sender holds is usually one string object whose hash V8 has cached, while
    // `nodeId` is freshly sliced per call (hashing it and slicing the name again cost
    // about a fifth of a small message's send).
    let target = this.targets.get(portId);
    if (target === undefined || target.node.released) {
      target = { node: this.node(nodeId), name: portId.slice(nodeId.length + 1) };
      this.targets.set(portId, target);
    }
    const packet: unknown[] = [target.name];
    for (let i = 0; i < msg.length; i++) packet.push(msg[i]);
    target.node.send(packet);
  }

  /**
   * Sends one packet to each of `nodeIds` (a global node telling every monitor of a
   * family about a change): encoded once per framing, the same bytes go to every live
   * link. A node it cannot go to (an `EncodeError`) is logged and skipped; the others
   * still get it.
   */
  broadcast(nodeIds: Iterable<string>, packet: Packet): void {
    const shared = new SharedPacket(packet);
    for (const nodeId of nodeIds) {
      try {
        this.node(nodeId).sendShared(shared);
      } catch (err) {
        logError(err instanceof Error ? err.message : String(err));
      }
    }
  }

  kill(nodeId: string, portId: string, reason: unknown[]): void {
    this.node(nodeId).send(["", "kil1", portId.slice(nodeId.length + 1), ...reason]);
  }

  monitor(nodeId: string, portId: string | null, action: MonitorAction): () => void {
    return this.node(nodeId).monitor(portId, action);
  }

  spawn(nodeId: string, name: string, init: string, args: unknown[]): void {
    this.node(nodeId).send(["", "AnyEvent::MP::_spawn", name, init, ...args]);
  }

  // ---- NodeHost (what remote nodes call) ---------------------------------------------

  connect(node: RemoteNode): void {
    if (this.stopped) {
      queueMicrotask(() => node.fail(SHUTTING_DOWN));
      return;
    }
    // A link from the node is in its handshake, probably crossing the dial we would
    // make: give it a moment (see the module comment), no more, since what it claims
    // is not authenticated yet.
    if ((this.handshakes.get(node.id)?.size ?? 0) > 0 && !this.awaiting.has(node.id)) {
      this.awaiting.set(node.id, timer(this.crossingGrace, () => this.dialAfterWait(node.id)));
      return;
    }
    this.dial(node);
  }

  /** Seconds `connect` lets an inbound handshake from the node complete before it dials anyway. */
  private get crossingGrace(): number {
    return Math.min(CROSSING_GRACE, this.config.connectInterval);
  }

  /** The wait for an inbound handshake is over (it ended, or the grace ran out): dial if still needed. */
  private dialAfterWait(nodeId: string): void {
    this.awaiting.get(nodeId)?.cancel();
    this.awaiting.delete(nodeId);
    const node = this.nodes.get(nodeId);
    if (node !== undefined && !node.isUp && node.connecting && !this.dialing.has(nodeId)) this.dial(node);
  }

  private dial(node: RemoteNode): void {
    const token = {};
    this.dialing.set(node.id, token);
    const fail = (text: string): void => {
      this.stopDialing(node.id, token);
      if (!node.isUp && node.connecting) node.fail(text);
    };
    this.resolve(node.id).then(
      (addresses) => {
        if (node.isUp || !node.connecting) return this.stopDialing(node.id, token);
        if (addresses === null || addresses.length === 0) return fail("no known address");
        node.addresses = addresses;
        const dialer = new Dialer(this, node, addresses);
        this.dialing.set(node.id, dialer);
        dialer.start();
      },
      (err: unknown) => fail(`address lookup failed: ${String(err)}`),
    );
  }

  /**
   * While the link is being made its framing is unknown: the packet is checked against
   * the framing of the node's last link, else our preferred one (see remote-node.ts).
   */
  checkSendable(packet: Packet, nodeId: string, framing: string | undefined): void {
    encodeChecked(framing ?? FRAMINGS_WE_WRITE[0], packet, this.config.maxPacketSize, nodeId);
  }

  release(node: RemoteNode): void {
    if (this.nodes.get(node.id) !== node) return;
    this.nodes.delete(node.id);
    node.released = true;
    const traffic = node.traffic();
    const carried = traffic.packetsIn > 0 || traffic.packetsOut > 0;
    if (node.addresses !== null || node.framing !== undefined || carried) {
      this.lastKnown.set(node.id, { addresses: node.addresses ?? [], framing: node.framing, traffic: carried ? traffic : undefined });
    }
  }

  /**
   * What the links to each peer carried, for every peer this node had traffic with:
   * those in the node table and those released from it (as long as the bounded cache
   * of what we knew about them keeps them).
   */
  trafficByPeer(): [string, Traffic][] {
    const out: [string, Traffic][] = [];
    for (const node of this.nodes.values()) {
      const t = node.traffic();
      if (node.link !== null || t.packetsOut > 0 || t.packetsIn > 0) out.push([node.id, t]);
    }
    for (const [id, known] of this.lastKnown.entries()) {
      if (known.traffic !== undefined && !this.nodes.has(id)) out.push([id, known.traffic]);
    }
    return out;
  }

  /**
   * Fails `node` with `text` after `seconds`, unless by then it is up, no longer wanted,
   * or being dialled again (whose outcome then decides).
   */
  failUnlessLinked(node: RemoteNode, text: string, seconds: number): void {
    timer(seconds, () => {
      if (!node.isUp && node.connecting && !this.dialing.has(node.id)) node.fail(text);
    });
  }

  /** Ends the dialling record `token` of a node, if it is still the current one. */
  stopDialing(nodeId: string, token: object): void {
    if (this.dialing.get(nodeId) === token) this.dialing.delete(nodeId);
  }

  nodeEvent(nodeId: string, up: boolean, text?: string): void {
    info(`node ${nodeId} is ${up ? "up" : `down (${text})`}`);
    for (const listener of nodeListeners) {
      try {
        listener(nodeId, up, text);
      } catch (err) {
        warn(`node event listener threw: ${String(err)}`);
      }
    }
  }

  forgetPeer(nodeId: string): void {
    forgetPeer(nodeId);
  }

  // ---- links ---------------------------------------------------------------------------

  linkOptions(): LinkOptions {
    const c = this.config;
    return {
      nodeId: c.nodeId,
      secret: c.secret,
      authOffer: c.authOffer,
      authAccept: c.authAccept,
      framings: c.framings,
      handshakeTimeout: c.monitorTimeout,
      maxPacketSize: c.maxPacketSize,
      nodelay: c.nodelay,
      tls: c.tls,
      acceptProtocols: [PROTOCOL, ...linkProtocols.keys()],
    };
  }

  /** Runs the handshake on a socket; `onResult` hears how it ended (dialers, seeds). */
  adopt(socket: Socket, outbound: boolean, onResult?: (ok: boolean, text: string, peer?: string) => void): Link {
    const who = (l: Link): string => {
      const peerId = l.peer?.nodeId;
      return `${l.outbound ? "to" : "from"} ${peerId === undefined ? "" : `node ${peerId} at `}${socket.remoteAddress}:${socket.remotePort}`;
    };
    const link = new Link(socket, outbound, this.linkOptions(), {
      onGreeting: (peer, l) => {
        if (l.protocol !== PROTOCOL || l.outbound) return;
        // Crossed links: the smaller node refuses the peer's while its own dial is
        // under way, or has just come up (see the module comment).
        if (this.config.nodeId < peer.nodeId) {
          if (this.dialing.has(peer.nodeId)) throw alreadyConnectedError(peer.nodeId);
          if (this.hasYoungLink(peer.nodeId)) {
            warn(`link ${who(l)} refused: ${peer.nodeId} already connected, on a link that came up ${this.linkAge(peer.nodeId)} ms ago (crossed links)`);
            throw alreadyConnectedError(peer.nodeId);
          }
        }
        let set = this.handshakes.get(peer.nodeId);
        if (set === undefined) this.handshakes.set(peer.nodeId, (set = new Set()));
        set.add(l);
      },
      onRaw: (stream, head, l) => {
        const handler = linkProtocols.get(l.protocol);
        if (handler !== undefined) handler(stream, head, l);
        else stream.destroy();
      },
      onUp: (l) => {
        const peerId = l.peer!.nodeId;
        this.endHandshake(peerId, l);
        if (this.stopped) {
          l.close(SHUTTING_DOWN);
          return;
        }
        const old = this.nodes.get(peerId)?.link;
        if (old !== undefined && old !== null) {
          // Two links within connect_interval (crossed, or the peer re-dialled before its
          // old link's end reached us): both ends keep the one dialled by the smaller ID.
          if (this.hasYoungLink(peerId) && l.outbound !== this.config.nodeId < peerId) {
            warn(`link ${who(l)} refused: ${peerId} already connected, on a link that came up ${this.linkAge(peerId)} ms ago (crossed links)`);
            l.close(alreadyConnectedError(peerId).message);
            return;
          }
          info(`node ${peerId} connected again: the new link replaces the old one`);
          old.close(SWITCHED); // the old link's monitors fire now, before anything goes on the new one
        }
        const node = this.node(peerId);
        this.links.add(l);
        node.attach(l);
        // The node is linked: attempts still under way to it are not needed any more.
        const dialer = this.dialing.get(peerId);
        if (dialer instanceof Dialer) dialer.stop(l.socket);
        onResult?.(true, "", peerId);
      },
      onPacket: (packet, l) => this.receive(packet, l),
      onDown: (text, l) => {
        this.links.delete(l);
        const peerId = l.peer?.nodeId;
        if (peerId !== undefined) this.endHandshake(peerId, l);
        const node = peerId === undefined ? undefined : this.nodes.get(peerId);
        const attached = node !== undefined && node.link === l;
        // A peer breaking the protocol (bad greeting, wrong secret or certificate,
        // garbage frames) is worth a warning: it is usually a misconfigured node.
        // Ordinary ends, and the refusal of a crossed link, are not.
        if (l.failure instanceof ProtocolError) {
          if (l.failure.code === "ERR_ALREADY_CONNECTED") debug(`link ${who(l)} refused: crossed links, our own dial to it is under way`);
          else warn(`link ${who(l)} ${attached ? "failed" : "refused"}: ${text}`);
        } else if (!attached) debug(`link ${who(l)} ended: ${text}`);
        if (attached) node.fail(l.peerShutDown ? PEER_SHUT_DOWN : text);
        onResult?.(false, text, peerId);
      },
    });
    return link;
  }

  /** Whether the node's link came up less than `connect_interval` ago (a second one would be a crossing). */
  private hasYoungLink(nodeId: string): boolean {
    return this.linkAge(nodeId) < this.config.connectInterval * 1000;
  }

  /** Milliseconds since the node's link came up (Infinity without one). */
  private linkAge(nodeId: string): number {
    const link = this.nodes.get(nodeId)?.link;
    return link === undefined || link === null ? Infinity : Math.round(Date.now() - link.upSince * 1000);
  }

  /** A handshake counted in `handshakes` ended (up or down); a dial waiting for it need not wait more. */
  private endHandshake(peerId: string, link: Link): void {
    const set = this.handshakes.get(peerId);
    if (set === undefined || !set.delete(link)) return;
    if (set.size > 0) return;
    this.handshakes.delete(peerId);
    if (this.awaiting.has(peerId)) queueMicrotask(() => this.dialAfterWait(peerId));
  }

  private receive(packet: Packet, link: Link): void {
    const name = packet[0];
    const from = link.peer!.nodeId;
    if (isTracing()) trace("RCV", from, packet);
    // `[]`: the keepalive a Perl node without listeners sends when its link is idle,
    // and ours (liveness.ts) between aemp nodes.
    if (packet.length === 0) return;
    if (name === "") {
      packet.shift();
      handleNodeRequest(from, packet);
      return;
    }
    if (typeof name !== "string") {
      warn(`dropping packet from ${from} with a non-string port name`);
      return;
    }
    let id = this.portIds.get(name);
    if (id === undefined) {
      id = `${NODE()}#${name}`;
      this.portIds.set(name, id);
    }
    packet.shift();
    deliverLocal(id, packet, from);
  }

  /**
   * Leaves the network (see the module comment): drains for at most `seconds`, then
   * closes every link and listener. Resolves with the number of packets given up on.
   * Calling it again returns the same promise.
   */
  stop(seconds = 0): Promise<number> {
    this.stopping ??= this.leave(seconds);
    return this.stopping;
  }

  private async leave(seconds: number): Promise<number> {
    for (const keeper of this.seedKeepers) keeper.stop();
    const deadline = performance.now() + seconds * 1000;
    await this.drain(deadline);
    this.stopped = true;
    let abandoned = 0;
    for (const node of [...this.nodes.values()]) {
      if (node.isUp || !node.connecting) continue;
      abandoned += node.queued;
      node.fail(SHUTTING_DOWN);
    }
    const links = [...this.links];
    for (const link of links) {
      if (!link.isUp || !(link.peer?.keys.provider ?? "").startsWith(`${PROVIDER_NAME}/`)) continue;
      link.send(["", "aemp_shutdown"]);
    }
    const grace = Math.max(0, deadline - performance.now()) / 1000;
    await Promise.all(links.map((l) => l.end(SHUTTING_DOWN, grace)));
    for (const link of links) abandoned += link.abandoned;
    await this.closeListeners();
    return abandoned;
  }

  /** Waits until nothing is left to send (run queue, connecting nodes, unsent packets) or `deadline`. */
  private async drain(deadline: number): Promise<void> {
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) return;
      if (runQueueLength() > 0) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      const writing = [...this.links].filter((l) => l.unsent > 0);
      const connecting = [...this.nodes.values()].some((n) => n.connecting && n.queued > 0);
      if (writing.length === 0 && !connecting) return;
      // Links say when they are flushed; nodes being connected are looked at again soon.
      await new Promise<void>((resolve) => {
        const poll = timer(Math.min(left, 20) / 1000, resolve);
        void Promise.all(writing.map((l) => l.flushed())).then(() => {
          if (connecting) return;
          poll.cancel();
          resolve();
        });
      });
    }
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}

/**
 * Tries a node's addresses until a link to it is up, or gives up (see the module
 * comment for the order and the deadline).
 *
 * Once finished (a link is up, or it gave up) it ignores every later report of its
 * attempts, and closes the attempts still in progress: a late failure must never fail
 * a newer connection to the same node, and a half-made link must not linger until the
 * handshake timeout.
 */
class Dialer {
  private cursor = 0;
  private ticker: Timer | undefined;
  private deadline: Timer | undefined;
  private finished = false;
  /** Whether the last attempt looked refused in favour of a crossing link from the node. */
  private crossed = false;
  /** Attempts in progress, with their address and whether their TCP connect succeeded. */
  private readonly attempts = new Map<Socket, { address: string; connected: boolean }>();
  private readonly tried = new Set<string>();
  /** Addresses that refused or whose link failed: not dialled again by this dialer. */
  private readonly failed = new Set<string>();
  constructor(
    private readonly net: Network,
    private readonly node: RemoteNode,
    private readonly addresses: string[],
  ) {}

  start(): void {
    const interval = this.interval();
    this.deadline = timer(interval * this.addresses.length + this.net.config.connectInterval, () => this.giveUp("connect timeout"));
    this.next();
  }

  private interval(): number {
    const base = this.net.config.connectInterval;
    return Math.max(0.4, this.addresses.length > 1 ? base / Math.min(this.addresses.length, 5) : base);
  }

  /** Dials the next address in turn (if there is one to dial) and plans the next turn. */
  private next(): void {
    this.ticker?.cancel();
    this.ticker = undefined;
    if (this.finished) return;
    if (this.node.isUp || !this.node.connecting) return this.done();
    const address = this.pick();
    if (address !== undefined) this.attempt(address);
    const jitter = 0.9 + Math.random() * 0.2;
    this.ticker = timer(this.interval() * jitter, () => this.next());
  }

  /** The next address, in order, that has not failed and has no attempt past its TCP connect. */
  private pick(): string | undefined {
    const n = this.addresses.length;
    for (let i = 0; i < n; i++) {
      const address = this.addresses[(this.cursor + i) % n];
      if (this.failed.has(address) || [...this.attempts.values()].some((a) => a.address === address && a.connected)) continue;
      this.cursor = (this.cursor + i + 1) % n;
      return address;
    }
    return undefined;
  }

  private attempt(address: string): void {
    this.tried.add(address);
    const socket = dial(address);
    const state = { address, connected: false };
    this.attempts.set(socket, state);
    socket.once("connect", () => {
      state.connected = true;
      if (this.finished) return;
      this.net.adopt(socket, true, (ok, text, peer) => {
        if (this.finished) return;
        this.attempts.delete(socket);
        if (ok) this.done();
        else {
          // Closed after its greeting by a node whose own dial wins when links cross:
          // most likely that link is on its way.
          this.crossed = peer !== undefined && peer < this.net.config.nodeId;
          this.attemptFailed(address, text);
        }
      });
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      // Node clears `socket.connecting` before emitting a connect error, so the
      // flag set on "connect" tells a failed attempt from an error of a live link
      // (which the link reports itself).
      if (state.connected || this.finished) return;
      this.attempts.delete(socket);
      this.crossed = false;
      this.attemptFailed(address, socketErrorText(err));
    });
  }

  private attemptFailed(address: string, text: string): void {
    this.failed.add(address);
    if (this.failed.size >= this.addresses.length && this.attempts.size === 0) this.giveUp(text);
    else if (this.tried.size < this.addresses.length) this.next(); // the next address now
  }

  /** The node is linked (by `keep`, maybe one of ours): ends every other attempt. */
  stop(keep: Socket): void {
    this.attempts.delete(keep);
    if (!this.finished) this.done();
  }

  private giveUp(text: string): void {
    if (this.finished) return;
    this.done();
    if (!this.node.isUp && this.node.connecting) {
      if (this.crossed) this.net.failUnlessLinked(this.node, text, this.net.config.connectInterval);
      else this.node.fail(text);
    }
  }

  private done(): void {
    this.finished = true;
    this.net.stopDialing(this.node.id, this);
    this.ticker?.cancel();
    this.deadline?.cancel();
    this.ticker = this.deadline = undefined;
    for (const socket of this.attempts.keys()) socket.destroy();
    this.attempts.clear();
  }
}


/** Keeps a link to one seed address up, retrying with a doubling delay. */
class SeedKeeper {
  private delay = 0;
  private timer: Timer | undefined;
  private stopped = false;
  /** The seed's node ID, once it greeted us. */
  nodeId: string | undefined;
  /** Whether the global layer has been told about the seed's current link. */
  private signalled = false;
  private readonly unlisten: () => void;

  constructor(
    private readonly net: Network,
    readonly address: string,
  ) {
    // Whichever link to the seed comes up (ours, its own, or the one kept when both
    // crossed), it is the seed's link.
    this.unlisten = net.onNodeEvent((nodeId, up) => {
      if (nodeId !== this.nodeId) return;
      if (up) this.signalUp();
      else {
        this.signalled = false;
        this.schedule();
      }
    });
    this.attempt();
  }

  private signalUp(): void {
    if (this.signalled || this.nodeId === undefined) return;
    this.signalled = true;
    this.delay = 0;
    // The address that reached the seed is one to dial it at again, when a send needs it.
    const node = this.net.nodes.get(this.nodeId);
    if (node !== undefined && (node.addresses === null || node.addresses.length === 0)) node.addresses = [this.address];
    this.net.seedUp(this.nodeId);
  }

  private attempt(): void {
    this.timer = undefined;
    if (this.stopped) return;
    if (this.nodeId !== undefined && this.net.nodes.get(this.nodeId)?.isUp) return;
    const socket = dial(this.address);
    let connected = false;
    socket.once("connect", () => {
      connected = true;
      this.net.adopt(socket, true, (ok, text, peer) => {
        if (peer !== undefined) this.nodeId = peer;
        if (ok || (peer !== undefined && this.net.nodes.get(peer)?.isUp)) {
          this.signalUp();
          return;
        }
        debug(`seed ${this.address}: ${text}`);
        this.schedule();
      });
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      if (connected) return; // a live link reports its own errors (see Dialer)
      debug(`seed ${this.address}: ${socketErrorText(err)}`);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.stopped || this.timer !== undefined) return;
    const max = this.net.config.monitorTimeout;
    this.delay = this.delay === 0 ? 0.6 + Math.random() * 0.6 : Math.min(this.delay * 2, max);
    this.timer = timer(this.delay, () => this.attempt());
  }

  stop(): void {
    this.stopped = true;
    this.unlisten();
    this.timer?.cancel();
  }
}

let network: Network | null = null;

/** Takes over an authenticated side-channel link (see `registerLinkProtocol`). */
export type LinkProtocolHandler = (stream: Duplex, head: Buffer, link: Link) => void;

const linkProtocols = new Map<string, LinkProtocolHandler>();

/**
 * Lets listeners accept links whose greeting names `protocol` (e.g. `aemp-dataconn`):
 * once authenticated, `handler` owns the raw stream. Register before `configure`.
 */
export function registerLinkProtocol(protocol: string, handler: LinkProtocolHandler): void {
  if (protocol === PROTOCOL) throw new TypeError(`registerLinkProtocol: '${PROTOCOL}' is the node protocol itself`);
  linkProtocols.set(protocol, handler);
}

/**
 * Node up/down listeners. Kept outside the Network so that `monNodes` called before
 * `configure` (a natural order: watch, then join) hears the first links too.
 */
const nodeListeners = new Set<NodeListener>();

/** Calls `listener` for every node up/down event from now on; returns a remover. */
export function onNodeEvent(listener: NodeListener): () => void {
  nodeListeners.add(listener);
  return () => nodeListeners.delete(listener);
}

/**
 * Creates the network and routes remote traffic through it at once (sends made while
 * the listeners bind already queue and connect). `configure` then calls `listen()`
 * and `startSeeds()`.
 */
export function createNetwork(config: NetworkConfig): Network {
  if (network !== null) throw new Error("networking already started");
  const net = (network = new Network(config));
  setRouter(net);
  registerNodeRequest("kil0", (from, name: unknown, ...reason: unknown[]) => {
    if (typeof name === "string") net.nodes.get(from)?.portDied(name, reason);
  });
  // One of our own nodes is leaving on purpose: its link's end is no crash.
  registerNodeRequest("aemp_shutdown", (from) => {
    const link = net.nodes.get(from)?.link;
    if (link) link.peerShutDown = true;
  });
  return net;
}

/** Undoes `createNetwork` for a `configure` that failed: stops it and routes as before. */
export async function discardNetwork(net: Network): Promise<void> {
  await net.stop(0);
  if (network !== net) return;
  network = null;
  setRouter(null);
}

/** The running network, if `configure` started one. */
export function currentNetwork(): Network | null {
  return network;
}

export type { Network };
