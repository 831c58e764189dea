/**
 * The four commands of a list-valued key (`setseeds`, `delseeds`, `addseed`,
 * `delseed` and the same for binds and services), built from one description.
 *
 * `setX` takes the whole list as one argument: items separated by commas, or a JSON
 * array. `addX`/`delX` change the list of the profile being edited (or of the top
 * level); a profile's list starts empty, it does not copy the inherited one. Services
 * may be `[name, args...]` lists: `setservices '[["mymod::start", 1, 2]]'`, and
 * `addservice '["mymod::start", 1, 2]'` adds one.
 */
import { valueFromArgument } from "../../lib/config/rc.ts";
import { CliError, type Command, type Context } from "./command.ts";

export interface ListKey {
  key: string;
  /** "seed", "bind", "service". */
  singular: string;
  /** What an item looks like, for usage lines. */
  item: string;
  /** Whether the same item may appear twice (services: several instances). */
  duplicates: boolean;
  /** Called with each value before it is stored (e.g. make paths absolute). */
  prepare?: (items: string[]) => string[];
  /** Whether one item may be a JSON list (`["name", args...]`, services). */
  listItems?: boolean;
  aliases?: string[];
}

function current(ctx: Context, key: string): unknown[] {
  const v = ctx.target()[key];
  if (v === undefined || v === null) return [];
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? [...v] : [];
}

function items(key: string, text: string, prepare?: (items: string[]) => string[]): unknown[] {
  const list = valueFromArgument(key, text) as string[];
  return prepare ? prepare(list) : list;
}

/** The one item an `addX`/`delX` argument names. */
function oneItem(spec: ListKey, text: string): unknown {
  if (spec.listItems && text.trim().startsWith("[")) {
    const [item] = items(spec.key, `[${text}]`);
    return item;
  }
  const add = items(spec.key, text, spec.prepare);
  if (add.length !== 1) throw new CliError(`add${spec.singular} takes one ${spec.singular}, received ${JSON.stringify(text)}`);
  return add[0];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const shown = (item: unknown): string => (typeof item === "string" ? item : JSON.stringify(item));

export function listCommands(spec: ListKey): Command[] {
  const { key, singular, item } = spec;
  return [
    {
      name: `set${key}`,
      aliases: spec.aliases,
      usage: `${item},...`,
      summary: `set the ${key} (comma-separated or a JSON array)`,
      group: "config",
      arity: 1,
      run(ctx, [text]) {
        ctx.set(key, items(key, text, spec.prepare));
      },
    },
    {
      name: `del${key}`,
      usage: "",
      summary: `remove the ${key} list`,
      group: "config",
      arity: 0,
      run(ctx) {
        ctx.del(key);
      },
    },
    {
      name: `add${singular}`,
      usage: item,
      summary: `add one ${singular}`,
      group: "config",
      arity: 1,
      run(ctx, [text]) {
        const add = oneItem(spec, text);
        const list = current(ctx, key);
        if (!spec.duplicates && list.some((x) => same(x, add))) return;
        ctx.set(key, [...list, add]);
      },
    },
    {
      name: `del${singular}`,
      usage: item,
      summary: `remove one ${singular}`,
      group: "config",
      arity: 1,
      run(ctx, [text]) {
        const gone = spec.listItems && text.trim().startsWith("[") ? oneItem(spec, text) : (spec.prepare ? spec.prepare([text]) : [text])[0];
        const list = current(ctx, key);
        const at = list.findLastIndex((x) => same(x, gone));
        if (at < 0) throw new CliError(`${JSON.stringify(shown(gone))} is not among the ${key} of ${ctx.where()} (${list.length ? list.map(shown).join(", ") : "none"})`);
        list.splice(at, 1);
        ctx.set(key, list);
      },
    },
  ];
}
