#!/usr/bin/env node
/**
 * The `aemp` command line tool (the package's `bin`, compiled to dist/scripts/aemp.js):
 * edit the rc file, run nodes, look inside a running network. `aemp help` lists the
 * commands; scripts/cli/ holds one module per command (or per small family of them).
 * In a clone, `npm run aemp -- ARGS` runs it from source through tsx.
 *
 * A process has one aemp kernel (lib/kernel/instance.ts). When this copy is not the
 * one the current project has installed (a global `aemp run` in a project whose
 * services import their own aemp), the project's copy runs the command instead, so the
 * services and the node share one kernel. `AEMP_NO_LOCAL=1` turns that off.
 */
import { spawn } from "node:child_process";
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The real path of a file, or undefined if it does not exist. */
function real(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** The bin of the project's own aemp, when it is another copy than this one. */
function projectCopy(): string | undefined {
  if (process.env.AEMP_NO_LOCAL === "1") return undefined;
  let found: string | undefined;
  try {
    found = real(createRequire(join(process.cwd(), "noop.js")).resolve("aemp/package.json"));
  } catch {
    return undefined; // the project has no aemp of its own
  }
  // This file is dist/scripts/aemp.js in the package, scripts/aemp.ts in a clone.
  const ours = ["../../package.json", "../package.json"].map((p) => real(fileURLToPath(new URL(p, import.meta.url))));
  return found === undefined || ours.includes(found) ? undefined : join(dirname(found), "dist", "scripts", "aemp.js");
}

const local = projectCopy();
if (local !== undefined) {
  const child = spawn(process.execPath, [local, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, AEMP_NO_LOCAL: "1" } });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
} else {
  for (const stream of [process.stdout, process.stderr]) {
    // `aemp db x | head -1`: a closed pipe is not an error.
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0);
      throw err;
    });
  }
  const { main } = await import("./cli/main.ts");
  const code = await main(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
  // Network commands leave handles behind (timers, sockets being closed): end now, once
  // everything written has been handed over.
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
  process.exit(code);
}
