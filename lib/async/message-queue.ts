/**
 * The messages queued in an async port's mailbox, in arrival order, and the ways of
 * taking one: the oldest with a tag (`get`), the first a test accepts (`getCond`), the
 * oldest (`getCond()`). A mailbox creates its queue with the first message that has to
 * wait and drops it once empty, so an idle async port holds none.
 *
 * Selective receive must not slow down as the queue grows, and a big backlog must not
 * cost much memory (a pre-filled mailbox of a million messages is all live data for
 * the GC), so messages are kept in one array in arrival order, `slots`, plus, once
 * needed, per tag an array of slot positions in arrival order (small integers: no
 * allocation).
 * - Taking a message by any path leaves a hole in `slots`: the number of the next
 *   slot to look at (a position, see below). A scan (`takeFirst`) jumps over a run of
 *   holes and points the run's first hole past it, so later scans skip the run in one
 *   step: what a scan costs depends on the live messages in front, never on how many
 *   were taken before.
 * - Messages are usually taken in order: `takeTag` first looks at the oldest message.
 *   The tag queues are built only when that fails (a message of another tag waits in
 *   front) and kept up to date from then on, until more messages have been taken in
 *   order than are queued (so the next build is paid for by as many cheap takes); a
 *   tag queue skips positions whose slot is a hole, so `takeTag` is O(1) amortised
 *   however many other messages wait.
 * - Positions are absolute (`base` + index), so dropping the taken prefix of `slots`
 *   (the common case: messages taken in order) needs no re-indexing.
 * - When holes in the middle outnumber live messages, `slots` is rebuilt without them
 *   and the tag queues re-indexed: O(live) work paid for by as many removals.
 *
 * The node each message came from (for `SRCNODE()`) is kept only for remote ones, in a
 * map keyed by the message, so local traffic pays one test; each take says it in
 * `takenFrom`.
 */
import type { Message } from "../kernel/ports.ts";

interface TagQueue {
  indexes: number[];
  head: number;
}

/** A queued message, or a hole: the position of the next slot to look at. */
type Slot = Message | number;

/** Shared by every empty queue (never written: `append` replaces it first). */
const NO_SLOTS: Slot[] = [];

/** Holes tolerated before a rebuild, so small queues never bother. */
const MIN_HOLES_TO_COMPACT = 1024;

/** What a test decided about a message: falsy = not mine; anything else = taken. */
export type Verdict = unknown;

export class MessageQueue {
  /** Messages in arrival order; a number is a hole (see the module comment). */
  private slots: Slot[] = NO_SLOTS;
  /** Index of the oldest live message (or slots.length). */
  private head = 0;
  /** Absolute position of slots[0]. */
  private base = 0;
  private count = 0;
  /** Tag queues, built when `takeTag` first misses at the head (see the module comment). */
  private byTag: Map<string, TagQueue> | null = null;
  /** `takeTag`s served by the oldest message since the tag queues were last needed. */
  private inOrder = 0;
  /** The node of each queued remote message; created with the first one. */
  private froms: Map<Message, string> | null = null;
  /** The node the message taken last came from (null: a local one). */
  takenFrom: string | null = null;

  /** Number of queued messages. */
  get size(): number {
    return this.count;
  }

  /** Queues `msg` (from node `from`, null: a local one). */
  append(msg: Message, from: string | null): void {
    if (from !== null) (this.froms ??= new Map()).set(msg, from);
    const index = this.base + this.slots.length;
    if (this.slots === NO_SLOTS) this.slots = [msg];
    else this.slots.push(msg);
    this.count++;
    const tag = msg[0];
    if (this.byTag !== null && typeof tag === "string") this.indexTag(this.byTag, tag, index);
  }

  /** Builds the tag queues from what is queued now. */
  private buildIndex(): Map<string, TagQueue> {
    const byTag = (this.byTag = new Map());
    const slots = this.slots;
    for (let i = this.head; i < slots.length; i++) {
      const msg = slots[i];
      if (typeof msg !== "number" && typeof msg[0] === "string") this.indexTag(byTag, msg[0], this.base + i);
    }
    return byTag;
  }

