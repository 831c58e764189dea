/**
 * `syncal`: the awaitable form of `cal`.
 */
import type { Message } from "../kernel/ports.ts";
import { cal } from "../kernel/timers.ts";
import type { MessageOf, ReplyOf, RequestOf, RequestRest, TagOf, TypedOnly, UntypedOnly } from "../kernel/types.ts";

/**
 * Sends `[...msg, replyPort]` to `port` and resolves to the reply message, or to
 * `undefined` if no reply came within `timeout` seconds (or, without a timeout, if the
 * target died first). Works in and out of port context.
 *
 * `const reply = await syncal(5, server, "time");`
 *
 * To a typed port whose requests end with a typed reply port the request is checked
 * and the reply typed from it; for an untyped port name the reply type,
 * `syncal<["time", number]>(5, server, "time")`. Replies are not checked at run time.
 */
export function syncal<P extends string, T extends TagOf<RequestOf<MessageOf<P>>>>(
  timeout: number | undefined,
  port: P & TypedOnly<P>,
  tag: T,
  ...rest: RequestRest<MessageOf<P>, T>
): Promise<ReplyOf<MessageOf<P>, T> | undefined>;
export function syncal<R extends Message = Message, P extends string = string>(timeout: number | undefined, port: P & UntypedOnly<P>, ...msg: unknown[]): Promise<R | undefined>;
export function syncal(timeout: number | undefined, port: string, ...msg: unknown[]): Promise<Message | undefined> {
  return new Promise((resolve) => {
    cal(port, ...msg, (...reply: unknown[]) => resolve(reply.length > 0 ? reply : undefined), timeout);
  });
}
