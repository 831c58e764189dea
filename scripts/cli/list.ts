/**
 * The four commands of a list-valued key (`setseeds`, `delseeds`, `addseed`,
 * `delseed` and the same for binds and services), built from one description.
 *
 * `setX` takes the whole list as one argument: items separated by commas, or a JSON
 * array. `addX`/`delX` change the list of the profile being edited (or of the top
 * level); a profile's list starts empty, it does not copy the inherited one.
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
  aliases?: string[];
}

function current(ctx: Context, key: string): string[] {
  const v = ctx.target()[key];
  if (v === undefined || v === null) return [];
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}

function items(key: string, text: string, prepare?: (items: string[]) => string[]): string[] {
  const list = valueFromArgument(key, text) as string[];
  return prepare ? prepare(list) : list;
}

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
        const add = items(key, text, spec.prepare);
        if (add.length !== 1) throw new CliError(`add${singular} takes one ${singular}, received ${JSON.stringify(text)}`);
        const list = current(ctx, key);
        if (!spec.duplicates && list.includes(add[0])) return;
        ctx.set(key, [...list, add[0]]);
      },
    },
    {
      name: `del${singular}`,
      usage: item,
      summary: `remove one ${singular}`,
      group: "config",
      arity: 1,
      run(ctx, [text]) {
        const [gone] = spec.prepare ? spec.prepare([text]) : [text];
        const list = current(ctx, key);
        const at = list.lastIndexOf(gone);
        if (at < 0) throw new CliError(`${JSON.stringify(gone)} is not among the ${key} of ${ctx.where()} (${list.length ? list.join(", ") : "none"})`);
        list.splice(at, 1);
        ctx.set(key, list);
      },
    },
  ];
}
