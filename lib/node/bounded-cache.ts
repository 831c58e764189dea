/**
 * A Map with a budget in characters instead of a count of entries. The node layer's
 * caches are keyed by what peers send (port names, port IDs, node IDs), and a count
 * bounds nothing when one key can be a megabyte: 4,100 entries of 1 MiB names once
 * ran the heap out. Each entry costs the length of its key plus what `sizeOf` says of
 * its value; an entry bigger than a sixteenth of the budget is not kept at all, and
 * when the total would pass the budget the oldest entries go first (insertion order).
 * `get` is a plain Map lookup: the caches sit on the hot path. `sizeOf` must give the
 * same answer for a value every time (values are not changed while cached).
 */
export class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  private used = 0;

  constructor(
    /** Budget, in characters (UTF-16 code units) of keys and values. */
    readonly budget: number,
    private readonly sizeOf: (value: V) => number = () => 0,
  ) {}

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  /** Keeps `value` under `key` unless it is too big to be worth it; evicts the oldest to make room. */
  set(key: string, value: V): void {
    this.delete(key);
    const size = key.length + this.sizeOf(value);
    if (size > this.budget / 16) return;
    while (this.used + size > this.budget) {
      const oldest = this.map.keys().next().value as string;
      this.delete(oldest);
    }
    this.map.set(key, value);
    this.used += size;
  }

  delete(key: string): void {
    const value = this.map.get(key);
    if (value === undefined && !this.map.has(key)) return;
    this.map.delete(key);
    this.used -= key.length + this.sizeOf(value as V);
  }

  /** Characters held now (never more than the budget). */
  get size(): number {
    return this.used;
  }

  get count(): number {
    return this.map.size;
  }

  /** The entries, oldest first. */
  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }
}
