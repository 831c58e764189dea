/**
 * The types that tie a port ID to the messages it accepts. Nothing here exists at run
 * time: a typed port ID is the same plain string `port()` always returned, so typing
 * costs nothing on the hot path and nothing changes on the wire.
 *
 * - `PortId<M>` brands a port ID string with `M`, the union of message tuples the port
 *   accepts (`["ping", number] | ["stop"]`). It is usable wherever a string is. The
 *   brand is a function of `M`, so a port that accepts more may stand in for one that
 *   accepts less, never the other way round.
 * - A plain string is an untyped port: anything may be sent to it, and callbacks get
 *   `unknown` arguments unless they declare their own parameter types. `asPort<M>(id)`
 *   turns one into a typed port explicitly.
 * - Tags are the first elements of the message tuples; `TagOf`/`RestOf` split a message
 *   type by tag the way `rcv(port, tag, cb)` and `get(tag)` split messages.
 */

/** A message: an array, by convention starting with a string tag. */
export type Message = unknown[];

declare const accepts: unique symbol;

/**
 * A port ID that accepts the messages `M` (a union of tuples). At run time it is the
 * plain string `node#name`, and it can be passed wherever a string is expected.
 *
 * ```ts
 * type Counter = ["add", number] | ["get", PortId<["total", number]>];
 * const counter: PortId<Counter> = port<Counter>();
 * ```
 */
export type PortId<M extends Message = Message> = string & { readonly [accepts]: (msg: M) => void };

/** The messages a port ID accepts: `M` for a `PortId<M>`, any message for a plain string. */
export type MessageOf<P> = [P] extends [PortId<infer M>] ? M : Message;

/** Whether `M` is the open message type of an untyped port (`unknown[]`). */
export type IsUntyped<M> = Message extends M ? true : false;

/**
 * `P & UntypedOnly<P>` accepts an untyped port and rejects a typed one: it keeps typed
 * ports out of the untyped overloads, so a wrong message to a typed port is an error
 * instead of falling through to "anything goes".
 */
export type UntypedOnly<P> = IsUntyped<MessageOf<P>> extends true ? unknown : MessageDoesNotMatchPort;

/** What a typed port is told when no typed overload took its message: the error names it. */
export interface MessageDoesNotMatchPort {
  readonly "the message does not match the typed port's message type": never;
}

/** `P & TypedOnly<P>` accepts a typed port only. */
export type TypedOnly<P> = IsUntyped<MessageOf<P>> extends true ? never : unknown;

/**
 * `...args: SpreadOnly<A>` accepts the spread of an array whose length is not known
 * (`f(...args)`) but not a written-out argument list, which a typed overload checks.
 */
export type SpreadOnly<A extends unknown[]> = number extends A["length"] ? A : never;

/**
 * A receiver for messages of unknown shape. Written as a method so that, as before
 * typed ports existed, a callback may declare the parameter types it expects
 * (`(n: number) => ...`) without a cast; its parameters are `unknown` otherwise.
 */
export type Callback = { bivarianceHack(...args: unknown[]): void }["bivarianceHack"];

/** The tags of a message type (its first elements that are strings); `string` for an untyped port. */
export type TagOf<M> = M extends [infer T, ...unknown[]]
  ? T extends string
    ? T
    : never
  : M extends unknown[]
    ? number extends M["length"]
      ? string
      : never
    : never;

/** What follows the tag in the messages of `M` tagged `T` (a union if several are). */
export type RestOf<M, T> = M extends [infer H, ...infer R]
  ? [Extract<T, H>] extends [never]
    ? never
    : R
  : M extends unknown[]
    ? number extends M["length"]
      ? unknown[]
      : never
    : never;

/** The default receiver of a port: the whole message. */
export type Receiver<M extends Message> = IsUntyped<M> extends true ? Callback : (...msg: M) => void;

/** A tag receiver: the message without its tag. */
export type TagReceiver<M extends Message, T> = IsUntyped<M> extends true ? Callback : (...rest: RestOf<M, T>) => void;

/** The tags of the port `P` (any string for an untyped port). */
export type PortTag<P> = TagOf<MessageOf<P>>;

/** `rcv`'s callback for tag `T` of port `P`, or undefined to remove it. */
export type TagCallback<P, T> = TagReceiver<MessageOf<P>, T> | undefined;

/**
 * The kill reasons aemp itself uses (see the README), plus `Own`: by default any other
 * non-empty reason, which is what `kil(port, ...reason)` may send. Give your own reasons
 * (`mon<["failure", string]>(port, cb)`) to get a closed union that narrows by tag.
 */
export type KillReason<Own extends unknown[] = [unknown, ...unknown[]]> =
  | NormalKill
  | ["die", string]
  | ["transport_error", string, string]
  | ["unhandled_message", string]
  | ["no_such_port", string, string]
  | ["invalid_message", string]
  | ["AnyEvent::MP::DataConn", string]
  | Own;

/** The reason of a normal kill: empty. */
export type NormalKill = [];

/** The requests of a port type: its messages that end with a reply port, without that port. */
export type RequestOf<M> = M extends [...infer Q, PortId<infer _R>] ? Q : never;

/** What follows the tag in the requests of `M` tagged `T`. */
export type RequestRest<M, T> = RestOf<RequestOf<M>, T>;

/** The reply a request tagged `T` to a port of `M` gets: the message type of its reply port. */
export type ReplyOf<M, T> = M extends [infer H, ...unknown[], PortId<infer R>] ? ([Extract<T, H>] extends [never] ? never : R) : never;
