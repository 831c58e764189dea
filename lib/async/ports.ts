/**
 * Async ports, the Coro::MP analogue: a port whose code is a straight-line `async`
 * function that decides in which order it takes messages.
 *
 * - `portAsync(fn)` / `rcvAsync(port, fn)` attach a mailbox (it replaces the default
 *   receiver; tagged `rcv` callbacks still win) and run `fn` on the run queue, never
 *   before they return, with `SELF()` set through AsyncLocalStorage so it survives
 *   every `await`.
 * - `fn` returning kills the port normally, or with the returned array as the reason;
 *   throwing kills it with `["die", message]`. When the port is killed from outside,
 *   pending and later waits reject with `PortKilledError`, so `finally` blocks run.
 * - `get`/`getCond` find the mailbox through the async context, so they work only in
 *   the port's own function (or `pevalAsync` on that port).
 *
 * Times are seconds. A timeout of 0 means "only what is already queued"; no timeout
 * waits for ever. Every wait also takes an AbortSignal.
 *
 * Typed: `portAsync<M>(fn)` (or with a schema, as `port` takes one) hands `fn` its port
 * as a `PortId<M>` and an `Inbox<M>`, the same `get`/`getCond`/`messages` typed for
 * `M` (lib/async/inbox.ts); the free functions are the untyped view of that object.
 */
import { PortContextError, argumentError } from "../errors.ts";
import { defer } from "../kernel/ports.ts";
import { type InferMessage, type MessageSchema, type PortOptions, isSchema } from "../kernel/schema.ts";
import type { IsUntyped, MessageOf, PortId } from "../kernel/types.ts";
import type { Inbox, WaitOptions } from "./inbox.ts";
import {
  type Message,
  type PortScope,
  dieReason,
  isThenable,
  kil,
  localPort,
  peval,
  port,
  portStorage,
  setSink,
  sinkOf,
  syncPort,
} from "../kernel/ports.ts";
import { secondsToMs, timer } from "../kernel/timers.ts";
import { Mailbox, type Verdict, type WaitExtras, Waiter, withoutTag } from "./mailbox.ts";

/**
 * The body of an async port: gets its port (typed `PortId<M>` for a typed port) and the
 * port's mailbox functions typed for `M`. Its result: an array becomes the kill reason.
 */
export type AsyncPortFn<M extends Message = Message> = (self: IsUntyped<M> extends true ? string : PortId<M>, inbox: Inbox<M>) => unknown;

/**
 * Creates a port with an async mailbox and runs `fn(SELF, inbox)` in its context.
 * Returns the port ID at once; `fn` starts on the run queue. `portAsync<M>(fn)` types
 * the port and the inbox; a schema (or `{ schema, onInvalid }`) first also validates
 * what other nodes send, as for `port`.
 *
 * ```ts
 * const echo = portAsync<["echo", PortId<["echoed", string]>, string]>(async (_self, { get }) => {
 *   for (;;) {
 *     const [reply, text] = await get("echo");
 *     snd(reply, "echoed", text);
 *   }
 * });
 * ```
 */
export function portAsync<S extends MessageSchema>(schema: S | PortOptions<S>, fn: AsyncPortFn<InferMessage<S>>): PortId<InferMessage<S>>;
export function portAsync(fn: AsyncPortFn): string;
export function portAsync<M extends Message>(fn: AsyncPortFn<M>): PortId<M>;
export function portAsync(first: unknown, second?: unknown): string {
  const withSchema = second !== undefined || isSchema(first);
  const fn = withSchema ? second : first;
  if (typeof fn !== "function") throw argumentError("portAsync", "fn", "a function", fn);
  const id = withSchema ? port(first as MessageSchema) : port();
  attach(id, fn as AsyncPortFn);
  return id;
}

/**
 * Attaches an async mailbox to an existing local port and runs `fn(SELF, inbox)` in its
 * context. Once per port; the mailbox replaces the default receiver.
 */
export function rcvAsync<P extends string>(port: P, fn: AsyncPortFn<MessageOf<P>>): P;
export function rcvAsync(portId: string, fn: AsyncPortFn): string {
  if (typeof fn !== "function") throw argumentError("rcvAsync", "fn", "a function", fn);
  if (typeof portId !== "string" || localPort(portId) === undefined) {
    throw argumentError("rcvAsync", "port", "a live local port ID", portId);
  }
  if (sinkOf(portId) !== undefined) throw new TypeError(`rcvAsync: port ${portId} already has an async mailbox`);
  attach(portId, fn);
  return portId;
}

function attach(id: string, fn: AsyncPortFn): void {
  // The mailbox is the port's sink (it hears of the port's death first) and the scope
  // that AsyncLocalStorage carries across `await`: one object per async port.
  const box = new Mailbox(id);
  setSink(localPort(id)!, box);
  defer(() => {
    if (!box.dead) portStorage.run(box, runBody, box, fn);
  });
}

