/**
 * A port's tag callbacks (`rcv(port, tag, cb)`). Most ports have one or two tags, and a
 * Map costs well over a hundred bytes even then, so a port's first SMALL tags are a
 * short linked list of nodes (48 bytes each) searched in order, which for a few string
 * comparisons is as fast as a hash lookup; a port with more tags gets a Map.
 */
import type { Callback } from "./types.ts";

/** One tag and its callback, and the port's next tag. */
class TagNode {
  constructor(
    readonly tag: unknown,
    public cb: Callback,
    readonly next: TagNode | null,
  ) {}
}

export type TagTable = TagNode | Map<unknown, Callback>;

/** Tags kept in the list before the table becomes a Map. */
const SMALL = 8;

/** The callback for `tag`, if any. */
export function findTag(table: TagTable, tag: unknown): Callback | undefined {
  if (table instanceof TagNode) {
    for (let node: TagNode | null = table; node !== null; node = node.next) if (node.tag === tag) return node.cb;
    return undefined;
  }
  return table.get(tag);
}

/** The table with `cb` registered for `tag` (replacing an earlier one); `table` may be changed in place or replaced. */
export function withTag(table: TagTable | null, tag: string, cb: Callback): TagTable {
  if (table === null) return new TagNode(tag, cb, null);
  if (!(table instanceof TagNode)) return table.set(tag, cb);
  let count = 0;
  for (let node: TagNode | null = table; node !== null; node = node.next, count++) {
    if (node.tag === tag) {
      node.cb = cb;
      return table;
    }
  }
  if (count < SMALL) return new TagNode(tag, cb, table);
  const map = new Map<unknown, Callback>();
  for (let node: TagNode | null = table; node !== null; node = node.next) map.set(node.tag, node.cb);
  return map.set(tag, cb);
}

/** The table without `tag`, or null when no tag is left; `table` may be changed in place or replaced. */
export function withoutTag(table: TagTable, tag: string): TagTable | null {
  if (table instanceof TagNode) {
    let rest: TagNode | null = null;
    for (let node: TagNode | null = table; node !== null; node = node.next) if (node.tag !== tag) rest = new TagNode(node.tag, node.cb, rest);
    return rest;
  }
  table.delete(tag);
  return table.size === 0 ? null : table;
}
