/**
 * Ports, the port table, port context and the delivery run queue.
 *
 * This is the hot path, so it is kept flat:
 * - The table is keyed by the full port ID. The ID a sender holds is usually the very
 *   string `port()` returned, whose hash V8 has cached, so `snd` costs one Map lookup.
 * - `snd` never runs a receiver: it appends (port, message) to the run queue. The queue
 *   is drained in batches of at most `BATCH` deliveries; between batches it yields to
 *   I/O with `setImmediate`. Two ports ping-ponging therefore loop, never recurse.
 *   Entries are written into one ring buffer value by value (a short message's
 *   elements inline), so a queued message allocates nothing of its own.
 * - A message for a port that died before delivery is dropped, as a message sent to a
 *   dead port is.
 * - Port context: `SELF()` is the port whose code runs now. Synchronous code (rcv
 *   callbacks, peval, psub) sets a plain variable; async ports (lib/async) set
 *   `portStorage`, an AsyncLocalStorage, which survives `await`. The variable wins, so
 *   a callback of port B run from A's async function sees B.
 * - `SRCNODE()`: a message from another node is queued behind a marker port that is
 *   never alive, with the node it came from, so the local path pays nothing for it;
 *   that node is set while it is delivered and handed to an async mailbox with the
 *   message.
 * - Kills are processed from a work list, so a chain of linked ports dying one after
 *   another does not grow the stack. Monitors of a local port fire inside `kil`, as in
 *   AEMP: when `kil` returns, every monitor has run (message forms have been sent).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { PortContextError, PortKilledError, argumentError } from "../errors.ts";
import { error as logError, isTracing, trace } from "../log.ts";
import { NODE, nextPortName, nodeOf } from "./ids.ts";
import { type MonitorAction, currentRouter, setDefer } from "./remote.ts";
import { Ring } from "./ring.ts";
import { type TagTable, findTag, withTag, withoutTag } from "./tags.ts";
import { type InferMessage, type MessageSchema, type PortOptions, Validator, isSchema, schemaOptions } from "./schema.ts";
import type { Callback, Message, MessageOf, PortId, PortTag, Receiver, TagCallback, UntypedOnly } from "./types.ts";

export type { Callback, Message } from "./types.ts";

/** Marks monitor actions the kernel adds for itself; they do not count as "monitored". */
const INTERNAL = Symbol("aemp.internal");
type Action = MonitorAction & { [INTERNAL]?: true };

// Port state bits. Kept in one small integer so an idle port stays small.
const ALIVE = 1;
/** The port has a `Sink` (an async mailbox) instead of a default callback. */
const WHOLE = 2;
/** The port has a schema: messages from other nodes are checked on arrival. */
const VALIDATED = 4;
/** The port's Sink was left holding messages (it is in `queuedSinks`). */
const QUEUED = 8;

/**
 * A whole-message receiver that replaces the default callback: gets each message
 * array as it is, and is told first when the port dies (before any monitor).
 */
export interface Sink {
  /** `from`: the node a remote message came from, null for a local one. */
  push(msg: Message, from: string | null): void;
  kill(reason: unknown[]): void;
  /** Messages waiting in it (for introspection). */
  readonly size: number;
}

export class Port {
  readonly id: string;
  /** The default receiver, or the Sink when WHOLE is set. */
  cb: Callback | Sink | null = null;
  /** Tag -> callback, called with the message minus its tag (see tags.ts). */
  tags: TagTable | null = null;
  /** Monitor actions, fired once when the port dies. */
  mons: Set<Action> | null = null;
  state = ALIVE;
  constructor(id: string) {
    this.id = id;
  }
  get alive(): boolean {
    return (this.state & ALIVE) !== 0;
  }
}

const table = new Map<string, Port>();

/** The live local port with this ID, if any. */
export function localPort(id: string): Port | undefined {
  return table.get(id);
}

/** Number of live local ports (for tests and `aemp` introspection). */
export function portCount(): number {
  return table.size;
}

