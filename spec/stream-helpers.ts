/**
 * Child-process nodes for the data connection and log catcher specs
 * (spec/fixtures/stream-node.ts), on 127.0.0.1 with OS-chosen ports.
 *
 * - `startStreamNode(options)` starts one (with `--expose-gc`, so it can measure its
 *   live memory) and waits until it is configured;
 *   `call(cmd, args)` runs a fixture command and resolves with its answer;
 *   `event(pred)` waits for an event it emitted. Every wait has a deadline.
 * - `stopStreamNodes()` kills every child still running (call it in `test.after`;
 *   it also runs when the spec process exits). Children exit when their stdin closes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { ConfigureOptions } from "../lib/config/configure.ts";
import { deferred, waitFor } from "./helpers.ts";

/** The shared secret of the test networks. */
export const SECRET = "aemp stream spec secret";
/** Deadline for a child to start (tsx compiles on first run). */
export const START_TIMEOUT_MS = 15_000;
/** Default deadline for an answer or event. */
export const EVENT_TIMEOUT_MS = 5_000;

const root = new URL("..", import.meta.url).pathname;
const fixture = new URL("./fixtures/stream-node.ts", import.meta.url).pathname;

export type StreamEvent = { ev?: string; re?: number; error?: string } & Record<string, any>;

const running = new Set<StreamNode>();

export class StreamNode {
  readonly child: ChildProcess;
  readonly name: string;
  nodeId = "";
  addresses: string[] = [];
  readonly events: StreamEvent[] = [];
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<(e: StreamEvent) => void>();
  private nextId = 1;

  constructor(child: ChildProcess, name: string) {
    this.child = child;
    this.name = name;
    const exited = deferred<number | null>();
    this.exited = exited.promise;
    child.on("exit", (code) => {
      running.delete(this);
      exited.resolve(code);
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      this.stderr += d;
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let e: StreamEvent;
      try {
        e = JSON.parse(line) as StreamEvent;
      } catch {
        e = { ev: "stdout", text: line };
      }
      this.events.push(e);
      for (const w of this.waiters) w(e);
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first event (already seen or still to come) that `pred` accepts. */
  event(pred: (e: StreamEvent) => boolean, ms = EVENT_TIMEOUT_MS, label = "an event"): Promise<StreamEvent> {
    const found = this.events.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    const d = deferred<StreamEvent>();
    const w = (e: StreamEvent): void => {
      if (pred(e)) d.resolve(e);
    };
    this.waiters.add(w);
    const gone = this.exited.then(() => {
      throw new Error(`${this.name} exited while waiting for ${label}\n--- its stderr:\n${this.stderr}`);
    });
    return waitFor(Promise.race([d.promise, gone]), ms, `${label} from ${this.name}`).finally(() => this.waiters.delete(w));
  }

  /** Sends a command; returns its id. */
  command(cmd: string, args: Record<string, unknown> = {}): number {
    const id = this.nextId++;
    this.child.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    return id;
  }

  /** The answer to a command sent with `command`. */
  async answer(id: number, ms = EVENT_TIMEOUT_MS, label = `the answer to command ${id}`): Promise<StreamEvent> {
    const answer = await this.event((e) => e.re === id, ms, label);
    if (answer.error !== undefined) throw new Error(`${this.name}: command ${id} failed: ${answer.error}`);
    return answer;
  }

  /** Runs a command and resolves with its answer. */
  call(cmd: string, args: Record<string, unknown> = {}, ms = EVENT_TIMEOUT_MS): Promise<StreamEvent> {
    return this.answer(this.command(cmd, args), ms, `the answer to ${cmd}`);
  }

  /** Kills the process (SIGKILL by default) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.alive) this.child.kill(signal);
    await waitFor(this.exited, 5000, `${this.name} to exit`);
  }
}

/**
 * Starts a node; `options` are configure()'s, defaulting to the test secret, a bind on
 * 127.0.0.1 with a free port and node ID `NAME/%u`.
 */
export async function startStreamNode(options: ConfigureOptions = {}, name = "node", env: Record<string, string> = {}): Promise<StreamNode> {
  const config: ConfigureOptions = { nodeid: `${name}/%u`, binds: ["127.0.0.1:*"], secret: SECRET, ...options };
  const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", fixture, JSON.stringify(config)], {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const node = new StreamNode(child, name);
  running.add(node);
  const ready = await node.event((e) => e.ev === "ready", START_TIMEOUT_MS, "ready");
  node.nodeId = ready.nodeId as string;
  node.addresses = ready.addresses as string[];
  return node;
}

/** Kills every child still running. */
export async function stopStreamNodes(): Promise<void> {
  await Promise.all([...running].map((n) => n.kill()));
}

process.on("exit", () => {
  for (const n of running) n.child.kill("SIGKILL");
});
