/**
 * Helpers for the database network specs: test nodes running spec/fixtures/db-node.ts
 * in child processes, driven through spec/net-helpers.ts `TestNode` (same line
 * protocol as the network fixture).
 *
 * - `startDbNode(options, {name, plain})`: a node on 127.0.0.1 with an OS-chosen port
 *   (unless `binds` says otherwise), the test secret, node ID `NAME/%u`; resolves when
 *   it is configured. With `plain`, the fixture runs as plain node from a bundle made
 *   once per spec process (esbuild), which starts in a fraction of tsx's time: for
 *   specs that start dozens of nodes.
 * - `stopDbNodes()`: kills every node still running; call it in `test.after`. Children
 *   also exit when their stdin closes, so none outlives the spec.
 * - `monitor(node, family)`: starts a dbMon there; `until(pred)` waits for a callback
 *   (already seen or still to come) that `pred` accepts; `latest` is the newest content.
 * - `freePorts(n)`: n distinct free TCP ports on 127.0.0.1, for nodes that must know
 *   their addresses in advance (global nodes listing themselves as seeds).
 * - `eventually(fn, ms)`: re-runs an async check until it passes or the deadline is
 *   reached, for state that converges over several nodes (each attempt is a round trip,
 *   not a sleep).
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { buildSync } from "esbuild";
import { stopChildren } from "./child-node.ts";
import { SpecTimeoutError } from "./helpers.ts";
import { type NodeEvent, SECRET, START_TIMEOUT_MS, TestNode } from "./net-helpers.ts";
import type { ConfigureOptions } from "../lib/config/configure.ts";

const root = new URL("..", import.meta.url).pathname;
const fixture = new URL("./fixtures/db-node.ts", import.meta.url).pathname;

let bundle: string | undefined;

/** The fixture bundled for plain node (packages stay external: it lives in node_modules/.cache). */
function bundledFixture(): string {
  if (bundle !== undefined) return bundle;
  const out = `${root}node_modules/.cache/aemp-spec/db-node-${process.pid}.mjs`;
  buildSync({ entryPoints: [fixture], outfile: out, bundle: true, format: "esm", platform: "node", packages: "external", keepNames: true, logLevel: "warning" });
  process.on("exit", () => rmSync(out, { force: true }));
  return (bundle = out);
}

/** Starts a database test node (see spec/fixtures/db-node.ts). */
export async function startDbNode(options: ConfigureOptions = {}, start: { name?: string; env?: Record<string, string>; plain?: boolean } = {}): Promise<TestNode> {
  const name = start.name ?? "db";
  const config: ConfigureOptions = { nodeid: `${name}/%u`, binds: ["127.0.0.1:*"], secret: SECRET, ...options };
  const args = start.plain ? [bundledFixture(), JSON.stringify(config)] : ["--import", "tsx", fixture, JSON.stringify(config)];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, NO_COLOR: "1", ...start.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  return new TestNode(child, name).ready(START_TIMEOUT_MS);
}

/** Kills every test node still running (killed at exit anyway: spec/child-node.ts). */
export const stopDbNodes = stopChildren;

export interface DbMonCall {
  content: Record<string, unknown>;
  n?: number;
  added: string[];
  changed: string[];
  deleted: string[];
}

export interface RemoteMonitor {
  tag: number;
  /** Every callback so far, in order. */
  readonly calls: DbMonCall[];
  /** The first callback (seen or still to come) that `pred` accepts. */
  until(pred: (c: DbMonCall) => boolean, ms?: number, label?: string): Promise<DbMonCall>;
  cancel(): Promise<void>;
}

/** Starts `dbMon(family)` on `node`; with `quiet`, callbacks carry only the size `n`. */
export async function monitor(node: TestNode, family: string, quiet = false): Promise<RemoteMonitor> {
  const tag = node.command("dbMon", { family, quiet });
  await node.event((e) => e.re === tag, 5000, "the answer to dbMon");
  const isMine = (e: NodeEvent): boolean => e.ev === "dbmon" && e.tag === tag;
  return {
    tag,
    get calls() {
      return node.events.filter(isMine) as unknown as DbMonCall[];
    },
    async until(pred, ms = 5000, label = `a dbMon(${family}) call`) {
      return (await node.event((e) => isMine(e) && pred(e as unknown as DbMonCall), ms, label)) as unknown as DbMonCall;
    },
    async cancel() {
      await node.call("unmon", { tag });
    },
  };
}

/** `dbFamily(family)` on `node`. */
export async function familyOf(node: TestNode, family: string): Promise<Record<string, unknown>> {
  return (await node.call("dbFamily", { family })).result as Record<string, unknown>;
}

/** The node's own merged copy of `family` (a global node), plus master and state. */
export async function stateOf(node: TestNode, family?: string): Promise<{ master: string | null; isGlobal: boolean; global: Record<string, unknown> | null; upNodes: string[] }> {
  return (await node.call("state", { family })) as never;
}

/** Runs `check` until it stops throwing, or rethrows its last error after `ms`. */
export async function eventually<T>(check: () => Promise<T>, ms = 5000, label = "a condition"): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new SpecTimeoutError(`timed out after ${ms} ms waiting for ${label}: ${last instanceof Error ? last.message : String(last)}`);
    }
    // Wait for the next event-loop turn with I/O, not for a fixed time.
    await new Promise((r) => setImmediate(r));
  }
}

/** `n` distinct TCP ports that were free on 127.0.0.1 a moment ago. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
