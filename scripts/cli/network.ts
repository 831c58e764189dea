/**
 * How the network commands (`snd`, `cal`, `mon`, `nodes`, `db`, `dbmon`, `trace`,
 * `ping`) join a network: as a short-lived node `aemp/HOST/RANDOM` with no listeners
 * and no services, configured from the rc file otherwise (its top level, e.g. the
 * secret and seeds, and a profile `aemp` if there is one, to tune it apart). It is
 * ready once one of its seeds has become its master.
 *
 * Every wait has a deadline (`--timeout`, 10 s by default) and ends in one clear line
 * saying what did not happen.
 */
import type { QueryKind } from "../../lib/db/backend.ts";
import { NODE, nodeOf } from "../../lib/kernel/ids.ts";
import { mon } from "../../lib/kernel/mon.ts";
import { cal } from "../../lib/kernel/timers.ts";
import { CliError, type Context, type OptionSpec, UsageError } from "./command.ts";

// The networking modules load only when a command joins a network, so that the
// configuration commands start fast.
const configuration = () => import("../../lib/config/configure.ts");
const globals = () => import("../../lib/global/current.ts");
const backends = () => import("../../lib/db/backend.ts");

/** Default deadline of a network command, in seconds. */
export const DEFAULT_TIMEOUT = 10;

/** The options every network command takes. */
export const NETWORK_OPTIONS: OptionSpec = { values: ["timeout"], short: { t: "timeout" } };

export const TIMEOUT_HELP = `-t, --timeout SECONDS   give up after this long (default ${DEFAULT_TIMEOUT})`;

/** A promise that rejects with `message` after `seconds`; `cancel()` stops the timer. */
export function deadline(seconds: number, message: string): { promise: Promise<never>; cancel(): void } {
  const error = new CliError(message);
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error), seconds * 1000);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Races `p` against a deadline. */
export async function within<T>(p: Promise<T>, seconds: number, message: string): Promise<T> {
  const d = deadline(seconds, message);
  try {
    return await Promise.race([p, d.promise]);
  } finally {
    d.cancel();
  }
}

/**
 * Configures this process as the CLI node and waits until it has a master, so that
 * lookups (`g_find`) and database queries can be answered.
 */
export async function joinNetwork(ctx: Context, timeout: number): Promise<void> {
  const [{ configure, resolveConfig }, { globalService }, { monNodes }] = await Promise.all([configuration(), globals(), import("../../lib/node/index.ts")]);
  // Forced: the file's top level may name a node ID, binds or services meant for real
  // nodes; this short-lived one takes the rest (secret, cert, seeds, timeouts) from it.
  const options = { profile: "aemp", nodeid: "aemp/%n/%u", binds: [] as string[], services: [] as string[], force: true };
  const resolved = resolveConfig(options, { data: ctx.rc(), path: ctx.path });
  const seeds = (resolved.values.seeds as string[] | undefined) ?? [];
  // With a Redis database, nodes find each other (and the database) there: no seeds needed.
  const redis = typeof resolved.values.db === "string" && resolved.values.db !== "global";
  if (seeds.length === 0 && !redis) throw new CliError(`no seeds are configured in ${ctx.path}; add one with: aemp addseed HOST:PORT`);
  if (resolved.values.secret === undefined && resolved.values.cert === undefined) {
    throw new CliError(`no secret is configured in ${ctx.path}; make one with: aemp gensecret (and use the same file on every node)`);
  }
  const ready = new Promise<void>((resolve) => {
    const check = (): void => {
      if (globalService().master === undefined) return;
      watch.cancel();
      resolve();
    };
    // The master is chosen right after a seed's link comes up, in the same turn.
    const watch = monNodes(() => setImmediate(check));
  });
  await configure(options);
  if (redis) return;
  await within(ready, timeout, `could not join the network through ${seeds.join(", ")} within ${timeout} s: is a seed running there, with the same secret? (AEMP_VERBOSE=8 shows the attempts)`);
}

/** Leaves the network and returns `code`. */
export async function leave(code: number): Promise<number> {
  await (await configuration()).shutdown();
  return code;
}

