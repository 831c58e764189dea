/**
 * A node (or any program) in a child process that writes one event per line on
 * stdout and takes one command per line on stdin: the base of the test nodes of the
 * network specs (spec/net-helpers.ts, SuperJSON lines) and of the data-connection and
 * log-catcher specs (spec/stream-helpers.ts, JSON lines).
 *
 * Every child is registered until it exits; `stopChildren()` kills those still
 * running, and they are killed when the spec process exits, however it exits.
 */
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { deferred, waitFor } from "./helpers.ts";

/** Default deadline for one answer or event from a child. */
export const EVENT_TIMEOUT_MS = 5_000;

/** One line a child wrote: an answer (`re`) or an event (`ev`). */
export type ChildEvent = { ev?: string; re?: number; error?: string } & Record<string, any>;

/** How lines are written and read. */
export interface LineCodec {
  parse(line: string): unknown;
  stringify(value: unknown): string;
}

/** Children started and still running. */
const running = new Set<{ child: ChildProcess; kill(): Promise<void> }>();

/** Registers any child (e.g. a plain program) so `stopChildren` and exit kill it. */
export function track(entry: { child: ChildProcess; kill(): Promise<void> }): void {
  running.add(entry);
  entry.child.on("exit", () => running.delete(entry));
}

export class ChildNode<E extends ChildEvent = ChildEvent> {
  readonly child: ChildProcess;
  readonly name: string;
  nodeId = "";
  addresses: string[] = [];
  /** Everything it wrote on stdout, in order. */
  readonly events: E[] = [];
  /** Everything it wrote on stderr. */
  stderr = "";
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<(e: E) => void>();
  private readonly codec: LineCodec;
  private nextId = 1;

  constructor(child: ChildProcess, name: string, codec: LineCodec) {
    this.child = child;
    this.name = name;
    this.codec = codec;
    const exited = deferred<number | null>();
    this.exited = exited.promise;
    child.on("exit", (code) => exited.resolve(code));
    track(this);
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      this.stderr += d;
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      let e: E;
      try {
        e = codec.parse(line) as E;
      } catch {
        e = { ev: "stdout", text: line } as unknown as E;
      }
      this.events.push(e);
      for (const w of this.waiters) w(e);
    });
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The first event (already seen or still to come) that `pred` accepts. */
  event(pred: (e: E) => boolean, ms = EVENT_TIMEOUT_MS, label = "an event"): Promise<E> {
    const found = this.events.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    const d = deferred<E>();
    const w = (e: E): void => {
      if (pred(e)) d.resolve(e);
    };
    this.waiters.add(w);
    const gone = this.exited.then(() => {
      throw new Error(`${this.name} exited while waiting for ${label}\n--- its stderr:\n${this.stderr}`);
    });
    return waitFor(Promise.race([d.promise, gone]), ms, `${label} from ${this.name}`).finally(() => this.waiters.delete(w));
  }

  /** Sends a command without waiting; returns its id. */
  command(cmd: string, args: Record<string, unknown> = {}): number {
    const id = this.nextId++;
    this.child.stdin!.write(`${this.codec.stringify({ id, cmd, ...args })}\n`);
    return id;
  }

  /** The answer to a command sent with `command` (rejects if the command threw). */
  async answer(id: number, ms = EVENT_TIMEOUT_MS, label = `the answer to command ${id}`): Promise<E> {
    const answer = await this.event((e) => e.re === id, ms, label);
    if (answer.error !== undefined) throw new Error(`${this.name}: ${label} failed: ${answer.error}`);
    return answer;
  }

  /** Runs a command and resolves with its answer. */
  call(cmd: string, args: Record<string, unknown> = {}, ms = EVENT_TIMEOUT_MS): Promise<E> {
    return this.answer(this.command(cmd, args), ms, `the answer to ${cmd}`);
  }

  /** Waits for the `ready` event and records the node ID and addresses it reports. */
  async ready(ms: number): Promise<this> {
    const e = await this.event((x) => x.ev === "ready", ms, "ready");
    this.nodeId = e.nodeId as string;
    this.addresses = e.addresses as string[];
    return this;
  }

  /** Kills the process (SIGKILL by default) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.alive) this.child.kill(signal);
    await waitFor(this.exited, 5000, `${this.name} to exit`);
  }
}

/** Kills every child still running and waits for them to be gone. */
export async function stopChildren(): Promise<void> {
  await Promise.all([...running].map((n) => n.kill()));
}

process.on("exit", () => {
  for (const n of running) n.child.kill("SIGKILL");
});
