/**
 * Small helpers shared by the specs (kernel, async ports, network).
 *
 * uvu has no per-test timeout and its `assert.throws` is synchronous, so specs wait
 * for events with these instead of sleeping:
 * - `deferred()` : a promise with its resolve/reject exposed, to be settled by a callback.
 * - `waitFor(p, ms, what)` : `p` (or `p()`), rejecting with a clear message after `ms`.
 * - `latch(n, ms, what)` : "wait until n things happened", with a deadline.
 * - `rejects(p, matcher)` / `throwsSync(fn, matcher)` : the error, checked, or a failure.
 * - `captureLog()` : every log record written while it is active (lib/log.ts `onLog`).
 * - `flushRunQueue()` : resolves once every delivery queued before the call has run.
 * - `portDeath(p, ms)` : the kill reason of port `p` (empty for a normal kill).
 * - `activeTimers()` : live Node timers, to check that nothing was left behind.
 *
 * A timeout error is created when the wait starts, so its stack points at the spec line
 * that waited, not at a timer.
 */
import { onLog, type LogRecord } from "../lib/log.ts";
import { kil, port, snd } from "../lib/kernel/ports.ts";
import { mon } from "../lib/kernel/mon.ts";

/** Default deadline for one awaited event in a spec, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 2000;

/** A wait that did not see its event before the deadline. */
export class SpecTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpecTimeoutError";
  }
}

// ---- deferred ----------------------------------------------------------------------

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
  /** Whether resolve or reject has been called. */
  readonly settled: boolean;
}

/** A promise plus the functions that settle it. Settling twice is ignored. */
export function deferred<T = void>(): Deferred<T> {
  let res!: (value: T) => void;
  let rej!: (reason: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    res = resolve;
    rej = reject;
  });
  let settled = false;
  return {
    promise,
    resolve(value: T) {
      settled = true;
      res(value);
    },
    reject(reason: unknown) {
      settled = true;
      rej(reason);
    },
    get settled() {
      return settled;
    },
  };
}

// ---- waiting with a deadline ------------------------------------------------------------

/**
 * Waits for `what` (a promise, or a function returning one) and rejects with a
 * `SpecTimeoutError` naming `label` if it has not settled within `ms` milliseconds.
 *
 * `const reason = await waitFor(died.promise, 1000, "monitor of p");`
 */
export function waitFor<T>(what: PromiseLike<T> | (() => PromiseLike<T>), ms = DEFAULT_TIMEOUT_MS, label = "event"): Promise<T> {
  const timeoutError = new SpecTimeoutError(`timed out after ${ms} ms waiting for ${label}`);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeoutError), ms);
    let p: PromiseLike<T>;
    try {
      p = typeof what === "function" ? what() : what;
    } catch (err) {
      clearTimeout(timer);
      reject(err);
      return;
    }
    Promise.resolve(p).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

// ---- countdown latch ----------------------------------------------------------------

export interface Latch {
  /** Counts one event; the latch opens when `n` have been counted. */
  countDown(): void;
  /** Events still expected (0 once open; never negative). */
  readonly remaining: number;
  /** Every `countDown()` call so far, including any beyond `n` (to assert "exactly n"). */
  readonly calls: number;
  /** Resolves when open; rejects with a `SpecTimeoutError` `ms` after `wait()` was called. */
  wait(): Promise<void>;
}

/**
 * A countdown latch with a deadline, for "wait until n things happened".
 *
 * `const l = latch(3, 1000, "three replies"); ...; await l.wait();`
 */
export function latch(n: number, ms = DEFAULT_TIMEOUT_MS, label = `${n} events`): Latch {
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`latch: 'n' must be an integer >= 0, received ${n}`);
  const open = deferred<void>();
  let calls = 0;
  if (n === 0) open.resolve();
  return {
    countDown() {
      calls++;
      if (calls === n) open.resolve();
    },
    get remaining() {
      return Math.max(0, n - calls);
    },
    get calls() {
      return calls;
    },
    wait() {
      const timeoutError = new SpecTimeoutError("");
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          timeoutError.message = `timed out after ${ms} ms waiting for ${label}: ${Math.max(0, n - calls)} of ${n} still missing`;
          reject(timeoutError);
        }, ms);
        void open.promise.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

// ---- errors -----------------------------------------------------------------------

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ErrorClass = abstract new (...args: any[]) => Error;

/**
 * What an expected error must look like: a class (instanceof), a RegExp (tested on the
 * message), a predicate, or an object combining a class, a message pattern and a `code`.
 */
export type ErrorMatcher =
  | ErrorClass
  | RegExp
  | ((err: unknown) => boolean)
  | { instanceOf?: ErrorClass; message?: RegExp | string; code?: string };

function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `non-Error value ${String(err)}`;
}

function isClass(m: unknown): m is ErrorClass {
  return typeof m === "function" && (m === Error || m.prototype instanceof Error);
}

