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
import type { ConfigureOptions } from "../lib/config/configure.ts";
import { ChildNode, type ChildEvent, EVENT_TIMEOUT_MS, type LineCodec, stopChildren } from "./child-node.ts";

/** The shared secret of the test networks. */
export const SECRET = "aemp stream spec secret";
/** Deadline for a child to start (tsx compiles on first run). */
export const START_TIMEOUT_MS = 15_000;
export { EVENT_TIMEOUT_MS };

const root = new URL("..", import.meta.url).pathname;
const fixture = new URL("./fixtures/stream-node.ts", import.meta.url).pathname;

export type StreamEvent = ChildEvent;

const json: LineCodec = { parse: JSON.parse, stringify: (v) => JSON.stringify(v) };

export class StreamNode extends ChildNode<StreamEvent> {
  constructor(child: ChildProcess, name: string) {
    super(child, name, json);
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
  return new StreamNode(child, name).ready(START_TIMEOUT_MS);
}

/** Kills every child still running. */
export const stopStreamNodes = stopChildren;
