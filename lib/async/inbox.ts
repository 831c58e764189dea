/**
 * The typed view of an async port's mailbox: `get`, `getCond` and `messages` with the
 * port's message type. Types only: at run time every async port's function gets the
 * same frozen object holding the plain functions (they find their mailbox through the
 * async context), so typing costs neither time nor memory.
 *
 * Waiting without a timeout can end only with a message (or a rejection when the port
 * is killed or the wait aborted), so those forms resolve to the message type itself;
 * with a timeout (or `{ timeout, signal }`) `undefined` is added.
 */
import type { Message, RestOf, TagOf } from "../kernel/types.ts";

/** How long to wait (seconds; 0 = only if already queued) and what can cancel it. */
export interface WaitOptions {
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** The wait argument of `get`/`getCond`: seconds, options, or nothing (for ever). */
export type Wait = number | WaitOptions | undefined;

/** `T`, or `T | undefined` when the wait `W` may time out. */
export type OrTimeout<T, W> = [W] extends [undefined] ? T : T | undefined;

/** What a predicate returns for "not this message". */
export type Falsy = false | 0 | "" | null | undefined;

/**
 * A function a switch-form predicate returns; it is called with the message the
 * predicate accepted. A method type, so it may declare the narrower message type the
 * predicate made sure of (`([, , n]: Written) => n`).
 */
export type SwitchCase<M> = { bivarianceHack(msg: M): unknown }["bivarianceHack"];

/** The awaited result of the function(s) a switch-form predicate returns. */
export type SwitchResult<F> = F extends (msg: never) => infer R ? Awaited<R> : never;

/** The mailbox as an async iterator (one reader; `break` releases it). */
export type MessageIterator<T> = AsyncIterableIterator<T> & AsyncDisposable;

/** `get`, `getCond` and `messages` for a port that accepts the messages `M`. */
export interface Inbox<M extends Message = Message> {
  /**
   * The first queued message tagged `tag`, without its tag; `undefined` if `wait`
   * (seconds, or `{ timeout, signal }`) ran out first. Costs the same however many other
   * messages wait. On a typed port only its tags are accepted.
   *
   * `const [reply, text] = await get("echo");`
   */
  get<T extends TagOf<M>, W extends Wait = undefined>(tag: T, wait?: W): Promise<OrTimeout<RestOf<M, T>, W>>;
  /**
   * Selective receive: the first message (whole, tag included) for which `pred` returns
   * something truthy; a type-guard predicate narrows the result to the guarded messages.
   */
  getCond<G extends M, W extends Wait = undefined>(pred: (msg: M) => msg is G, wait?: W): Promise<OrTimeout<G, W>>;
  /**
   * Switch form: when `pred` returns a function, that function is called with the
   * message and `getCond` resolves to its (awaited) result:
   *
   * ```ts
   * const more = await getCond((m) => {
   *   if (m[0] === "data") return ([, chunk]) => write(chunk);
   *   if (m[0] === "close") return () => false;
   *   throw new Error(`unexpected message ${m[0]}`);
   * }, 5);
   * ```
   */
  getCond<F extends SwitchCase<M>, W extends Wait = undefined>(pred: (msg: M) => F | Falsy, wait?: W): Promise<OrTimeout<SwitchResult<F>, W>>;
  /** The switch form with its result type named (`getCond<Outcome>(pred, 5)`); may time out. */
  getCond<R>(pred: (msg: M) => ((msg: M) => R) | Falsy, wait?: Wait): Promise<Awaited<R> | undefined>;
  /** The first message for which `pred` is truthy; without `pred`, the next message. */
  getCond<W extends Wait = undefined>(pred?: ((msg: M) => unknown) | undefined, wait?: W): Promise<OrTimeout<M, W>>;
  /**
   * The mailbox as an async iterator, for `for await (const msg of messages())`. With a
   * tag, yields only those messages, without the tag (like `get`). One reader at a
   * time; `break` releases it. Ends by throwing `PortKilledError` when the port dies.
   */
  messages(): MessageIterator<M>;
  messages<T extends TagOf<M>>(tag: T): MessageIterator<RestOf<M, T>>;
}
