/**
 * Monitoring: `mon` in its four forms, `monGuard`, and port AbortSignals.
 *
 * Every form reduces to one action called once with the kill reason:
 * - `mon(port, cb)`: `cb(...reason)`; an empty reason means a normal kill.
 * - `mon(port, other)`: kill `other` with the same reason, but only on an abnormal kill.
 * - `mon(port)`: the same with `other = SELF()`.
 * - `mon(port, other, ...msg)`: `snd(other, ...msg, ...reason)`, whatever the reason.
 * Monitoring a local port that no longer exists fires on the next turn of the run
 * queue (after `mon` returned its guard) with `no_such_port`. Monitoring a node ID
 * makes sure a link to it exists and fires when it fails.
 */
import { PortKilledError, argumentError } from "../errors.ts";
import { error as logError } from "../log.ts";
import { type Guard, emptyGuard, guard } from "./guard.ts";
import { NODE, nodeOf } from "./ids.ts";
import { SELF, defer, kil, localSignal, monitorLocal, snd } from "./ports.ts";
import { type MonitorAction, currentRouter } from "./remote.ts";
import type { KillReason } from "./types.ts";

/** Monitor `port`; kill `SELF()` if it dies abnormally. */
export function mon(port: string): Guard;
/**
 * Monitor `port`; call `cb(...reason)` when it dies (empty reason: normal kill). The
 * reason is one of aemp's own (`KillReason`) or any other; name the reasons your ports
 * die with (`mon<["failure", string]>(port, cb)`) to narrow them by tag.
 */
export function mon<Own extends unknown[] = [unknown, ...unknown[]]>(port: string, cb: (...reason: KillReason<Own>) => void): Guard;
/** Monitor `port`; kill `rcvPort` with the same reason if it dies abnormally. */
export function mon(port: string, rcvPort: string): Guard;
/** Monitor `port`; send `[...msg, ...reason]` to `rcvPort` when it dies. */
export function mon(port: string, rcvPort: string, ...msg: unknown[]): Guard;
export function mon(target: string, ...args: unknown[]): Guard {
  if (typeof target !== "string" || target === "") throw argumentError("mon", "port", "a port or node ID string", target);
  return monitor(target, actionFor(args));
}

function actionFor(args: unknown[]): MonitorAction {
  if (args.length === 0) return killOnAbnormal(SELF());
  const [first, ...rest] = args;
  if (typeof first === "function") {
    if (rest.length > 0) throw new TypeError("mon: a callback must be the last argument");
    return (reason) => {
      first(...reason);
    };
  }
  if (typeof first !== "string" || first.indexOf("#") < 0) {
    throw argumentError("mon", "second argument", "a callback or a port ID string", first);
  }
  if (rest.length === 0) return killOnAbnormal(first);
  return (reason) => snd(first, ...rest, ...reason);
}

function killOnAbnormal(other: string): MonitorAction {
  return (reason) => {
    if (reason.length > 0) kil(other, ...reason);
  };
}

/** Registers a one-shot action for a port or node; the guard cancels it. */
export function monitor(target: string, action: MonitorAction): Guard {
  const hash = target.indexOf("#");
  const nodeId = hash < 0 ? target : target.slice(0, hash);
  if (nodeId !== NODE()) {
    const cancel = currentRouter().monitor(nodeId, hash < 0 ? null : target, action);
    return guard(cancel);
  }
  if (hash < 0) return emptyGuard(); // our own node never fails while we run
  const remove = monitorLocal(target, action);
  if (remove !== null) return guard(remove);
  let live = true;
  defer(() => {
    if (live) action(["no_such_port", "cannot monitor nonexistent port", target]);
  });
  return guard(() => {
    live = false;
  });
}

/**
 * Keeps `values` alive for as long as `port` lives and releases them when it dies:
 * guards are cancelled, disposables disposed, timers and other things with `close()`
 * closed, functions called. The returned guard stops monitoring without releasing.
 * Use it to tie timers and watchers to a port's life.
 */
export function monGuard(port: string, ...values: unknown[]): Guard {
  if (typeof port !== "string") throw argumentError("monGuard", "port", "a port ID string", port);
  let held: unknown[] | null = values;
  const g = monitor(port, () => {
    const list = held;
    held = null;
    if (list !== null) for (const v of list) release(v);
  });
  return guard(() => {
    held = null;
    g.cancel();
  });
}

function release(value: unknown): void {
  try {
    if (typeof value === "function") value();
    else if (value !== null && typeof value === "object") {
      const v = value as { cancel?: () => void; close?: () => void; [Symbol.dispose]?: () => void };
      if (typeof v.cancel === "function") v.cancel();
      else if (typeof v[Symbol.dispose] === "function") v[Symbol.dispose]!();
      else if (typeof v.close === "function") v.close();
    }
  } catch (err) {
    logError(`monGuard: releasing a value failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * An AbortSignal that aborts, with a `PortKilledError` carrying the reason, when
 * `port` (default `SELF()`) dies. Hand it to fs, fetch or timers so their work stops
 * with the port. For a port that is already gone the signal is already aborted.
 */
export function portSignal(port: string = SELF()): AbortSignal {
  if (typeof port !== "string" || port.indexOf("#") < 0) throw argumentError("portSignal", "port", "a port ID string", port);
  const local = localSignal(port);
  if (local !== undefined) return local;
  if (nodeOf(port) === NODE()) return AbortSignal.abort(new PortKilledError(port, ["no_such_port", "cannot monitor nonexistent port", port]));
  const ctl = new AbortController();
  monitor(port, (reason) => ctl.abort(new PortKilledError(port, reason)));
  return ctl.signal;
}
