/**
 * The mailbox of an async port: the waiters of `get`/`getCond` and the messages none
 * of them took (message-queue.ts, created with the first message that has to wait and
 * dropped once empty, so an idle async port is small).
 *
 * A new message is first offered to the waiters and queued only if none takes it, so
 * a waiting `getCond` tests each message once, on arrival, never the backlog again.
 * Taking a message sets `srcNode` to the node it came from (`SRCNODE()`).
 *
 * Every way a wait ends goes through `Waiter.settle` or `Waiter.fail`, which clear the
 * timer and the abort listener, so nothing is left behind (checked by the async specs).
 * A port's death is kept as its reason; the `PortKilledError` is made when a wait
 * needs it.
 */
import type { Message, PortScope, Sink } from "../kernel/ports.ts";
import type { Timer } from "../kernel/timers.ts";
import { PortKilledError } from "../errors.ts";
import { MessageQueue, type Verdict } from "./message-queue.ts";

export type { Verdict } from "./message-queue.ts";

/** What a timed or cancellable wait must release when it ends. */
export interface WaitExtras {
  timer: Timer | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * One pending `get` or `getCond`. A `get` waiter matches a tag and resolves to the
 * message without it; a `getCond` waiter has a test and resolves to [message, verdict].
 * Kept small: an idle async port holds one.
 */
export class Waiter {
  readonly match: string | ((msg: Message) => Verdict);
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
  /** Only for waits with a timeout or a signal. */
  extras: WaitExtras | null = null;
  /** The next waiter of the same mailbox (usually there is only one). */
  next: Waiter | null = null;
  done = false;
  constructor(match: Waiter["match"], resolve: Waiter["resolve"], reject: Waiter["reject"]) {
    this.match = match;
    this.resolve = resolve;
    this.reject = reject;
  }
  /** Ends the wait with `value`, exactly once, releasing its timer and abort listener. */
  settle(value: unknown): void {
    if (this.end()) this.resolve(value);
  }
  /** Ends the wait with an error (any value, even `undefined`), exactly once. */
  fail(err: unknown): void {
    if (this.end()) this.reject(err);
  }
  private end(): boolean {
    if (this.done) return false;
    this.done = true;
    const x = this.extras;
    if (x !== null) {
      x.timer?.cancel();
      if (x.onAbort !== undefined) x.signal!.removeEventListener("abort", x.onAbort);
    }
    return true;
  }
}

/** The message without its tag, as `get` gives it (a literal is cheaper than `slice` for the short ones). */
export function withoutTag(msg: Message): Message {
  switch (msg.length) {
    case 1: return [];
    case 2: return [msg[1]];
    case 3: return [msg[1], msg[2]];
    default: return msg.slice(1);
  }
}

export class Mailbox implements Sink, PortScope {
  /** The port's ID; the mailbox doubles as the async context's scope. */
  readonly id: string;
  /** Messages no waiter took; null while there are none. */
  private queue: MessageQueue | null = null;
  /** Usually at most one waiter: the port's own function. */
  private waiters: Waiter | null = null;
  /** The node the message taken last came from (null: a local one). `SRCNODE()` reads it. */
  srcNode: string | null = null;
  /** Once the port died: its kill reason, or the PortKilledError made of it. */
  private ended: unknown[] | PortKilledError | null = null;
  /** Whether an iterator (`messages()`) is reading. */
  reading = false;

  constructor(id: string) {
    this.id = id;
  }

  /** Number of queued messages. */
  get size(): number {
    return this.queue === null ? 0 : this.queue.size;
  }

  /** Number of pending waits (for tests: nothing may be left behind). */
  get pending(): number {
    let n = 0;
    for (let w = this.waiters; w !== null; w = w.next) n++;
    return n;
  }

  /** Whether the port died. */
  get dead(): boolean {
    return this.ended !== null;
  }

  /** What every wait fails with once the port died (null while it lives). */
  get death(): PortKilledError | null {
    const ended = this.ended;
    if (ended === null || ended instanceof PortKilledError) return ended;
    return (this.ended = new PortKilledError(this.id, ended));
  }

  /** A message arrived (from node `from`, null if local): hand it to the first waiter that takes it, else queue it. */
  push(msg: Message, from: string | null = null): void {
    for (let w = this.waiters; w !== null; ) {
      const next = w.next;
      const match = w.match;
      if (typeof match === "string") {
        if (msg[0] === match) {
          this.removeWaiter(w);
          this.srcNode = from;
          w.settle(withoutTag(msg));
          return;
        }
      } else {
        let verdict: Verdict;
        try {
          verdict = match(msg);
        } catch (err) {
          // A throwing predicate fails its own wait; the message stays for others.
          this.removeWaiter(w);
          w.fail(err);
          w = next;
          continue;
        }
        if (verdict) {
          this.removeWaiter(w);
          this.srcNode = from;
          w.settle([msg, verdict]);
          return;
        }
      }
      w = next;
    }
    (this.queue ??= new MessageQueue()).append(msg, from);
  }

  /** Removes and returns the oldest queued message with this tag. O(1) amortised. */
  takeTag(tag: string): Message | undefined {
    const q = this.queue;
    return q === null ? undefined : this.took(q, q.takeTag(tag));
  }

  /**
   * Removes and returns the oldest queued message `test` accepts, with the verdict.
   * Tests each queued message at most once.
   */
  takeFirst(test: (msg: Message) => Verdict): [Message, Verdict] | undefined {
    const q = this.queue;
    if (q === null) return undefined;
    const hit = q.takeFirst(test);
    if (hit !== undefined) this.took(q, hit[0]);
    return hit;
  }

  /** The oldest queued message, removed. */
  takeNext(): Message | undefined {
    const q = this.queue;
    return q === null ? undefined : this.took(q, q.takeNext());
  }

  /** After a take from `q`: SRCNODE of `msg`, and an empty queue is dropped. */
  private took<T extends Message | undefined>(q: MessageQueue, msg: T): T {
    if (msg !== undefined) {
      this.srcNode = q.takenFrom;
      if (q.size === 0) this.queue = null;
    }
    return msg;
  }

  addWaiter(w: Waiter): void {
    if (this.waiters === null) {
      this.waiters = w;
      return;
    }
    let last = this.waiters;
    while (last.next !== null) last = last.next;
    last.next = w;
  }

  removeWaiter(w: Waiter): void {
    if (this.waiters === w) {
      this.waiters = w.next;
    } else {
      for (let prev = this.waiters; prev !== null; prev = prev.next) {
        if (prev.next === w) {
          prev.next = w.next;
          break;
        }
      }
    }
    w.next = null;
  }

  /** The port died: fail every wait, drop the queue. */
  kill(reason: unknown[]): void {
    this.ended = reason;
    let w = this.waiters;
    this.waiters = null;
    while (w !== null) {
      const next = w.next;
      w.next = null;
      w.fail(this.death);
      w = next;
    }
    this.queue = null;
  }
}
