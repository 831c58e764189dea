/**
 * Helpers for the `aemp` CLI specs: every spec runs the real executable
 * (scripts/aemp.ts, through its own first lines) as a child process, against a
 * private rc file in a temp directory, never the user's ~/.aemp.json.
 *
 * - `tempRc()` makes the directory; `rc.env` holds `AEMP_RC` for children,
 *   `rc.read()` the file's JSON, `rc.cleanup()` removes it all.
 * - `aemp(rc, args)` runs a command to its end (with a deadline) and resolves with
 *   `{ code, stdout, stderr }`. It starts `node --import tsx scripts/aemp.ts`, which
 *   is what the file's first lines run (saving a shell and a node start per command);
 *   `{ executable: PATH }` runs the file itself, or a link to it, as a user would.
 * - `startAemp(rc, args)` starts a long-running one (`run`, `mon`, `dbmon`): wait for
 *   output with `line(pattern)`, end it with `signal()`, get the exit code from
 *   `exited`. `stopAll()` kills whatever is left (also on process exit).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SpecTimeoutError, deferred, waitFor } from "./helpers.ts";

export const AEMP = new URL("../scripts/aemp.ts", import.meta.url).pathname;
const root = new URL("..", import.meta.url).pathname;
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/** Deadline for one CLI command to finish. */
export const CLI_TIMEOUT_MS = 20_000;

export interface TempRc {
  dir: string;
  path: string;
  env: Record<string, string>;
  read(): any;
  cleanup(): void;
}

export function tempRc(): TempRc {
  const dir = mkdtempSync(join(tmpdir(), "aemp-cli-spec-"));
  const path = join(dir, "aemp.json");
  return {
    dir,
    path,
    env: { AEMP_RC: path },
    read: () => JSON.parse(readFileSync(path, "utf8")),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string;
  cwd?: string;
  ms?: number;
  /** Run this path as the executable (scripts/aemp.ts or a link to it). */
  executable?: string;
}

function spawnAemp(rc: TempRc | null, args: string[], options: RunOptions, stdin: "pipe" | "ignore"): ChildProcess {
  const [command, argv] = options.executable !== undefined ? [options.executable, args] : [process.execPath, ["--import", tsxLoader, AEMP, ...args]];
  return spawn(command, argv, { cwd: options.cwd ?? root, env: childEnv(rc, options.env), stdio: [stdin, "pipe", "pipe"] });
}

const running = new Set<ChildProcess>();

/** The child's environment: the rc file of `rc` (or one that does not exist), no log settings. */
function childEnv(rc: TempRc | null, extra?: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", AEMP_RC: rc?.path ?? join(tmpdir(), "aemp-cli-spec-no-such-dir", "aemp.json") };
  delete env.AEMP_VERBOSE;
  delete env.AEMP_TRACE;
  return { ...env, ...extra };
}

/** Runs `aemp ARGS...` to its end. */
export function aemp(rc: TempRc | null, args: string[], options: RunOptions = {}): Promise<CliResult> {
  const child = spawnAemp(rc, args, options, "pipe");
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin!.end(options.input ?? "");
  const done = new Promise<CliResult>((resolve) => {
    child.on("close", (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  const ms = options.ms ?? CLI_TIMEOUT_MS;
  return waitFor(done, ms, `aemp ${args.join(" ")}`).catch((err: unknown) => {
    child.kill("SIGKILL");
    if (err instanceof SpecTimeoutError) err.message += `\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}`;
    throw err;
  });
}

/** Runs `aemp ARGS...`, expecting exit code 0; resolves with stdout. */
export async function aempOk(rc: TempRc | null, args: string[], options: RunOptions = {}): Promise<string> {
  const r = await aemp(rc, args, options);
  if (r.code !== 0) throw new Error(`aemp ${args.join(" ")} exited ${r.code}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  return r.stdout;
}

/** A long-running `aemp` command. */
export class AempProcess {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly args: string[], child: ChildProcess) {
    this.child = child;
    const exited = deferred<number | null>();
    this.exited = exited.promise;
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      this.stdout += d;
      for (const w of this.waiters) w();
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      for (const w of this.waiters) w();
    });
    child.on("exit", (code, signal) => {
      running.delete(child);
      exited.resolve(code ?? (signal ? 128 : null));
      for (const w of this.waiters) w();
    });
  }

  /** The first line of stdout (or stderr with `stream`) matching `pattern`, seen or to come. */
  line(pattern: RegExp, ms = CLI_TIMEOUT_MS, stream: "stdout" | "stderr" = "stdout"): Promise<RegExpMatchArray> {
    const d = deferred<RegExpMatchArray>();
    const check = (): void => {
      for (const l of this[stream].split("\n")) {
        const m = pattern.exec(l);
        if (m !== null) return d.resolve(m);
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        d.reject(new Error(`aemp ${this.args.join(" ")} exited (${this.child.exitCode}) before printing ${pattern}\n--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`));
      }
    };
    this.waiters.add(check);
    check();
    return waitFor(d.promise, ms, `${pattern} from aemp ${this.args.join(" ")}\n--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`).finally(() => this.waiters.delete(check));
  }

  /** Sends a signal and resolves with the exit code. */
  async signal(signal: NodeJS.Signals = "SIGTERM", ms = 10_000): Promise<number | null> {
    this.child.kill(signal);
    return waitFor(this.exited, ms, `aemp ${this.args.join(" ")} to exit after ${signal}`);
  }
}

export function startAemp(rc: TempRc | null, args: string[], options: RunOptions = {}): AempProcess {
  const child = spawnAemp(rc, args, options, "ignore");
  running.add(child);
  return new AempProcess(args, child);
}

/** Kills every CLI child still running. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map((c) => {
      const gone = new Promise<void>((r) => c.once("exit", () => r()));
      c.kill("SIGKILL");
      return waitFor(gone, 5000, "a CLI child to exit").catch(() => {});
    }),
  );
}

process.on("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});