// ---- port context -------------------------------------------------------------

/** The port whose synchronous code runs right now, or null. */
let current: string | null = null;

/** What an async port's function carries across `await` (lib/async adds its mailbox). */
export interface PortScope {
  readonly id: string;
  /** The node the message the port last took came from (null: a local one, or none yet). */
  readonly srcNode?: string | null;
}

/** Async context for async ports: holds the port's scope across `await`. */
export const portStorage = new AsyncLocalStorage<PortScope>();

/** The port whose code is running. Throws `PortContextError` outside port context. */
export function SELF(): string {
  const self = current ?? portStorage.getStore()?.id;
  if (self === undefined) {
    throw new PortContextError("SELF() called outside port context (no rcv callback, psub, peval or async port is running)");
  }
  return self;
}

/**
 * The node the message being handled came from: in a receiver callback, that
 * message's; in an async port, the one it last took (`get`, `getCond`, `messages()`).
 * Our own node ID for local sends (and in port context before any message). Throws
 * `PortContextError` outside port context. Perl's `$SRCNODE`.
 */
export function SRCNODE(): string {
  if (current !== null) return source ?? NODE();
  const scope = portStorage.getStore();
  if (scope === undefined) throw new PortContextError("SRCNODE() called outside port context (no rcv callback, psub, peval or async port is running)");
  return scope.srcNode ?? NODE();
}

/** `SELF()` or undefined, for code that works with or without a port context. */
export function currentPort(): string | undefined {
  return current ?? portStorage.getStore()?.id;
}

/** The port whose synchronous code (callback, peval, psub) runs right now, or null. */
export function syncPort(): string | null {
  return current;
}

// ---- creating ports and receivers -----------------------------------------------

function createPort(id: string): Port {
  const p = new Port(id);
  table.set(id, p);
  return p;
}

/** Schemas of the ports that have one (state bit VALIDATED); other ports pay nothing. */
const validators = new WeakMap<Port, Validator>();

/**
 * Creates a local port and returns its ID. With `cb`, `cb` becomes its default
 * receiver (called with the whole message, `SELF()` set to the port). Without one, the
 * port dies with `unhandled_message` when a message arrives that no tag matches.
 *
 * Typed: `port<M>()` returns a `PortId<M>` that accepts only the messages `M` (checked
 * by the compiler, nothing at run time). With a Standard Schema (zod, valibot,
 * arktype...) as first argument, or `{ schema, onInvalid }`, the message type is the
 * schema's, and messages from other nodes are validated on arrival: one that fails is
 * dropped with a warning, or (`onInvalid: "kill"`) kills the port with
 * `["invalid_message", text]`.
 *
 * ```ts
 * const p = port<["ping", number] | ["stop"]>();
 * const q = port(z.tuple([z.literal("add"), z.number()]), (_tag, n) => total += n);
 * ```
 */
export function port<S extends MessageSchema>(schema: S | PortOptions<S>, cb?: Receiver<InferMessage<S>>): PortId<InferMessage<S>>;
export function port(cb?: Callback): string;
export function port<M extends Message>(cb?: Receiver<M>): PortId<M>;
export function port(cb?: unknown, second?: unknown): string {
  // A callable schema (arktype's) is a function too: it has "~standard".
  if (cb !== undefined && (typeof cb !== "function" || second !== undefined || "~standard" in cb)) return validatedPort(cb, second);
  const p = newPort();
  if (cb !== undefined) p.cb = cb as Callback;
  return p.id;
}

function newPort(): Port {
  // join() builds a flat string; a template literal would leave a cons-string tree
  // (two extra objects) behind every idle port.
  return createPort([NODE(), nextPortName()].join("#"));
}

