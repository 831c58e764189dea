/**
 * Guards: what `mon`, `monGuard`, `after` and later `dbSet`/`dbReg`/`dbMon` return.
 * `cancel()` undoes the registration; cancelling twice is harmless; `using` works.
 */

export interface Guard {
  cancel(): void;
  [Symbol.dispose](): void;
}

class CallbackGuard implements Guard {
  #undo: (() => void) | null;
  constructor(undo: () => void) {
    this.#undo = undo;
  }
  cancel(): void {
    const undo = this.#undo;
    this.#undo = null;
    if (undo !== null) undo();
  }
  [Symbol.dispose](): void {
    this.cancel();
  }
}

/** A guard that runs `undo` on its first `cancel()`. */
export function guard(undo: () => void): Guard {
  return new CallbackGuard(undo);
}

/** A guard with nothing to undo. */
export function emptyGuard(): Guard {
  return new CallbackGuard(() => {});
}
