/**
 * A first-in first-out queue of values in one array used as a ring: the capacity is a
 * power of two, doubled (and the contents moved to the front) when full, and given back
 * by `shrink` (when the owner decides: growing is the expensive part). A value costs one slot and nothing else, so a
 * backlog of millions of entries laid out inline (the run queue writes each entry as a
 * few consecutive values) allocates no object per entry for the GC to copy; pushing
 * and shifting never move the other values.
 */
export class Ring {
  private slots: unknown[];
  private mask: number;
  private head = 0;
  private tail = 0;
  /** Values queued. */
  length = 0;
  private readonly minCapacity: number;

  /** `minCapacity`: slots kept however short the queue gets (rounded up to a power of two). */
  constructor(minCapacity = 1024) {
    this.minCapacity = 2 ** Math.ceil(Math.log2(Math.max(2, minCapacity)));
    this.slots = new Array<unknown>(this.minCapacity).fill(undefined);
    this.mask = this.minCapacity - 1;
  }

  /** Slots held now (for tests). */
  get capacity(): number {
    return this.slots.length;
  }

  push(value: unknown): void {
    if (this.length === this.slots.length) this.grow();
    this.slots[this.tail] = value;
    this.tail = (this.tail + 1) & this.mask;
    this.length++;
  }

  /** The oldest value, removed (its slot is cleared, so the ring keeps nothing alive). Undefined when empty. */
  shift(): unknown {
    if (this.length === 0) return undefined;
    const value = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return value;
  }

  /** Gives a ring that grew for a burst its small array back; only when empty. */
  shrink(): void {
    if (this.length !== 0 || this.slots.length === this.minCapacity) return;
    this.slots = new Array<unknown>(this.minCapacity).fill(undefined);
    this.mask = this.minCapacity - 1;
    this.head = 0;
    this.tail = 0;
  }

  private grow(): void {
    const old = this.slots;
    const slots = new Array<unknown>(old.length * 2);
    for (let i = 0; i < this.length; i++) slots[i] = old[(this.head + i) & this.mask];
    this.slots = slots;
    this.mask = slots.length - 1;
    this.head = 0;
    this.tail = this.length;
  }
}