/** `port(schema | options, cb?)`, kept apart so that plain `port(cb)` stays small. */
function validatedPort(first: unknown, cb: unknown): string {
  if ((typeof first !== "object" || first === null) && !isSchema(first)) throw argumentError("port", "cb", "a function or undefined", first);
  const { schema, onInvalid } = schemaOptions("port", first);
  if (cb !== undefined && typeof cb !== "function") throw argumentError("port", "cb", "a function or undefined", cb);
  const p = newPort();
  if (cb !== undefined) p.cb = cb as Callback;
  validators.set(p, new Validator(p.id, schema, onInvalid));
  p.state |= VALIDATED;
  return p.id;
}

/** Creates a port with the given full ID (spawn, remote spawn); a live port's ID is refused. */
export function createNamedPort(id: string): Port {
  if (table.has(id)) throw new TypeError(`port ${id} exists already: a port is never replaced`);
  return createPort(id);
}

function localTarget(fn: string, portId: unknown): Port | undefined {
  if (typeof portId !== "string" || portId.indexOf("#") < 0) throw argumentError(fn, "port", "a port ID string (node#name)", portId);
  if (nodeOf(portId) !== NODE()) throw new TypeError(`${fn}: 'port' must be a local port, received remote port ${portId}`);
  return table.get(portId);
}

/**
 * `rcv(port, cb)` replaces the default receiver. `rcv(port, tag, cb, tag2, cb2, ...)`
 * registers (or, with an undefined/missing callback, removes) tag callbacks, which are
 * called with the message minus its tag and win over the default receiver. Returns the
 * port, so `rcv(port(), "ping", ...)` creates and configures in one go. A dead local
 * port is accepted and ignored.
 *
 * On a typed port the tags must be tags of its message type and each callback gets the
 * rest of the message tagged so (`rcv(p, "ping", (n) => ...)`: `n: number`); the
 * default receiver gets the whole union. Up to four tag/callback pairs per call.
 */
export function rcv<P extends string>(port: P, cb: Receiver<MessageOf<P>>): P;
export function rcv<P extends string, A extends PortTag<P>>(port: P, tag: A, cb?: TagCallback<P, A>): P;
export function rcv<P extends string, A extends PortTag<P>, B extends PortTag<P>>(port: P, tagA: A, cbA: TagCallback<P, A>, tagB: B, cbB?: TagCallback<P, B>): P;
export function rcv<P extends string, A extends PortTag<P>, B extends PortTag<P>, C extends PortTag<P>>(
  port: P,
  tagA: A,
  cbA: TagCallback<P, A>,
  tagB: B,
  cbB: TagCallback<P, B>,
  tagC: C,
  cbC?: TagCallback<P, C>,
): P;
export function rcv<P extends string, A extends PortTag<P>, B extends PortTag<P>, C extends PortTag<P>, D extends PortTag<P>>(
  port: P,
  tagA: A,
  cbA: TagCallback<P, A>,
  tagB: B,
  cbB: TagCallback<P, B>,
  tagC: C,
  cbC: TagCallback<P, C>,
  tagD: D,
  cbD?: TagCallback<P, D>,
): P;
/** Untyped ports only: any number of tag/callback pairs. */
export function rcv<P extends string>(port: P & UntypedOnly<P>, ...args: unknown[]): P;
export function rcv(portId: string, ...args: unknown[]): string {
  const p = localTarget("rcv", portId);
  if (args.length === 1 && typeof args[0] === "function") {
    if (p !== undefined) {
      if ((p.state & WHOLE) !== 0) throw new TypeError(`rcv: port ${portId} has an async mailbox; it receives all untagged messages`);
      p.cb = args[0] as Callback;
    }
    return portId;
  }
  if (args.length === 0) throw new TypeError("rcv: expected a callback, or tag/callback pairs");
  for (let i = 0; i < args.length; i += 2) {
    const tag = args[i];
    const cb = args[i + 1];
    if (typeof tag !== "string") throw argumentError("rcv", "tag", "a string", tag);
    if (cb !== undefined && cb !== null && typeof cb !== "function") throw argumentError("rcv", `callback for tag '${tag}'`, "a function, or undefined to remove it", cb);
    if (p === undefined) continue;
    if (typeof cb === "function") p.tags = withTag(p.tags, tag, cb as Callback);
    else if (p.tags !== null) p.tags = withoutTag(p.tags, tag);
  }
  return portId;
}

