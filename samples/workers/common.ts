/**
 * What the worker-pool programs share (samples/workers). Not a program of its own.
 *
 * Wire contract between client and workers:
 *   client -> worker  ["job", jobId, n, workMs, replyPort]
 *   worker -> client  ["result", jobId, n * n, workerPort]
 * Workers register their port in the database family `workers::pool` with dbReg, so a
 * worker leaves the pool when its port dies or its node goes away.
 */
export const POOL = "workers::pool";
export const DEFAULT_SEED = "127.0.0.1:4040";

export function secret(): string {
  return process.env.AEMP_SECRET ?? "aemp-sample-secret";
}

/** `--name value` options and positional arguments. */
export function parseArgs(argv: string[], known: string[]): { positional: string[]; options: Record<string, string> } {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const name = a.slice(2);
      if (!known.includes(name) || i + 1 >= argv.length) throw new Error(`unknown option or missing value: ${a} (options: ${known.map((k) => `--${k} N`).join(", ")})`);
      options[name] = argv[++i];
    } else positional.push(a);
  }
  return { positional, options };
}

/** A non-negative integer option, with a default. */
export function intOption(options: Record<string, string>, name: string, fallback: number): number {
  if (options[name] === undefined) return fallback;
  const n = Number(options[name]);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got "${options[name]}"`);
  return n;
}
