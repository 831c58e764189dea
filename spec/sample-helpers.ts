/**
 * Running sample programs as child processes the way a reader runs them, for the
 * sample specs: `node --import tsx samples/...` (not the `tsx` wrapper, which would
 * put a second process between the spec and the sample, so a kill would miss it).
 *
 * - `runSample(script, args)`: starts it with a piped stdin; `line(re)` waits (with a
 *   deadline) for an output line matching `re`, `after` a given line count if needed;
 *   `write(text)` types a line; `end()` closes stdin; `kill()` kills it.
 * - `stopSamples()`: kills every sample still running (call it in `test.after`; it also
 *   runs when the spec process exits).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { deferred, waitFor } from "./helpers.ts";

const root = new URL("..", import.meta.url).pathname;
const running = new Set<SampleProcess>();

export class SampleProcess {
  readonly child: ChildProcess;
  readonly name: string;
  /** Every stdout line so far. */
  readonly lines: string[] = [];
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  constructor(child: ChildProcess, name: string) {
    this.child = child;
    this.name = name;
    const exited = deferred<number | null>();
    this.exited = exited.promise;
    child.on("exit", (code) => {
      running.delete(this);
      exited.resolve(code);
      for (const w of this.waiters) w();
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => (this.stderr += d));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      this.lines.push(line);
      for (const w of this.waiters) w();
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * The first output line at index >= `after` that matches `re` (already printed or
   * still to come). Fails after `ms`, or if the process exits first.
   */
  line(re: RegExp, ms = 10_000, after = 0): Promise<string> {
    const d = deferred<string>();
    const check = (): void => {
      const found = this.lines.slice(after).find((l) => re.test(l));
      if (found !== undefined) d.resolve(found);
      else if (!this.alive) d.reject(new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}) before printing a line matching ${re}\n--- stdout:\n${this.lines.join("\n")}\n--- stderr:\n${this.stderr}`));
    };
    this.waiters.add(check);
    check();
    return waitFor(d.promise, ms, `a line matching ${re} from ${this.name}\n--- its stdout so far:\n${this.lines.join("\n")}`).finally(() => this.waiters.delete(check));
  }

  /** How many output lines so far match `re`. */
  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  /** Waits (with a deadline) for it to exit; its exit code and output. */
  async result(ms = 30_000): Promise<{ code: number | null; out: string; err: string }> {
    const code = await waitFor(this.exited, ms, `${this.name} to finish`);
    return { code, out: this.lines.join("\n"), err: this.stderr };
  }

  /** Types a line on its stdin. */
  write(text: string): void {
    this.child.stdin!.write(`${text}\n`);
  }

  /** Closes its stdin (end of input). */
  end(): void {
    this.child.stdin!.end();
  }

  /** Kills it (SIGKILL by default) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.alive) this.child.kill(signal);
    await waitFor(this.exited, 5000, `${this.name} to exit`);
  }
}

/** Starts `node --import tsx <script> ...args` in the project root. */
export function runSample(script: string, args: string[] = [], options: { name?: string; env?: Record<string, string> } = {}): SampleProcess {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const p = new SampleProcess(child, options.name ?? script);
  running.add(p);
  return p;
}

/** Kills every sample process still running. */
export async function stopSamples(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

process.on("exit", () => {
  for (const p of running) p.child.kill("SIGKILL");
});

/** How a program run to its end went. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tsx ARGS` in the project root, as `npx tsx ...` would, and resolves once it has
 * exited (killing it if it has not within `ms`).
 */
export async function runToEnd(args: string[], ms = 20_000): Promise<Run> {
  const child = spawn(join(root, "node_modules", ".bin", "tsx"), args, {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  try {
    const code = await waitFor(exited, ms, `${args.join(" ")} to exit`);
    return { code, stdout, stderr };
  } finally {
    child.kill();
  }
}
