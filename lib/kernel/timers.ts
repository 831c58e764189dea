/**
 * Time-based helpers: `after` and `cal` (AEMP's simple RPC).
 *
 * Times are seconds, fractional allowed. Callbacks given to these run in the port
 * context of whoever called them (as if wrapped in `psub`), so an exception kills the
 * caller's port instead of escaping to the event loop; outside any port context it is
 * logged as an error.
 */
import { argumentError } from "../errors.ts";
import { error as logError } from "../log.ts";
import { type Guard, guard } from "./guard.ts";
import { isPortId } from "./ids.ts";
import { type Callback, currentPort, defer, isThenable, kil, peval, port, snd } from "./ports.ts";
import { monitor } from "./mon.ts";
import type { Message, MessageOf, ReplyOf, RequestOf, RequestRest, TagOf, TypedOnly, UntypedOnly } from "./types.ts";

/** Validates a time in seconds and returns milliseconds. */
export function secondsToMs(fn: string, param: string, seconds: unknown): number {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
    throw argumentError(fn, param, "a finite number of seconds >= 0", seconds);
  }
  return seconds * 1000;
}

/** Runs `cb(...args)` in `self`'s context if there is one; otherwise logs what it throws. */
function callAs(self: string | undefined, cb: Callback, args: unknown[]): void {
  if (self !== undefined) {
    peval(self, cb, ...args);
    return;
  }
  try {
    const r = cb(...args);
    if (isThenable(r)) r.then(undefined, (err: unknown) => logError(`callback failed: ${String(err)}`));
  } catch (err) {
    logError(`callback failed outside port context: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * After `seconds`, either calls `cb` or sends `msg` (whose first element is the port).
 * Returns a guard that cancels it.
 */
export function after(seconds: number, cb: () => unknown): Guard;
export function after<P extends string>(seconds: number, port: P, ...msg: MessageOf<P>): Guard;
export function after(seconds: number, ...action: unknown[]): Guard {
  const ms = secondsToMs("after", "seconds", seconds);
  const [first] = action;
  let fire: () => void;
  if (typeof first === "function") {
    const self = currentPort();
    fire = () => callAs(self, first as Callback, []);
  } else if (isPortId(first)) {
    // Checked now: a bad port ID must throw here, not later inside a timer.
    fire = () => snd(first, ...action.slice(1));
  } else {
    throw argumentError("after", "second argument", "a callback or a port ID string", first);
  }
  const timer = setTimeout(fire, ms);
  return guard(() => clearTimeout(timer));
}

/**
 * Sends `[...msg, replyPort]` to `port` and calls `cb(...reply)` with the first message
 * that arrives on the temporary reply port, which is then killed. With `timeout`
 * (seconds), `cb()` is called with no arguments if no reply came in time. Without one,
 * the target is monitored instead: if it dies before replying, `cb()` is called with no
 * arguments. `cb` is called at most once. Returns the reply port.
 *
 * `cal(port, "ping", (reply) => ..., 5)`
 *
 * To a typed port whose requests end with a typed reply port
 * (`["ping", number, PortId<["pong", number]>]`), the request is checked and the reply
 * typed from that port: `cal(server, "ping", 1, (...reply) => ...)` gets
 * `["pong", number] | []`. For an untyped port, name the reply type: `cal<["pong"]>(...)`.
 * Reply types are not checked at run time (a reply from another node is what it is).
 */
export function cal<P extends string, T extends TagOf<RequestOf<MessageOf<P>>>>(
  port: P & TypedOnly<P>,
  tag: T,
  ...args: [...rest: RequestRest<MessageOf<P>, T>, cb: (...reply: ReplyOf<MessageOf<P>, T> | []) => void]
): string;
export function cal<P extends string, T extends TagOf<RequestOf<MessageOf<P>>>>(
  port: P & TypedOnly<P>,
  tag: T,
  ...args: [...rest: RequestRest<MessageOf<P>, T>, cb: (...reply: ReplyOf<MessageOf<P>, T> | []) => void, timeout: number | null | undefined]
): string;
export function cal<R extends Message = Message, P extends string = string>(
  port: P & UntypedOnly<P>,
  ...args: [...msg: unknown[], cb: (...reply: R | []) => void] | [...msg: unknown[], cb: (...reply: R | []) => void, timeout: number | null | undefined]
): string;
export function cal<P extends string>(port: P & UntypedOnly<P>, ...args: unknown[]): string;
export function cal(target: string, ...args: unknown[]): string {
  // A node ID without `#` is that node's node port, as for `snd`.
  if (typeof target !== "string" || target === "" || target.startsWith("#")) throw argumentError("cal", "port", "a port ID (node#name) or a node ID", target);
  let timeout: unknown;
  if (typeof args[args.length - 1] !== "function") timeout = args.pop();
  const cb = args.pop();
  if (typeof cb !== "function") throw argumentError("cal", "callback", "a function (before the optional timeout)", cb);
  const ms = timeout === undefined || timeout === null ? undefined : secondsToMs("cal", "timeout", timeout);
  const self = currentPort();
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  let watch: Guard | undefined;
  const finish = (reply: unknown[]): void => {
    if (done) return;
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    watch?.cancel();
    kil(replyPort);
    callAs(self, cb as Callback, reply);
  };
  const replyPort = port((...reply: unknown[]) => finish(reply));
  if (ms !== undefined) timer = setTimeout(() => finish([]), ms);
  // Deferred so a reply the target sent just before dying (already on the run queue)
  // is delivered first and wins over the "no reply" call.
  else watch = monitor(target, () => defer(() => finish([])));
  snd(target, ...args, replyPort);
  return replyPort;
}
