/**
 * A recording monitor on one database backend (its `watch` with an `onStatus`
 * listener), for the Redis backend specs: every call is kept as a snapshot, every
 * status too, and a spec waits for the nth call or for the first call or status (seen
 * or still to come) that a predicate accepts, each with a deadline.
 */
import type { DbBackend, DbStatus } from "../lib/db/backend.ts";
import { SpecTimeoutError } from "./helpers.ts";

export interface MonCall {
  family: Record<string, unknown>;
  added: string[];
  changed: string[];
  deleted: string[];
}

export interface Recorder {
  readonly calls: MonCall[];
  readonly statuses: DbStatus[];
  /** The content as of the last call. */
  readonly latest: Record<string, unknown>;
  /** The nth call (1-based). */
  call(n: number, ms?: number): Promise<MonCall>;
  /** The first call that `pred` accepts, from the call numbered `from` (1-based) on. */
  until(pred: (c: MonCall) => boolean, ms?: number, label?: string, from?: number): Promise<MonCall>;
  /** The first status that `pred` accepts. */
  status(pred: (s: DbStatus) => boolean, ms?: number, label?: string): Promise<DbStatus>;
  cancel(): void;
}

/** Starts a recording monitor of `family` on `backend`. */
export function record(backend: DbBackend, family: string): Recorder {
  const calls: MonCall[] = [];
  const statuses: DbStatus[] = [];
  const wakers = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...wakers]) w();
  };
  const cancel = backend.watch(
    family,
    (fam, added, changed, deleted) => {
      calls.push({ family: { ...fam }, added: [...added].sort(), changed: [...changed].sort(), deleted: [...deleted].sort() });
      wake();
    },
    (s) => {
      statuses.push(s);
      wake();
    },
  );
  function waitUntil<T>(find: () => T | undefined, ms: number, label: string): Promise<T> {
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    const error = new SpecTimeoutError(`timed out after ${ms} ms waiting for ${label} (monitor of ${family})`);
    return new Promise<T>((resolve, reject) => {
      const waker = (): void => {
        const x = find();
        if (x === undefined) return;
        clearTimeout(timer);
        wakers.delete(waker);
        resolve(x);
      };
      const timer = setTimeout(() => {
        wakers.delete(waker);
        error.message += `; calls so far: ${JSON.stringify(calls)}; statuses: ${JSON.stringify(statuses.map((s) => s.up))}`;
        reject(error);
      }, ms);
      wakers.add(waker);
    });
  }
  return {
    calls,
    statuses,
    get latest() {
      return calls.length === 0 ? {} : calls[calls.length - 1].family;
    },
    call: (n, ms = 3000) => waitUntil(() => calls[n - 1], ms, `call ${n}`),
    until: (pred, ms = 3000, label = "a matching call", from = 1) => waitUntil(() => calls.slice(from - 1).find(pred), ms, label),
    status: (pred, ms = 3000, label = "a matching status") => waitUntil(() => statuses.find(pred), ms, label),
    cancel,
  };
}
