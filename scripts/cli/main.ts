/**
 * The `aemp` command line: global options, then commands (see command.ts for how
 * they chain). Errors are printed as one line, `aemp COMMAND: what went wrong`, with
 * exit code 1. Usage errors (no command, an unknown command or option, a missing
 * argument) exit 2 with one line that points at `aemp help` (as Perl's aemp dies with
 * `Usage: aemp subcommand ...`). `AEMP_VERBOSE=8` (debug) adds the stack of unexpected errors.
 *
 * Exit codes: 0 success, 1 error, 2 usage error (or `mon` saw an abnormal kill),
 * 130 interrupted.
 */
import { rcPath, writeRc } from "../../lib/config/rc.ts";
import { AempError } from "../../lib/errors.ts";
import { logLevel } from "../../lib/log.ts";
import { VERSION } from "../../lib/version.ts";
import { CliError, Context, type Io, UsageError } from "./command.ts";
import { overview } from "./help.ts";
import { commands, findCommand, setHelpRcFile } from "./registry.ts";


function save(ctx: Context): void {
  if (ctx.dirty) writeRc(ctx.rc(), ctx.path);
  ctx.dirty = false;
}

/** Runs one command line; resolves with the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  let i = 0;
  let path: string | undefined;
  let current = "";
  try {
    for (; i < argv.length && argv[i].startsWith("-"); i++) {
      const a = argv[i];
      if (a === "--rc" || a.startsWith("--rc=")) {
        path = a === "--rc" ? argv[++i] : a.slice(5);
        if (path === undefined || path === "") throw new UsageError("--rc needs a FILE (aemp help lists the commands)");
        // configure() reads the file through $AEMP_RC: make it the same one.
        process.env.AEMP_RC = path;
      } else if (a === "-h" || a === "--help") {
        setHelpRcFile(path ?? rcPath());
        io.out(overview(commands, path ?? rcPath()));
        return 0;
      } else if (a === "-V" || a === "--version") {
        io.out(`aemp ${VERSION}\n`);
        return 0;
      } else throw new UsageError(`unknown option ${a} (aemp help lists the commands)`);
    }
    setHelpRcFile(path ?? rcPath());
    if (i >= argv.length) throw new UsageError("Usage: aemp subcommand ... (aemp help lists the commands)");
    const ctx = new Context(io, path ?? rcPath());
    while (i < argv.length) {
      const name = argv[i++];
      const command = findCommand(name);
      if (command === undefined) throw new UsageError(`unknown command '${name}' (aemp help lists the commands)`);
      current = name;
      if (command.arity === "rest") {
        const rest = argv.slice(i);
        save(ctx);
        return (await command.run(ctx, rest)) ?? 0;
      }
      const args = argv.slice(i, i + command.arity);
      if (args.length < command.arity) {
        throw new UsageError(`needs ${command.arity === 1 ? "an argument" : `${command.arity} arguments`}: ${name} ${command.usage} (aemp help ${name})`);
      }
      i += command.arity;
      await command.run(ctx, args);
    }
    save(ctx);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    io.err(message.startsWith("Usage: ") ? `${message}\n` : `aemp${current ? ` ${current}` : ""}: ${message}\n`);
    const expected = err instanceof CliError || err instanceof AempError || err instanceof TypeError;
    if (!expected || logLevel() >= 8) io.err(`${(err as Error)?.stack ?? ""}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
