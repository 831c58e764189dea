/**
 * Time-based helpers: `after` and `cal` (AEMP's simple RPC), and `timer`, the one
 * timeout every module of aemp sets its timers with.
 *
 * Times are seconds, fractional allowed. Callbacks given to these run in the port
 * context of whoever called them (as if wrapped in `psub`), so an exception kills the
 * caller's port instead of escaping to the event loop; outside any port context it is
 * logged as an error.
 *
 * Node's `setTimeout` takes at most 2^31-1 ms (about 24.8 days): a longer delay fires at
 * once, with a `TimeoutOverflowWarning`. Delays here come from users (`after(1e10)`,
 * `get(tag, 1e10)`) and from the configuration (`monitor_timeout`), so `timer` waits
 * for a long delay in steps of that size, checking a monotonic clock, and fires once.
 */
import { argumentError } from "../errors.ts";
import { error as logError } from "../log.ts";
import { type Guard, guard } from "./guard.ts";
import { isPortId } from "./ids.ts";
import { type Callback, currentPort, defer, isThenable, kil, peval, port, snd } from "./ports.ts";
import { monitor } from "./mon.ts";
import type { Message, MessageOf, ReplyOf, RequestOf, RequestRest, TagOf, TypedOnly, UntypedOnly } from "./types.ts";

/** The longest delay `setTimeout` takes, in milliseconds. */
export const MAX_TIMER_STEP_MS = 2 ** 31 - 1;

/** A pending `timer`: `cancel()` stops it (twice is harmless); `unref()` lets the process exit meanwhile. */
export interface Timer {
  cancel(): void;
  unref(): Timer;
}

/**
 * Calls `fn` once after `seconds` (any finite delay >= 0), or, with `repeat`, every
 * `seconds` until cancelled. Every timer in lib/ goes through here, so no delay can
 * overflow Node's limit. `stepMs` is for specs: the longest single wait.
 */
export function timer(seconds: number, fn: () => void, options: { repeat?: boolean; stepMs?: number } = {}): Timer {
  const ms = Math.max(0, seconds * 1000);
  const step = options.stepMs ?? MAX_TIMER_STEP_MS;
  if (ms <= step) return new NodeTimer(options.repeat ? setInterval(fn, ms) : setTimeout(fn, ms));
  return new LongTimer(ms, fn, options.repeat === true, step);
}

class NodeTimer implements Timer {
  readonly #handle: NodeJS.Timeout;
  constructor(handle: NodeJS.Timeout) {
    this.#handle = handle;
  }
  cancel(): void {
    clearTimeout(this.#handle);
  }
  unref(): Timer {
    this.#handle.unref();
    return this;
  }
}

/** A delay longer than one `setTimeout`: waits in steps until the monotonic clock says it is due. */
class LongTimer implements Timer {
  #handle: NodeJS.Timeout | undefined;
  #due: number;
  #ref = true;
  constructor(
    private readonly ms: number,
    private readonly fn: () => void,
    private readonly repeat: boolean,
    private readonly step: number,
  ) {
    this.#due = performance.now() + ms;
    this.#arm();
  }
  #arm(): void {
    const left = this.#due - performance.now();
    this.#handle = setTimeout(this.#tick, Math.max(1, Math.min(left, this.step)));
    if (!this.#ref) this.#handle.unref();
  }
  readonly #tick = (): void => {
    // setTimeout may wake a fraction of a millisecond before the monotonic clock agrees.
    if (this.#due - performance.now() >= 1) return this.#arm();
    if (this.repeat) {
      this.#due += this.ms;
      this.#arm();
    } else this.#handle = undefined;
    this.fn();
  };
  cancel(): void {
    if (this.#handle !== undefined) clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#due = Infinity;
  }
  unref(): Timer {
    this.#ref = false;
    this.#handle?.unref();
    return this;
  }
}

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
  const t = timer(ms / 1000, fire);
  return guard(() => t.cancel());
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
  let deadline: Timer | undefined;
  let watch: Guard | undefined;
  const finish = (reply: unknown[]): void => {
    if (done) return;
    done = true;
    deadline?.cancel();
    watch?.cancel();
    kil(replyPort);
    callAs(self, cb as Callback, reply);
  };
  const replyPort = port((...reply: unknown[]) => finish(reply));
  if (ms !== undefined) deadline = timer(ms / 1000, () => finish([]));
  // Deferred so a reply the target sent just before dying (already on the run queue)
  // is delivered first and wins over the "no reply" call.
  else watch = monitor(target, () => defer(() => finish([])));
  snd(target, ...args, replyPort);
  return replyPort;
}
