/**
 * What every `aemp` subcommand module provides, and the context they share.
 *
 * Commands come in two kinds, as in Perl's aemp:
 * - chainable commands take a fixed number of arguments, so several can follow each
 *   other on one line (`aemp profile seed setbinds '*:4040' setseeds 127.0.0.1:4040`).
 *   They edit an in-memory copy of the rc file; the file is written once, atomically,
 *   after the last of them succeeded: a chain that fails anywhere changes nothing.
 * - final commands (`run`, `snd`, `showconfig`...) take the rest of the line, so they
 *   come last. Edits before them are saved first, then the final command runs.
 */
import { ConfigError } from "../../lib/errors.ts";
import { type RcData, type RcProfile, profileNames, rcPath, readRc } from "../../lib/config/rc.ts";

/** An error meant for the user: printed as one line, exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

/** The command line itself is wrong (unknown command or option, missing argument): exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export type CommandGroup = "config" | "profile" | "protocol" | "run" | "network" | "help";

export interface Command {
  readonly name: string;
  /** Other names for it (e.g. Perl's tutorial spells `setbinds` as `binds`). */
  readonly aliases?: readonly string[];
  /** The arguments after the name, for help: "SECRET", "PORT [ARG...]". */
  readonly usage: string;
  /** One line for the command list. */
  readonly summary: string;
  /** More help, shown by `aemp help NAME`. */
  readonly help?: string;
  readonly group: CommandGroup;
  /** Left out of the command list (e.g. the setKEY forms, covered by the key table). */
  readonly hidden?: boolean;
  /** How many arguments it takes (chainable), or "rest" (takes the rest of the line). */
  readonly arity: number | "rest";
  /** Runs it; a final command returns the exit code. */
  run(ctx: Context, args: string[]): void | number | Promise<void | number>;
}

/** The state one `aemp` invocation works on. */
export class Context {
  readonly path: string;
  readonly io: Io;
  /** The profile following commands apply to (`profile NAME`), or the top level. */
  profile: string | undefined;
  /** Whether the in-memory rc data differs from the file. */
  dirty = false;
  private data: RcData | undefined;

  constructor(io: Io, path = rcPath()) {
    this.io = io;
    this.path = path;
  }

  /** The rc data, read on first use (a broken file is an error here). */
  rc(): RcData {
    this.data ??= readRc(this.path);
    return this.data;
  }

  /** The object edits go to: the selected profile (created if needed) or the top level. */
  target(): Record<string, unknown> {
    const rc = this.rc();
    if (this.profile === undefined) return rc;
    const profiles = (rc.profile ??= {});
    // Created in memory; it reaches the file with the first change (not by looking).
    profiles[this.profile] ??= {};
    return profiles[this.profile];
  }

  /** "profile 'seed'" or "the top level", for messages. */
  where(): string {
    return this.profile === undefined ? "the top level" : `profile '${this.profile}'`;
  }

  set(key: string, value: unknown): void {
    this.target()[key] = value;
    this.dirty = true;
  }

  del(key: string): void {
    const t = this.target();
    if (key in t) {
      delete t[key];
      this.dirty = true;
    }
  }

  /** A profile that must exist. */
  existingProfile(name: string): RcProfile {
    const p = this.rc().profile?.[name];
    if (p === undefined) {
      const names = profileNames(this.rc());
      throw new ConfigError(`there is no profile '${name}' in ${this.path} (${names.length ? `profiles: ${names.join(", ")}` : "it has no profiles"})`, { file: this.path });
    }
    return p;
  }
}

/** Options of a command: flags (`--dot`) and valued options (`--timeout 5`). */
export interface OptionSpec {
  flags?: readonly string[];
  values?: readonly string[];
  /** Short spellings: `-t` for `--timeout`. */
  short?: Readonly<Record<string, string>>;
  /** Whether options may follow positional arguments (not for commands with free-form arguments). */
  anywhere?: boolean;
}

export interface ParsedOptions {
  flags: Set<string>;
  values: Map<string, string>;
  positional: string[];
}

/**
 * Splits a command's arguments into options and positional arguments. Without
 * `anywhere`, options end at the first positional argument (so message arguments
 * such as `--x` reach the message); `--` always ends them.
 */
export function parseOptions(command: string, args: string[], spec: OptionSpec): ParsedOptions {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const positional: string[] = [];
  let options = true;
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    if (options && a === "--") {
      options = false;
      continue;
    }
    if (options && a.startsWith("-") && a.length > 1 && !/^-\d/.test(a)) {
      let inline: string | undefined;
      const eq = a.indexOf("=");
      if (a.startsWith("--") && eq > 0) {
        inline = a.slice(eq + 1);
        a = a.slice(0, eq);
      }
      const name = a.startsWith("--") ? a.slice(2) : spec.short?.[a.slice(1)];
      if (name !== undefined && spec.flags?.includes(name) && inline === undefined) {
        flags.add(name);
        continue;
      }
      if (name !== undefined && spec.values?.includes(name)) {
        const v = inline ?? args[++i];
        if (v === undefined) throw new UsageError(`option --${name} needs a value (aemp help ${command})`);
        values.set(name, v);
        continue;
      }
      throw new UsageError(`unknown option ${args[i]} (aemp help ${command})`);
    }
    positional.push(a);
    if (!spec.anywhere) options = false;
  }
  return { flags, values, positional };
}

/** A number of seconds given on the command line. */
export function secondsOption(_command: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--timeout must be a positive number of seconds, received ${JSON.stringify(value)} (aemp help ${_command})`);
  return n;
}

/** JSON for printing: BigInt, Map, Set (which superjson framing can deliver) made plain. */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Map) return Object.fromEntries(v);
      if (v instanceof Set) return [...v];
      return v;
    },
    indent,
  ) ?? "null";
}