/** Ports with a Sink (async mailboxes), for introspection. */
let sinkCount = 0;

/**
 * Ports whose Sink may hold messages (state bit QUEUED): those a delivery left with
 * messages waiting, until introspection finds them empty. Introspection reads mailbox
 * depths from here without walking every port (a node may hold millions of idle
 * ports), and an idle async port costs nothing here.
 */
const queuedSinks = new Set<Port>();

/** Makes `sink` the port's whole-message receiver (used by async mailboxes). */
export function setSink(p: Port, sink: Sink): void {
  p.cb = sink;
  p.state |= WHOLE;
  sinkCount++;
}

function pushToSink(p: Port, msg: Message): void {
  const sink = p.cb as Sink;
  sink.push(msg, source);
  if ((p.state & QUEUED) === 0 && sink.size > 0) {
    p.state |= QUEUED;
    queuedSinks.add(p);
  }
}

/** The ports in `queuedSinks` whose Sink holds messages now; the others leave the set. */
function* sinksWithMessages(): Generator<[Port, number]> {
  for (const p of queuedSinks) {
    const messages = (p.cb as Sink).size;
    if (messages > 0) yield [p, messages];
    else {
      queuedSinks.delete(p);
      p.state &= ~QUEUED;
    }
  }
}

/** The port's Sink, if it has one. */
export function sinkOf(portId: string): Sink | undefined {
  const p = table.get(portId);
  return p !== undefined && (p.state & WHOLE) !== 0 ? (p.cb as Sink) : undefined;
}

/** How many async ports (ports with a Sink) there are and the messages waiting in all of them. */
export function mailboxTotals(): { ports: number; messages: number } {
  let messages = 0;
  for (const [, n] of sinksWithMessages()) messages += n;
  return { ports: sinkCount, messages };
}

/** The `limit` async ports with the most messages waiting, deepest first (empty ones left out). */
export function deepestMailboxes(limit: number): { port: string; messages: number }[] {
  const top: { port: string; messages: number }[] = [];
  if (limit < 1) return top;
  for (const [p, messages] of sinksWithMessages()) {
    if (top.length === limit && messages <= top[limit - 1].messages) continue;
    // Insertion into a short sorted list: one pass over the ports, however many.
    let i = top.length === limit ? limit - 1 : top.length;
    top[i] = { port: p.id, messages };
    for (; i > 0 && top[i - 1].messages < messages; i--) [top[i - 1], top[i]] = [top[i], top[i - 1]];
  }
  return top;
}

// ---- the run queue ---------------------------------------------------------------

/** Deliveries per batch before yielding to I/O. */
const BATCH = 16384;
/** Longest message queued element by element; a longer one is queued as its array. */
const INLINE = 6;
/** In place of an element count: the message follows as one array. */
const AS_ARRAY = -1;

/**
 * The run queue. Each entry is written into the ring as a few consecutive values, so
 * queueing a message allocates nothing of its own (a backlog of millions of messages
 * used to be millions of arrays for the GC to copy):
 * - `port, n, m0 .. m(n-1)`: a local message of at most INLINE elements;
 * - `port, AS_ARRAY, msg`: a longer local message, or one for a port with a Sink
 *   (which keeps the array);
 * - `REMOTE, port, msg, from`: a message from node `from` (its array as decoded);
 * - `null, job`: a function to run.
 */
const MIN_QUEUE = 1024;
const queue = new Ring(MIN_QUEUE);
/** Entries (deliveries and jobs) in the queue. */
let entries = 0;
let scheduled = false;

/** Marks a message from another node. Never alive, so the local path's liveness test skips it. */
const REMOTE = new Port("");
REMOTE.state = 0;