function check(err: unknown, matcher: ErrorMatcher | undefined, context: string): void {
  if (matcher === undefined) return;
  let ok: boolean;
  let expected: string;
  if (isClass(matcher)) {
    ok = err instanceof matcher;
    expected = `an instance of ${matcher.name}`;
  } else if (matcher instanceof RegExp) {
    ok = err instanceof Error && matcher.test(err.message);
    expected = `an error whose message matches ${matcher}`;
  } else if (typeof matcher === "function") {
    ok = matcher(err) === true;
    expected = "an error accepted by the predicate";
  } else {
    const parts: string[] = [];
    ok = true;
    if (matcher.instanceOf !== undefined) {
      ok &&= err instanceof matcher.instanceOf;
      parts.push(`an instance of ${matcher.instanceOf.name}`);
    }
    if (matcher.message !== undefined) {
      const msg = err instanceof Error ? err.message : "";
      ok &&= typeof matcher.message === "string" ? msg.includes(matcher.message) : matcher.message.test(msg);
      parts.push(`message ${typeof matcher.message === "string" ? `containing "${matcher.message}"` : `matching ${matcher.message}`}`);
    }
    if (matcher.code !== undefined) {
      ok &&= (err as { code?: unknown } | null)?.code === matcher.code;
      parts.push(`code ${matcher.code}`);
    }
    expected = parts.join(", ");
  }
  if (!ok) throw new Error(`${context}: expected ${expected}, got ${describeError(err)}`, { cause: err });
}

/**
 * Awaits `what` (a promise, or a function returning or throwing) and returns the error
 * it rejects with, after checking it against `matcher`. Fails if it resolves, or if it
 * has not settled within `ms`.
 *
 * `const err = await rejects(() => get("x"), { instanceOf: PortKilledError });`
 */
export async function rejects(what: PromiseLike<unknown> | (() => unknown), matcher?: ErrorMatcher, ms = DEFAULT_TIMEOUT_MS): Promise<unknown> {
  let value: unknown;
  try {
    value = await waitFor(() => Promise.resolve(typeof what === "function" ? what() : what), ms, "a rejection");
  } catch (err) {
    if (err instanceof SpecTimeoutError) throw err;
    check(err, matcher, "rejects");
    return err;
  }
  throw new Error(`rejects: expected a rejection, but it resolved with ${String(value)}`);
}

/** Calls `fn`, which must throw synchronously; checks and returns the error. */
export function throwsSync(fn: () => unknown, matcher?: ErrorMatcher): unknown {
  let value: unknown;
  try {
    value = fn();
  } catch (err) {
    check(err, matcher, "throwsSync");
    return err;
  }
  throw new Error(`throwsSync: expected an exception, but it returned ${String(value)}`);
}

// ---- log capture --------------------------------------------------------------------

export interface LogCapture {
  readonly records: LogRecord[];
  /** Texts of the records at `level` or more severe (lower number); all by default. */
  texts(level?: number): string[];
  /**
   * Resolves with the first record (already captured or still to come) whose text
   * contains `match` (a string), matches it (a RegExp) or passes it (a predicate);
   * rejects with a `SpecTimeoutError` after `ms`.
   */
  until(match: string | RegExp | ((r: LogRecord) => boolean), ms?: number): Promise<LogRecord>;
  stop(): void;
  [Symbol.dispose](): void;
}

/** Records every log record (at the current log level) until `stop()`; `using` works. */
export function captureLog(): LogCapture {
  const records: LogRecord[] = [];
  const waiters = new Set<(r: LogRecord) => void>();
  const remove = onLog((r) => {
    records.push(r);
    for (const w of waiters) w(r);
  });
  return {
    records,
    texts(level = 9) {
      return records.filter((r) => r.level <= level).map((r) => r.text);
    },
    until(match, ms = DEFAULT_TIMEOUT_MS) {
      const test =
        typeof match === "string" ? (r: LogRecord) => r.text.includes(match)
        : match instanceof RegExp ? (r: LogRecord) => match.test(r.text)
        : match;
      const found = records.find(test);
      if (found !== undefined) return Promise.resolve(found);
      const d = deferred<LogRecord>();
      const waiter = (r: LogRecord): void => {
        if (test(r)) d.resolve(r);
      };
      waiters.add(waiter);
      return waitFor(d.promise, ms, `a log record matching ${String(match)}`).finally(() => waiters.delete(waiter));
    },
    stop() {
      remove();
    },
    [Symbol.dispose]() {
      remove();
    },
  };
}

// ---- the kernel's run queue ---------------------------------------------------------------

/**
 * Resolves once the kernel's run queue has delivered everything queued before this
 * call (deliveries, deferred monitor notifications, spawn inits): it sends a probe
 * message and waits for it, and the queue is first in, first out. Work queued by those
 * deliveries themselves may still be pending; call it again to get past that too.
 */
export function flushRunQueue(ms = DEFAULT_TIMEOUT_MS): Promise<void> {
  const seen = deferred<void>();
  const probe = port(() => {
    kil(probe);
    seen.resolve();
  });
  snd(probe, "flush");
  return waitFor(seen.promise, ms, "the run queue to drain");
}

// ---- ports and leftovers -------------------------------------------------------------

/**
 * Monitors `p` now and resolves with its kill reason (empty for a normal kill);
 * rejects with a `SpecTimeoutError` if it has not died within `ms`.
 *
 * `const reason = portDeath(p); kil(p, "boom"); assert.equal(await reason, ["boom"]);`
 */
export function portDeath(p: string, ms = DEFAULT_TIMEOUT_MS): Promise<unknown[]> {
  const d = deferred<unknown[]>();
  mon(p, (...reason: unknown[]) => d.resolve(reason));
  return waitFor(d.promise, ms, `death of port ${p}`);
}

/** Number of live Node timers (`setTimeout`/`setInterval` not yet fired or cleared). */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((x) => x === "Timeout").length;
}
