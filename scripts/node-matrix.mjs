#!/usr/bin/env node
// Runs the spec suite (scripts/run-specs.mjs) on every supported Node line: the
// machine's own node when it is one of them, and the others from the npm registry's
// official builds (the node-<platform>-<arch> packages), installed once into a cache
// folder outside the checkout (~/.cache/aemp/node/<major>, or $AEMP_NODE_CACHE). The
// machine's node is never touched: each run only puts its node first on PATH.
//
//   npm run test:node-matrix                      # 20, 24 and 26
//   npm run test:node-matrix -- --versions 24,26  # some of them
//   npm run test:node-matrix -- --skip-current    # not the major `node` already is
//   npm run test:node-matrix -- --refresh         # reinstall the newest of each line
//   npm run test:node-matrix -- [spec filter...]  # as for run-specs.mjs
//
// Ends with one "N passed, N failed" line for every run together.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const SUPPORTED = [20, 24, 26];

const root = new URL("..", import.meta.url).pathname;
const cache = process.env.AEMP_NODE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "aemp", "node");
const current = Number(process.versions.node.split(".")[0]);

/** The node binary of a major version: this process's own, or one from the cache (installed on first use). */
export function nodeFor(major, { refresh = false } = {}) {
  if (major === current && !refresh) return process.execPath;
  const dir = join(cache, String(major));
  const bin = join(dir, "node_modules", `node-${process.platform}-${process.arch}`, "bin", "node");
  if (refresh) rmSync(dir, { recursive: true, force: true });
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    console.log(`installing Node ${major} (node-${process.platform}-${process.arch}@${major}) into ${dir}`);
    const r = spawnSync("npm", ["install", "--prefix", dir, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error", `node-${process.platform}-${process.arch}@${major}`], { stdio: "inherit" });
    if (r.status !== 0 || !existsSync(bin)) throw new Error(`could not install Node ${major} into ${dir}`);
  }
  return bin;
}

function runSuite(node, filters) {
  return new Promise((resolve) => {
    const bin = join(node, "..");
    const child = spawn(node, [join(root, "scripts", "run-specs.mjs"), ...filters], {
      cwd: root,
      // Children the specs start (process.execPath, npm, npx) use this node too.
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let last = "";
    child.stdout.setEncoding("utf8").on("data", (d) => {
      process.stdout.write(d);
      last = (last + d).slice(-400);
    });
    child.on("close", (code) => {
      const m = /(\d+) passed, (\d+) failed[^\n]*\n?$/.exec(last);
      resolve({ passed: Number(m?.[1] ?? 0), failed: m ? Number(m[2]) : 1, code });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  let versions = SUPPORTED;
  const filters = [];
  let refresh = false;
  let skipCurrent = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--versions") versions = args[++i].split(",").map(Number);
    else if (args[i] === "--refresh") refresh = true;
    else if (args[i] === "--skip-current") skipCurrent = true;
    else filters.push(args[i]);
  }
  if (skipCurrent) versions = versions.filter((v) => v !== current);
  const results = [];
  for (const major of versions) {
    const node = nodeFor(major, { refresh });
    const version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
    console.log(`\n=== specs on Node ${version} (${node}) ===`);
    const started = Date.now();
    const outcome = await runSuite(node, filters);
    results.push({ version, ms: Date.now() - started, ...outcome });
  }
  console.log("\n=== node matrix ===");
  for (const r of results) console.log(`Node ${r.version}: ${r.passed} passed, ${r.failed} failed (${Math.round(r.ms / 1000)} s)`);
  const passed = results.reduce((n, r) => n + r.passed, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed || results.length === 0 ? 1 : 0);
}