/** The node of the remote message being delivered now (null: a local one). */
let source: string | null = null;

function schedule(): void {
  scheduled = true;
  // Drains start in an empty async context, so an async port that happened to send
  // the first message does not leak its SELF into other ports' callbacks.
  portStorage.exit(scheduleDrain);
}

// The first batch runs as soon as the current code is done (a message costs no extra
// event-loop turn, which matters for round trips); later batches of a long backlog
// wait for setImmediate, so I/O gets its turn between them.
function scheduleDrain(): void {
  process.nextTick(drain);
}

function queued(): void {
  entries++;
  if (!scheduled) schedule();
}

function enqueueLocal(p: Port, msg: Message): void {
  const q = queue;
  const n = msg.length;
  q.push(p);
  if (n > INLINE || (p.state & WHOLE) !== 0) {
    q.push(AS_ARRAY);
    q.push(msg);
  } else {
    q.push(n);
    for (let i = 0; i < n; i++) q.push(msg[i]);
  }
  queued();
}

function enqueueRemote(p: Port, msg: Message, from: string): void {
  const q = queue;
  q.push(REMOTE);
  q.push(p);
  q.push(msg);
  q.push(from);
  queued();
}

/** Deliveries and jobs queued and not run yet (shutdown waits for none). */
export function runQueueLength(): number {
  return entries;
}

/** Runs `job` on the run queue, after everything already queued. */
export function defer(job: () => void): void {
  queue.push(null);
  queue.push(job);
  queued();
}
setDefer(defer);

function drain(): void {
  const q = queue;
  // Messages sent during the batch are delivered in it too (a ping-pong pair runs
  // without returning to the event loop), but never more than BATCH per turn.
  for (let budget = BATCH; entries > 0 && budget > 0; budget--) {
    entries--;
    const p = q.shift() as Port | null;
    if (p === null) runJob(q.shift() as () => void);
    else if (p === REMOTE) {
      const target = q.shift() as Port;
      const msg = q.shift() as Message;
      const from = q.shift() as string;
      if ((target.state & ALIVE) !== 0) {
        source = from;
        deliver(target, msg);
        source = null;
      }
    } else {
      const n = q.shift() as number;
      if (n !== AS_ARRAY) deliverInline(p, n);
      else {
        const msg = q.shift() as Message;
        if ((p.state & ALIVE) !== 0) deliver(p, msg);
      }
    }
  }
  if (entries > 0) {
    setImmediate(drain);
    return;
  }
  scheduled = false;
  // Growing the ring for a burst costs more than the burst's deliveries (fresh memory),
  // so the next burst reuses it: it is given back once it is found empty a second later.
  if (q.capacity > MIN_QUEUE && trimTimer === undefined) trimTimer = setTimeout(trimQueue, 1000).unref();
}

let trimTimer: NodeJS.Timeout | undefined;

function trimQueue(): void {
  trimTimer = undefined;
  if (entries === 0) queue.shrink();
}

function runJob(job: () => void): void {
  try {
    job();
  } catch (err) {
    logError(`aemp: internal job failed: ${errorText(err)}`);
  }
}

function deliver(p: Port, msg: Message): void {
  current = p.id;
  try {
    let result: unknown;
    const tags = p.tags;
    const cb = tags === null ? undefined : findTag(tags, msg[0]);
    if (cb !== undefined) result = callWithoutTag(cb, msg);
    else if (p.cb !== null) {
      if ((p.state & WHOLE) !== 0) pushToSink(p, msg);
      else result = callSpread(p.cb as Callback, msg);
    }
    else killPort(p, ["unhandled_message", `no callback found for message '${String(msg[0])}'`]);
    if (result !== undefined && isThenable(result)) watchPromise(p.id, result);
  } catch (err) {
    killPort(p, dieReason(err));
  }
  current = null;
}