function runBody(box: Mailbox, fn: AsyncPortFn): void {
  let result: unknown;
  try {
    result = fn(box.id, inbox);
  } catch (err) {
    kil(box.id, ...dieReason(err));
    return;
  }
  // Shared handlers find their port through the async context the reaction inherits
  // from this call, so a waiting port holds no closures of its own for them.
  if (isThenable(result)) result.then(bodyReturned, bodyThrew);
  else finish(box.id, result);
}

function bodyReturned(value: unknown): void {
  finish(portStorage.getStore()!.id, value);
}

function bodyThrew(err: unknown): void {
  kil(portStorage.getStore()!.id, ...dieReason(err));
}

/**
 * The port's function has returned. Killing a port that is already dead (e.g. the
 * function ended on the PortKilledError of its own pending get) is a no-op, so only
 * real failures become "die".
 */
function finish(id: string, result: unknown): void {
  kil(id, ...(Array.isArray(result) ? result : []));
}

/**
 * Runs async `fn` in the context of `port` (SELF set across `await`); an exception or
 * rejection kills the port with `["die", message]` and resolves to undefined. If the
 * port has a mailbox, `fn` may use `get`/`getCond`.
 */
export async function pevalAsync<R>(portId: string, fn: () => R | Promise<R>): Promise<R | undefined> {
  if (typeof portId !== "string" || portId.indexOf("#") < 0) throw argumentError("pevalAsync", "port", "a port ID string", portId);
  if (typeof fn !== "function") throw argumentError("pevalAsync", "fn", "a function", fn);
  const sink = sinkOf(portId);
  const scope: PortScope = sink instanceof Mailbox ? sink : { id: portId };
  try {
    // Through `peval` so the synchronous part also sees SELF() = portId, even when
    // called from another port's callback (whose SELF would otherwise win).
    return await portStorage.run(scope, () => peval(portId, fn));
  } catch (err) {
    kil(portId, ...dieReason(err));
    return undefined;
  }
}

/** The mailbox of the port whose async code is running. */
function currentBox(fn: string): Mailbox {
  const scope = portStorage.getStore();
  if (scope instanceof Mailbox) {
    const sync = syncPort();
    if (sync === null || sync === scope.id) return scope;
  }
  if (scope === undefined) {
    throw new PortContextError(`${fn}() must be called from an async port's own function (portAsync, rcvAsync or pevalAsync)`);
  }
  throw new PortContextError(`${fn}(): port ${syncPort() ?? scope.id} has no async mailbox (create it with portAsync or rcvAsync)`);
}

interface ParsedWait {
  ms: number | undefined;
  signal: AbortSignal | undefined;
}

/** No timeout, no signal: shared, so the common `get(tag)` allocates nothing for it. */
const FOREVER: ParsedWait = Object.freeze({ ms: undefined, signal: undefined });

/**
 * Checks the wait argument. Done before looking at the queue, so a bad argument or an
 * already-aborted signal fails the call even when a matching message is queued (and
 * leaves that message queued).
 */
function waitOptions(fn: string, wait: number | WaitOptions | undefined): ParsedWait {
  if (wait === undefined || wait === null) return FOREVER;
  if (typeof wait === "number") return { ms: secondsToMs(fn, "timeout", wait), signal: undefined };
  if (typeof wait !== "object") throw argumentError(fn, "timeout", "seconds or { timeout, signal }", wait);
  const ms = wait.timeout === undefined ? undefined : secondsToMs(fn, "timeout", wait.timeout);
  if (wait.signal !== undefined && !(wait.signal instanceof AbortSignal)) throw argumentError(fn, "signal", "an AbortSignal", wait.signal);
  return { ms, signal: wait.signal };
}

/**
 * Queues a waiter with its timeout and abort signal; resolves undefined on timeout.
 * With a tag it resolves to the message without the tag, else to [message, verdict].
 */
function wait(box: Mailbox, match: string | ((msg: Message) => Verdict), ms: number | undefined, signal: AbortSignal | undefined): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const w = new Waiter(match, resolve, reject);
    if (signal !== undefined || ms !== undefined) {
      const x: WaitExtras = (w.extras = { timer: undefined, signal, onAbort: undefined });
      if (signal !== undefined) {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        x.onAbort = () => {
          box.removeWaiter(w);
          w.fail(signal.reason);
        };
        signal.addEventListener("abort", x.onAbort, { once: true });
      }
      if (ms !== undefined) {
        x.timer = timer(ms / 1000, () => {
          box.removeWaiter(w);
          w.settle(undefined);
        });
      }
    }
    box.addWaiter(w);
  });
}

