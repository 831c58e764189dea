#!/usr/bin/env node
// Builds the package into dist/ (run by `npm run build` and by `prepack`):
// - JavaScript: esbuild bundles the two entry points, lib/index.ts (the library) and
//   scripts/aemp.ts (the CLI), as ESM with code splitting, so both share one copy of
//   every module (one kernel per process) in a handful of chunk files. Fewer, larger
//   modules start faster and use less memory than one file per source module.
//   Packages stay external (dependencies and the optional ioredis).
// - Types: tsc writes the declaration files (tsconfig.build.json), one per module.
// - The page of `aemp observe` (plain HTML, CSS and JS) is copied to dist/observer/page,
//   where scripts/observer/server.ts looks for it when it runs from a chunk in dist/.
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const pkg = createRequire(import.meta.url)("../package.json");
const dist = `${root}dist`;

rmSync(dist, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ["lib/index.ts", "scripts/aemp.ts"],
  outdir: "dist",
  outbase: ".",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: `node${pkg.engines.node.replace(/^>=\s*/, "")}`,
  external: [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})],
  // Error classes report new.target.name: bundling must not rename them.
  keepNames: true,
  sourcemap: true,
  sourcesContent: true,
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "warning",
});
chmodSync(`${dist}/scripts/aemp.js`, 0o755);
cpSync(`${root}scripts/observer/page`, `${dist}/observer/page`, { recursive: true });

const tsc = spawnSync(process.execPath, [createRequire(import.meta.url).resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