/**
 * Delivers a message queued element by element (n <= INLINE), taking its elements out
 * of the ring first: the receiver may queue more, which may grow the ring. Tag
 * callbacks and default callbacks are called with the elements as they are; what is
 * rare (a Sink that came after the message was queued, no receiver at all) takes the
 * general path with the message rebuilt as an array.
 */
function deliverInline(p: Port, n: number): void {
  const q = queue;
  const m0 = n > 0 ? q.shift() : undefined;
  const m1 = n > 1 ? q.shift() : undefined;
  const m2 = n > 2 ? q.shift() : undefined;
  const m3 = n > 3 ? q.shift() : undefined;
  const m4 = n > 4 ? q.shift() : undefined;
  const m5 = n > 5 ? q.shift() : undefined;
  if ((p.state & ALIVE) === 0) return;
  const tags = p.tags;
  const tagCb = tags === null || n === 0 ? undefined : findTag(tags, m0);
  if (tagCb === undefined && (p.cb === null || (p.state & WHOLE) !== 0)) {
    deliver(p, [m0, m1, m2, m3, m4, m5].slice(0, n));
    return;
  }
  current = p.id;
  try {
    const result = tagCb !== undefined ? callTail(tagCb, n, m1, m2, m3, m4, m5) : callAll(p.cb as Callback, n, m0, m1, m2, m3, m4, m5);
    if (result !== undefined && isThenable(result)) watchPromise(p.id, result);
  } catch (err) {
    killPort(p, dieReason(err));
  }
  current = null;
}

/** `cb` with the n - 1 elements after the tag. */
function callTail(cb: Callback, n: number, m1: unknown, m2: unknown, m3: unknown, m4: unknown, m5: unknown): unknown {
  switch (n) {
    case 1: return cb();
    case 2: return cb(m1);
    case 3: return cb(m1, m2);
    case 4: return cb(m1, m2, m3);
    case 5: return cb(m1, m2, m3, m4);
    default: return cb(m1, m2, m3, m4, m5);
  }
}

/** `cb` with all n elements. */
function callAll(cb: Callback, n: number, m0: unknown, m1: unknown, m2: unknown, m3: unknown, m4: unknown, m5: unknown): unknown {
  switch (n) {
    case 0: return cb();
    case 1: return cb(m0);
    case 2: return cb(m0, m1);
    case 3: return cb(m0, m1, m2);
    case 4: return cb(m0, m1, m2, m3);
    case 5: return cb(m0, m1, m2, m3, m4);
    default: return cb(m0, m1, m2, m3, m4, m5);
  }
}

// Fixed-arity calls avoid allocating an argument array for the common short messages.
function callWithoutTag(cb: Callback, m: Message): unknown {
  switch (m.length) {
    case 1: return cb();
    case 2: return cb(m[1]);
    case 3: return cb(m[1], m[2]);
    case 4: return cb(m[1], m[2], m[3]);
    case 5: return cb(m[1], m[2], m[3], m[4]);
    default: return cb(...m.slice(1));
  }
}

function callSpread(cb: Callback, m: Message): unknown {
  switch (m.length) {
    case 0: return cb();
    case 1: return cb(m[0]);
    case 2: return cb(m[0], m[1]);
    case 3: return cb(m[0], m[1], m[2]);
    case 4: return cb(m[0], m[1], m[2], m[3]);
    default: return cb(...m);
  }
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as PromiseLike<unknown>).then === "function";
}

/** A callback returned a promise: a rejection is an exception in that port's context. */
function watchPromise(portId: string, promise: PromiseLike<unknown>): void {
  promise.then(undefined, (err: unknown) => kil(portId, ...dieReason(err)));
}