/** `get`: the first queued message tagged `tag`, without its tag (`undefined` on timeout). */
function getTagged(tag: string, wait?: number | WaitOptions): Promise<Message | undefined> {
  const box = currentBox("get");
  if (typeof tag !== "string") return Promise.reject(argumentError("get", "tag", "a string", tag));
  if (box.dead) return Promise.reject(box.death);
  let opts = FOREVER;
  if (wait !== undefined) {
    try {
      opts = waitOptions("get", wait);
    } catch (err) {
      return Promise.reject(err);
    }
    if (opts.signal !== undefined && opts.signal.aborted) return Promise.reject(opts.signal.reason);
  }
  const queued = box.takeTag(tag);
  if (queued !== undefined) return Promise.resolve(withoutTag(queued));
  return waitFor(box, tag, opts) as Promise<Message | undefined>;
}

function waitFor(box: Mailbox, match: string | ((msg: Message) => Verdict), opts: ParsedWait): Promise<unknown> {
  if (opts.ms === 0) return Promise.resolve(undefined);
  return wait(box, match, opts.ms, opts.signal);
}

/**
 * `getCond`: the first message (whole) for which `pred` returns something truthy (the
 * result of the function it returned, in the switch form); no predicate takes the next
 * message; `undefined` on timeout.
 */
function getMatching(pred?: (msg: Message) => unknown, wait?: number | WaitOptions): Promise<unknown> {
  const box = currentBox("getCond");
  if (pred !== undefined && pred !== null && typeof pred !== "function") return Promise.reject(argumentError("getCond", "pred", "a function or undefined", pred));
  if (box.dead) return Promise.reject(box.death);
  let opts: ParsedWait;
  try {
    opts = waitOptions("getCond", wait);
  } catch (err) {
    return Promise.reject(err);
  }
  if (opts.signal !== undefined && opts.signal.aborted) return Promise.reject(opts.signal.reason);
  if (pred === undefined || pred === null) {
    const next = box.takeNext();
    if (next !== undefined) return Promise.resolve(next);
    return waitFor(box, acceptAll, opts).then(messageOf as (hit: unknown) => Message | undefined);
  }
  let hit: [Message, Verdict] | undefined;
  try {
    hit = box.takeFirst(pred);
  } catch (err) {
    return Promise.reject(err);
  }
  if (hit !== undefined) return Promise.resolve(hit).then(applyVerdict);
  return waitFor(box, pred, opts).then(applyVerdict as (hit: unknown) => unknown);
}

const acceptAll = (): true => true;

function messageOf(hit: [Message, Verdict] | undefined): Message | undefined {
  return hit === undefined ? undefined : hit[0];
}

function applyVerdict(hit: [Message, Verdict] | undefined): unknown {
  if (hit === undefined) return undefined;
  const [msg, verdict] = hit;
  return typeof verdict === "function" ? verdict(msg) : msg;
}

/** `messages`: the mailbox as an async iterator (one reader at a time). */
function iterate(tag?: string): AsyncIterableIterator<Message> & AsyncDisposable {
  const box = currentBox("messages");
  if (tag !== undefined && typeof tag !== "string") throw argumentError("messages", "tag", "a string or undefined", tag);
  if (box.reading) throw new Error(`messages(): port ${box.id} already has a reader; one iterator at a time`);
  box.reading = true;
  let open = true;
  const close = (): void => {
    if (open) {
      open = false;
      box.reading = false;
    }
  };
  const iterator: AsyncIterableIterator<Message> & AsyncDisposable = {
    async next(): Promise<IteratorResult<Message>> {
      if (!open) return { value: undefined, done: true };
      const msg = tag === undefined ? await getMatching() : await getTagged(tag);
      return { value: msg as Message, done: false };
    },
    async return(): Promise<IteratorResult<Message>> {
      close();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
    async [Symbol.asyncDispose]() {
      close();
    },
  };
  return iterator;
}

/**
 * The mailbox functions. Every async port's function gets this one frozen object as
 * its `inbox` (typed for its messages); the exported `get`, `getCond` and `messages`
 * are the same functions, untyped. They find the mailbox through the async context.
 */
const inbox = Object.freeze({ get: getTagged, getCond: getMatching, messages: iterate }) as Inbox;

/**
 * The first queued message tagged `tag`, without its tag; `undefined` on timeout. See
 * `Inbox.get`; inside a typed async port use the inbox its function gets.
 *
 * `const [port, path] = await get("write_file");`
 */
export const get: Inbox["get"] = inbox.get;

/** Selective receive; see `Inbox.getCond` (type guards narrow, the switch form types its result). */
export const getCond: Inbox["getCond"] = inbox.getCond;

/** The mailbox as an async iterator; see `Inbox.messages`. */
export const messages: Inbox["messages"] = inbox.messages;

/** The mailbox of a local async port, for introspection and tests. */
export function mailboxOf(portId: string): { readonly size: number; readonly pending: number } | undefined {
  const sink = sinkOf(portId);
  return sink instanceof Mailbox ? sink : undefined;
}
