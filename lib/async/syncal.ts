/**
 * `syncal`: the awaitable form of `cal`.
 */
import type { Message } from "../kernel/ports.ts";
import { cal } from "../kernel/timers.ts";

/**
 * Sends `[...msg, replyPort]` to `port` and resolves to the reply message, or to
 * `undefined` if no reply came within `timeout` seconds (or, without a timeout, if the
 * target died first). Works in and out of port context.
 *
 * `const reply = await syncal(5, server, "time");`
 */
export function syncal(timeout: number | undefined, port: string, ...msg: unknown[]): Promise<Message | undefined> {
  return new Promise((resolve) => {
    cal(port, ...msg, (...reply: unknown[]) => resolve(reply.length > 0 ? reply : undefined), timeout);
  });
}
