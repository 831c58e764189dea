/**
 * The networked node: listeners, links, the table of remote nodes, seeds, and the
 * router the kernel sends remote traffic through.
 *
 * - Links are symmetric; either side may have dialled. The first link to a node that
 *   authenticates is its link; a second one is refused ("already connected").
 * - Crossed links (both nodes dial each other at once) must not kill each other: each
 *   side would keep the link it authenticated first, and refuse the other's, so both
 *   could die. Both sides therefore keep the link dialled by the node with the smaller
 *   ID (plain string order) and refuse the other at its greeting, before sending an auth
 *   line on it, so the peer never sees it up and nothing it sends there is lost. A node
 *   that wants a link while one from the peer is still in its handshake waits for that
 *   one instead of dialling, and fails the node only if it fails.
 * - Sending to a node without a link queues and connects: its addresses come from the
 *   resolver (the global layer: our own `'l` copy, or `g_find` on our master); none
 *   means `no known address`. Addresses are tried in order, one every
 *   `connect_interval`; when every attempt has failed the node fails with the last
 *   error, and if no link is up within `connect_interval` per address it fails with
 *   `connect timeout`.
 * - Seeds: a link to every seed is kept up; the first attempt is immediate, retries
 *   wait 0.6-1.2 s, doubling up to `monitor_timeout`, and start over once a seed is
 *   lost. A seed that is one of our own addresses is skipped.
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
import { deliverLocal } from "../kernel/ports.ts";
import { type MonitorAction, type Router, setRouter } from "../kernel/remote.ts";
import { debug, info, isTracing, trace, warn } from "../log.ts";
import { Link, type LinkOptions, socketErrorText } from "../transport/connection.ts";
import type { Packet } from "../transport/framing.ts";
import { PROTOCOL, alreadyConnectedError } from "../transport/handshake.ts";
import { type Listener, dial, listen } from "../transport/tcp.ts";
import { type NodeHost, RemoteNode } from "./remote-node.ts";

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

class Network implements NodeHost, Router {
  readonly config: NetworkConfig;
  readonly nodes = new Map<string, RemoteNode>();
  listeners: Listener[] = [];
  private readonly links = new Set<Link>();
  private resolver: Resolver = async (nodeId) => this.nodes.get(nodeId)?.addresses ?? null;
  /** Full port IDs of recent packet targets, so a hot port costs no string building. */
  private readonly portIds = new Map<string, string>();
  /** Remote node and port name of recent send targets, by full port ID. */
  private readonly targets = new Map<string, { node: RemoteNode; name: string }>();
  private seedKeepers: SeedKeeper[] = [];
  private stopped = false;
  /** Node links past their greeting and not yet up, by peer node ID. */
  private readonly handshakes = new Map<string, Set<Link>>();
  /** Nodes we are looking up or dialling, with the token of the attempt (lookup or Dialer). */
  private readonly dialing = new Map<string, object>();

  constructor(config: NetworkConfig) {
    this.config = config;
  }

  get addresses(): string[] {
    return this.listeners.flatMap((l) => l.addresses);
  }

  /** Binds the listeners. */
  async listen(): Promise<void> {
    for (const bind of this.config.binds) {
      this.listeners.push(await listen(bind, (socket) => this.adopt(socket, false)));
    }
    info(`node ${this.config.nodeId} listening on ${this.addresses.join(", ") || "(no binds)"}`);
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

  /** A node's listen addresses as `connect` finds them: known ones, else the resolver's. */
  resolve(nodeId: string): Promise<string[] | null> {
    const known = this.nodes.get(nodeId)?.addresses;
    return known !== null && known !== undefined && known.length > 0 ? Promise.resolve(known) : this.resolver(nodeId);
  }

  onNodeEvent(listener: NodeListener): () => void {
    return onNodeEvent(listener);
  }

  node(nodeId: string): RemoteNode {
    let n = this.nodes.get(nodeId);
    if (n === undefined) {
      n = new RemoteNode(nodeId, this);
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
    if (target === undefined) {
      if (this.targets.size >= 10_000) this.targets.clear();
      target = { node: this.node(nodeId), name: portId.slice(nodeId.length + 1) };
      this.targets.set(portId, target);
    }
    const packet: unknown[] = [target.name];
    for (let i = 0; i < msg.length; i++) packet.push(msg[i]);
    target.node.send(packet);
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
      queueMicrotask(() => node.fail("node is shutting down"));
      return;
    }
    // A link with it is in its handshake already: wait for it (see onDown) rather than
    // dial a second one that could cross it.
    if (this.inHandshake(node.id)) return;
    const token = {};
    this.dialing.set(node.id, token);
    const known = node.addresses;
    const lookup = known !== null && known.length > 0 ? Promise.resolve(known) : this.resolver(node.id);
    const fail = (text: string): void => {
      this.stopDialing(node.id, token);
      if (!node.isUp && node.connecting) node.fail(text);
    };
    lookup.then(
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
   * Fails `node` with `text` after `seconds`, unless by then it is up, no longer wanted,
   * or being dialled or handshaken again (whose outcome then decides).
   */
  failUnlessLinked(node: RemoteNode, text: string, seconds: number): void {
    setTimeout(() => {
      if (!node.isUp && node.connecting && !this.dialing.has(node.id) && !this.inHandshake(node.id)) node.fail(text);
    }, seconds * 1000);
  }

  /** Ends the dialling record `token` of a node, if it is still the current one. */
  stopDialing(nodeId: string, token: object): void {
    if (this.dialing.get(nodeId) === token) this.dialing.delete(nodeId);
  }

  /** Whether a node link with `nodeId` is past its greeting but not up yet. */
  inHandshake(nodeId: string): boolean {
    return (this.handshakes.get(nodeId)?.size ?? 0) > 0;
  }

  /** Of two crossed links, the one both ends keep: dialled by the smaller node ID. */
  private preferred(link: Link, peerId: string): boolean {
    return link.outbound === this.config.nodeId < peerId;
  }

  /** Whether a link both ends would keep is on its way to `peerId`. */
  private preferredPending(peerId: string): boolean {
    for (const l of this.handshakes.get(peerId) ?? []) if (this.preferred(l, peerId)) return true;
    // When our dial is the preferred one, it counts from the start: its greeting is on its way.
    return this.config.nodeId < peerId && this.dialing.has(peerId);
  }

  private endHandshake(peerId: string, link: Link): void {
    const set = this.handshakes.get(peerId);
    if (set !== undefined && set.delete(link) && set.size === 0) this.handshakes.delete(peerId);
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
    const link = new Link(socket, outbound, this.linkOptions(), {
      onGreeting: (peer, l) => {
        if (l.protocol !== PROTOCOL) return;
        const id = peer.nodeId;
        if (this.nodes.get(id)?.isUp) throw alreadyConnectedError(id);
        // Crossed links: refuse the one the peer will refuse too (see the module comment).
        if (!this.preferred(l, id) && this.preferredPending(id)) throw alreadyConnectedError(id);
        let set = this.handshakes.get(id);
        if (set === undefined) this.handshakes.set(id, (set = new Set()));
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
        const node = this.node(peerId);
        if (node.isUp) {
          l.close(alreadyConnectedError(peerId).message);
          return;
        }
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
        const node = peerId === undefined ? undefined : this.nodes.get(peerId);
        const attached = node !== undefined && node.link === l;
        if (peerId !== undefined) this.endHandshake(peerId, l);
        // A peer breaking the protocol (bad greeting, wrong secret, garbage frames) is
        // worth a warning: it is usually a misconfigured node. Ordinary ends are not.
        const who = `${l.outbound ? "to" : "from"} ${peerId === undefined ? "" : `node ${peerId} at `}${socket.remoteAddress}:${socket.remotePort}`;
        if (l.failure instanceof ProtocolError && l.failure.code !== "ERR_ALREADY_CONNECTED") {
          warn(`link ${who} ${attached ? "failed" : "refused"}: ${text}`);
        } else if (!attached) debug(`link ${who} ended: ${text}`);
        if (attached) node.fail(text);
        // We waited for this link instead of dialling (or our dial gave up in its favour),
        // and it was the last one: the node could not be reached.
        else if (node !== undefined && !node.isUp && node.connecting && !this.dialing.has(node.id) && !this.inHandshake(node.id)) node.fail(text);
        onResult?.(false, text, peerId);
      },
    });
    return link;
  }

  private receive(packet: Packet, link: Link): void {
    const name = packet[0];
    const from = link.peer!.nodeId;
    if (isTracing()) trace("RCV", from, packet);
    // `[]`: the keepalive a Perl node without listeners sends when its link is idle.
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
      if (this.portIds.size > 10_000) this.portIds.clear();
      id = `${NODE()}#${name}`;
      this.portIds.set(name, id);
    }
    packet.shift();
    deliverLocal(id, packet, from);
  }

  /** Closes every link and listener (normal shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const keeper of this.seedKeepers) keeper.stop();
    for (const link of [...this.links]) link.close("node is shutting down");
    await Promise.all(this.listeners.map((l) => new Promise<void>((r) => l.server.close(() => r()))));
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}

/**
 * Tries a node's addresses in order until a link to it is up, or gives up.
 *
 * Once finished (a link is up, or it gave up) it ignores every later report of its
 * attempts, and closes the attempts still in progress: a late failure must never fail
 * a newer connection to the same node, and a half-made link must not linger until the
 * handshake timeout.
 */
class Dialer {
  private index = 0;
  private failures = 0;
  private lastError = "connect timeout";
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private finished = false;
  /** Whether the last attempt looked refused in favour of a crossing link from the node. */
  private crossed = false;
  /** Sockets of attempts still in progress; the one whose link came up is removed. */
  private readonly attempts = new Set<Socket>();
  constructor(
    private readonly net: Network,
    private readonly node: RemoteNode,
    private readonly addresses: string[],
  ) {}

  start(): void {
    const interval = this.interval();
    this.deadline = setTimeout(() => this.giveUp("connect timeout"), interval * 1000 * this.addresses.length + 1000 * this.net.config.connectInterval);
    this.next();
  }

  private interval(): number {
    const base = this.net.config.connectInterval;
    return Math.max(0.4, this.addresses.length > 1 ? base / Math.min(this.addresses.length, 5) : base);
  }

  private next(): void {
    if (this.finished) return;
    if (this.node.isUp || !this.node.connecting) return this.done();
    if (this.index >= this.addresses.length) return;
    const address = this.addresses[this.index++];
    const socket = dial(address);
    this.attempts.add(socket);
    let connected = false;
    socket.once("connect", () => {
      connected = true;
      if (this.finished) return;
      this.net.adopt(socket, true, (ok, text, peer) => {
        if (this.finished) return;
        this.attempts.delete(socket);
        if (ok) this.done();
        else {
          // Closed after its greeting by a node whose own dial wins when links cross:
          // most likely that link is on its way.
          this.crossed = peer !== undefined && peer < this.net.config.nodeId;
          this.attemptFailed(text);
        }
      });
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      // Node clears `socket.connecting` before emitting a connect error, so the
      // flag set on "connect" tells a failed attempt from an error of a live link
      // (which the link reports itself).
      if (connected || this.finished) return;
      this.attempts.delete(socket);
      this.crossed = false;
      this.attemptFailed(socketErrorText(err));
    });
    if (this.index < this.addresses.length) {
      const jitter = 0.9 + Math.random() * 0.2;
      this.timer = setTimeout(() => this.next(), this.interval() * 1000 * jitter);
    }
  }

  private attemptFailed(text: string): void {
    this.lastError = text;
    if (++this.failures >= this.addresses.length) this.giveUp(this.lastError);
    else if (this.timer !== undefined && this.index < this.addresses.length) {
      clearTimeout(this.timer);
      this.next();
    }
  }

  /** The node is linked (by `keep`, maybe one of ours): ends every other attempt. */
  stop(keep: Socket): void {
    this.attempts.delete(keep);
    if (!this.finished) this.done();
  }

  private giveUp(text: string): void {
    if (this.finished) return;
    this.done();
    // A link from the node itself is in its handshake (our dial crossed it and was
    // refused): its outcome decides, see Network's onDown.
    if (this.net.inHandshake(this.node.id)) return;
    if (!this.node.isUp && this.node.connecting) {
      if (this.crossed) this.net.failUnlessLinked(this.node, text, this.net.config.connectInterval);
      else this.node.fail(text);
    }
  }

  private done(): void {
    this.finished = true;
    this.net.stopDialing(this.node.id, this);
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.timer = this.deadline = undefined;
    for (const socket of this.attempts) socket.destroy();
    this.attempts.clear();
  }
}


/** Keeps a link to one seed address up, retrying with a doubling delay. */
class SeedKeeper {
  private delay = 0;
  private timer: NodeJS.Timeout | undefined;
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
    this.net.seedUp(this.nodeId);
  }

  private attempt(): void {
    this.timer = undefined;
    if (this.stopped) return;
    if (this.nodeId !== undefined && this.net.nodes.get(this.nodeId)?.isUp) return;
    if (this.nodeId !== undefined && this.net.inHandshake(this.nodeId)) {
      this.schedule(); // a link is on its way already; look again later
      return;
    }
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
    this.timer = setTimeout(() => this.attempt(), this.delay * 1000);
  }

  stop(): void {
    this.stopped = true;
    this.unlisten();
    if (this.timer !== undefined) clearTimeout(this.timer);
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
  return net;
}

/** The running network, if `configure` started one. */
export function currentNetwork(): Network | null {
  return network;
}

export type { Network };