/** The kill reason for an exception: `["die", message]`, trailing newline stripped. */
export function dieReason(err: unknown): unknown[] {
  return ["die", errorText(err).replace(/\n$/, "")];
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

// ---- sending ---------------------------------------------------------------------

/**
 * Sends a message to a port, local or remote. Never runs the receiver inside `snd`:
 * local messages go through the run queue, in send order. A message for a dead or
 * unknown local port is dropped silently. A node ID without `#` names that node's
 * node port, as in AEMP (`snd(node, "devnull")` is `snd(node + "#", "devnull")`). To a
 * typed port only its messages compile.
 */
export function snd<P extends string>(port: P, ...msg: MessageOf<P>): void;
export function snd(portId: string, ...msg: Message): void {
  const p = table.get(portId);
  if (p !== undefined) {
    if (isTracing()) traceLocal(portId, msg);
    enqueueLocal(p, msg);
    return;
  }
  sendElsewhere(portId, msg);
}

function sendElsewhere(portId: string, msg: Message): void {
  if (typeof portId !== "string" || portId === "" || portId.charCodeAt(0) === 0x23) throw argumentError("snd", "port", "a port ID (node#name) or a node ID", portId);
  const hash = portId.indexOf("#");
  const nodeId = hash < 0 ? portId : portId.slice(0, hash);
  if (nodeId === NODE()) {
    // Our own node port: its requests run on the run queue, like any local message.
    if (hash < 0 || hash === portId.length - 1) {
      if (isTracing()) traceLocal(portId, msg);
      defer(() => nodePort(NODE(), msg));
    }
    return; // a dead or unknown local port: silently dropped, as in AEMP
  }
  currentRouter().send(nodeId, hash < 0 ? `${portId}#` : portId, msg);
}

/** A local send as a trace line: `SND node <- [portname, ...]`, like a packet. */
function traceLocal(portId: string, msg: Message): void {
  const hash = portId.indexOf("#");
  trace("SND", NODE(), [hash < 0 ? "" : portId.slice(hash + 1), ...msg]);
}

type NodePortHandler = (from: string, msg: Message) => void;
let nodePort: NodePortHandler = () => {};

/** Installs what runs a request sent to our own node port (kernel/node-port.ts). */
export function setNodePortHandler(handler: NodePortHandler): void {
  nodePort = handler;
}

/**
 * Delivers a message that came from node `from` (off the network, or relayed by its
 * `snd` request) to a local port (by full ID); `SRCNODE()` says `from` while it is
 * handled. A port with a schema gets it only if it passes (see schema.ts).
 */
export function deliverLocal(portId: string, msg: Message, from: string): void {
  const p = table.get(portId);
  if (p === undefined) return;
  if ((p.state & VALIDATED) !== 0) {
    const checked = admit(p, msg, from);
    if (checked === null) return;
    msg = checked;
  }
  enqueueRemote(p, msg, from);
}

/** The message as the port's schema outputs it, or null when it failed (dropped or killing). */
function admit(p: Port, msg: Message, from: string): Message | null {
  const validator = validators.get(p)!;
  const result = validator.check(msg);
  if (result.ok) return result.msg;
  // On the run queue, so what was queued before the bad message is delivered first.
  if (validator.onInvalid === "kill") defer(() => killPort(p, ["invalid_message", result.text]));
  else validator.reportDropped(result.text, from);
  return null;
}

// ---- killing ---------------------------------------------------------------------

const pendingKills: [Port, unknown[]][] = [];
let killing = false;

/**
 * Kills a port. No reason is a normal kill; any reason is abnormal (linked ports, i.e.
 * `mon(port, otherPort)`, die with it). Killing a dead or unknown port is fine.
 */
export function kil(portId: string, ...reason: unknown[]): void {
  const p = table.get(portId);
  if (p !== undefined) {
    killPort(p, reason);
    return;
  }
  if (typeof portId !== "string" || portId.indexOf("#") < 0) throw argumentError("kil", "port", "a port ID string (node#name)", portId);
  const nodeId = nodeOf(portId);
  if (nodeId !== NODE()) currentRouter().kill(nodeId, portId, reason);
}

function killPort(p: Port, reason: unknown[]): void {
  pendingKills.push([p, reason]);
  if (killing) return;
  killing = true;
  try {
    for (let i = 0; i < pendingKills.length; i++) finishPort(pendingKills[i][0], pendingKills[i][1]);
  } finally {
    pendingKills.length = 0;
    killing = false;
  }
}

function finishPort(p: Port, reason: unknown[]): void {
  if ((p.state & ALIVE) === 0) return;
  const state = p.state;
  const sink = (state & WHOLE) !== 0 ? (p.cb as Sink) : null;
  p.state = 0;
  table.delete(p.id);
  p.tags = null;
  p.cb = null;
  if (sink !== null) {
    sinkCount--;
    if ((state & QUEUED) !== 0) queuedSinks.delete(p);
    sink.kill(reason);
  }
  const mons = p.mons;
  p.mons = null;
  let watched = false;
  if (mons !== null) {
    for (const action of mons) {
      if (action[INTERNAL] !== true) watched = true;
      try {
        action(reason);
      } catch (err) {
        logError(`monitor of ${p.id} threw (monitor callbacks must not throw): ${errorText(err)}`);
      }
    }
  }
  if (!watched && reason.length > 0) {
    logError(`unmonitored local port ${p.id} died with reason: ${reason.map(describeValue).join(" ")}`);
  }
}

function describeValue(v: unknown): string {
  if (typeof v === "string") return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/**
 * Adds a monitor action to a live local port. Returns a function that removes it, or
 * null if the port does not exist (the caller reports `no_such_port`).
 */
export function monitorLocal(portId: string, action: MonitorAction, internal = false): (() => void) | null {
  const p = table.get(portId);
  if (p === undefined) return null;
  const a: Action = internal ? Object.assign((r: unknown[]) => action(r), { [INTERNAL]: true as const }) : action;
  (p.mons ??= new Set()).add(a);
  return () => {
    p.mons?.delete(a);
  };
}

/**
 * The port's AbortSignal: aborts (with a `PortKilledError`) when the port dies.
 * Created on first use and cached, so ports that never ask pay nothing.
 */
export function localSignal(portId: string): AbortSignal | undefined {
  const p = table.get(portId);
  if (p === undefined) return undefined;
  let ctl = signals.get(p);
  if (ctl === undefined) {
    const c = (ctl = new AbortController());
    signals.set(p, c);
    monitorLocal(portId, (reason) => c.abort(new PortKilledError(portId, reason)), true);
  }
  return ctl.signal;
}
const signals = new WeakMap<Port, AbortController>();

// ---- running code in port context -------------------------------------------------

/**
 * Runs `fn(...args)` with `SELF()` set to `port` and returns its result. An exception
 * (or the rejection of a returned promise) kills the port with `["die", message]`;
 * then `peval` returns undefined.
 */
export function peval<A extends unknown[], R>(portId: string, fn: (...args: A) => R, ...args: A): R | undefined {
  if (typeof portId !== "string" || portId.indexOf("#") < 0) throw argumentError("peval", "port", "a port ID string (node#name)", portId);
  if (typeof fn !== "function") throw argumentError("peval", "fn", "a function", fn);
  const previous = current;
  current = portId;
  try {
    const result = fn(...args);
    if (result !== undefined && isThenable(result)) watchPromise(portId, result);
    return result;
  } catch (err) {
    kil(portId, ...dieReason(err));
    return undefined;
  } finally {
    current = previous;
  }
}

/**
 * Wraps `fn` so that, whenever it is called later (a timer, an event emitter), it runs
 * in the port context that was current when `psub` was called.
 */
export function psub<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R | undefined {
  if (typeof fn !== "function") throw argumentError("psub", "fn", "a function", fn);
  const self = currentPort();
  if (self === undefined) throw new PortContextError("psub called outside port context");
  return (...args: A) => peval(self, fn, ...args);
}

/** Whether `portId` is the ID of a live local port. */
export function isLivePort(portId: string): boolean {
  return table.has(portId);
}