/** Rejects as soon as the link to `node` fails (a monitor of the node); `cancel()` stops watching. */
export function nodeFailure(node: string): { promise: Promise<never>; cancel(): void } {
  let cancel = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    const g = mon(node, (...reason: unknown[]) => reject(new CliError(`cannot reach node ${node}: ${reasonText(reason)}`)));
    cancel = () => g.cancel();
  });
  promise.catch(() => {});
  return { promise, cancel };
}

/** A kill reason as text: `transport_error NODE no known address` -> "no known address". */
export function reasonText(reason: unknown[]): string {
  if (reason[0] === "transport_error" && typeof reason[2] === "string") return reason[2];
  return reason.length === 0 ? "killed normally" : reason.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join(" ");
}

/**
 * A node-port request with a reply: `["", TAG, ...args, replyPort]` to `node`,
 * resolving with the reply's values. Fails when the node cannot be reached or does
 * not answer within `timeout`.
 */
export function nodeRequest(node: string, timeout: number, tag: string, ...args: unknown[]): Promise<unknown[]> {
  const failure = nodeFailure(node);
  const reply = new Promise<unknown[]>((resolve) => {
    cal(`${node}#`, tag, ...args, (...values: unknown[]) => resolve(values), timeout);
  });
  const answered = reply.then((values) => {
    if (values.length === 0) throw new CliError(`node ${node} did not answer '${tag}' within ${timeout} s`);
    return values;
  });
  return Promise.race([answered, failure.promise]).finally(() => failure.cancel());
}

/**
 * A database query, answered by the global nodes (or Redis, if configured); internal
 * families such as 'l can be read too.
 */
export async function dbQuery(kind: QueryKind, family: string, timeout: number): Promise<unknown> {
  const backend = (await backends()).dbBackend();
  const master = (await globals()).globalService().master;
  const who = backend === (await globals()).globalService() ? `the global node ${master ?? ""}` : "the database";
  return within(backend.query(kind, family), timeout, `${who} did not answer within ${timeout} s`);
}

/** Checks a PORT argument: a port ID, or a node ID for that node's node port (as in Perl's aemp). */
export function portArgument(command: string, port: string | undefined): string {
  if (port === undefined) throw new UsageError(`a PORT is missing (aemp help ${command})`);
  if (port === "" || port.startsWith("#")) throw new UsageError(`'${port}' is neither a port ID (NODE#NAME) nor a node ID (aemp help ${command})`);
  if (nodeOf(port) === NODE()) throw new CliError(`'${port}' is a port of this aemp process itself`);
  return port;
}

/** Resolves on SIGINT or SIGTERM (for commands that run until interrupted). */
export function interrupted(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      // A second signal while shutting down ends the process at once.
      const hard = (): never => process.exit(130);
      process.once("SIGINT", hard);
      process.once("SIGTERM", hard);
      resolve(signal);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

/**
 * How message arguments are read: `auto` (Perl's aemp: an argument starting with `[`,
 * `{` or `"` is JSON, any other a string), `json` (every one is JSON: `12`, `true`) or
 * `raw` (every one a string).
 */
export type ArgumentMode = "auto" | "json" | "raw";

/** The mode the `--json` / `--raw` switches ask for. */
export function argumentMode(flags: Set<string>): ArgumentMode {
  if (flags.has("json") && flags.has("raw")) throw new UsageError("--json and --raw cannot be combined");
  return flags.has("json") ? "json" : flags.has("raw") ? "raw" : "auto";
}

/** Parses message arguments in the given mode (see `ArgumentMode`). */
export function messageArguments(args: string[], mode: ArgumentMode): unknown[] {
  if (mode === "raw") return args;
  return args.map((a) => {
    if (mode === "auto" && !/^[[{"]/.test(a)) return a;
    try {
      return JSON.parse(a) as unknown;
    } catch {
      throw new UsageError(mode === "json" ? `--json: ${JSON.stringify(a)} is not valid JSON (quote strings: '"text"')` : `${JSON.stringify(a)} starts like JSON but is not valid JSON (--raw sends it as a string)`);
    }
  });
}

/** Help lines for the argument switches of `snd` and `cal`. */
export const ARGUMENT_HELP = `Arguments starting with [, { or " are JSON, others strings (as in Perl's aemp).
  --json                  parse every argument as JSON (numbers, true, null too)
  --raw                   send every argument as a string`;