  private indexTag(byTag: Map<string, TagQueue>, tag: string, position: number): void {
    const q = byTag.get(tag);
    if (q === undefined) byTag.set(tag, { indexes: [position], head: 0 });
    else q.indexes.push(position);
  }

  /** Takes the message at slots[index] out, leaving a hole. */
  private remove(index: number): Message {
    const slots = this.slots;
    const msg = slots[index] as Message;
    slots[index] = this.base + index + 1;
    this.takenFrom = this.froms === null ? null : this.takeFrom(msg);
    if (--this.count === 0) {
      // Usable again from scratch (though a mailbox drops an empty queue).
      this.base += slots.length;
      this.slots = NO_SLOTS;
      this.head = 0;
      this.byTag = null;
      return msg;
    }
    if (index === this.head) {
      // A live message follows (count > 0): follow the holes to it.
      let h = index + 1;
      for (let s = slots[h]; typeof s === "number"; s = slots[h]) h = s - this.base;
      this.head = h;
      if (h > MIN_HOLES_TO_COMPACT && h > slots.length >>> 1) {
        this.base += h;
        this.slots = slots.slice(h);
        this.head = 0;
      }
    }
    const holes = this.slots.length - this.head - this.count;
    if (holes > MIN_HOLES_TO_COMPACT && holes > this.count) this.compact();
    return msg;
  }

  private takeFrom(msg: Message): string | null {
    const from = this.froms!.get(msg);
    if (from === undefined) return null;
    this.froms!.delete(msg);
    if (this.froms!.size === 0) this.froms = null;
    return from;
  }

  /** Rebuilds `slots` without holes and re-indexes the tag queues. */
  private compact(): void {
    const old = this.slots;
    this.slots = [];
    this.head = 0;
    this.base = 0;
    const indexed = this.byTag !== null;
    this.byTag = null;
    for (let i = 0; i < old.length; i++) {
      const msg = old[i];
      if (typeof msg !== "number") this.slots.push(msg);
    }
    if (indexed) this.buildIndex();
  }

  /** Removes and returns the oldest queued message with this tag. O(1) amortised. */
  takeTag(tag: string): Message | undefined {
    if (this.count === 0) return undefined;
    if ((this.slots[this.head] as Message)[0] === tag) {
      // Taken in order. Once that has happened more often than there are messages, the
      // tag queues are not worth keeping up to date: a rebuild later costs no more.
      if (this.byTag !== null && ++this.inOrder > this.count) this.byTag = null;
      return this.remove(this.head);
    }
    this.inOrder = 0;
    const byTag = this.byTag ?? this.buildIndex();
    const q = byTag.get(tag);
    if (q === undefined) return undefined;
    const { indexes } = q;
    const slots = this.slots;
    const base = this.base;
    let h = q.head;
    // Positions below `base` were dropped with the taken prefix: holes too.
    while (h < indexes.length && (indexes[h] < base || typeof slots[indexes[h] - base] === "number")) h++;
    if (h === indexes.length) {
      byTag.delete(tag);
      return undefined;
    }
    const index = indexes[h++] - base;
    if (h === indexes.length) byTag.delete(tag);
    else if (h > 64 && h > indexes.length >>> 1) {
      q.indexes = indexes.slice(h);
      h = 0;
    }
    q.head = h;
    return this.remove(index);
  }

  /**
   * Removes and returns the oldest queued message `test` accepts, with the verdict.
   * Tests each queued message at most once.
   */
  takeFirst(test: (msg: Message) => Verdict): [Message, Verdict] | undefined {
    const slots = this.slots;
    const base = this.base;
    // The first hole of the run being crossed: pointed past the run once it ends.
    let run = -1;
    for (let i = this.head; i < slots.length; ) {
      const msg = slots[i];
      if (typeof msg === "number") {
        if (run < 0) run = i;
        i = msg - base;
        continue;
      }
      if (run >= 0) {
        slots[run] = base + i;
        run = -1;
      }
      const verdict = test(msg);
      if (verdict) return [this.remove(i), verdict];
      i++;
    }
    if (run >= 0) slots[run] = base + slots.length;
    return undefined;
  }

  /** The oldest queued message, removed. */
  takeNext(): Message | undefined {
    return this.count === 0 ? undefined : this.remove(this.head);
  }
}
