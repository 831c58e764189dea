#!/usr/bin/env node
// Runs a benchmark against the compiled package, as users run aemp: `npm run bench:NAME`
// calls `node scripts/bench/run.mjs NAME [args...]`, which
// 1. builds dist/ (`npm run build`'s script, with this same node);
// 2. bundles the benchmark's entry points (the one started here and the worker files it
//    starts as child processes) with esbuild into .bench/, keeping "aemp" an external
//    import: .bench/ lies inside this package, so Node resolves "aemp" to the package's
//    own exports, dist/lib/index.js (one kernel, the published code);
// 3. runs the entry with this node (`PATH=<node 24 bin>:$PATH npm run bench:NAME` for
//    another Node line), with --expose-gc; arguments after NAME go to the benchmark.
// A benchmark imports aemp only as "aemp" (the public API): importing lib/ directly
// would bundle a second copy of the sources, so the bundling refuses it. The same files
// also run from the sources (`npx tsx scripts/bench/NAME.ts`), where "aemp" is
// lib/index.ts; each benchmark prints which build and which Node produced its figures.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { build } from "esbuild";

/** Each benchmark's entry points: the first is run, the others are started by it. */
const BENCHES = {
  local: ["local"],
  mailbox: ["mailbox"],
  net: ["net", "net-worker"],
};

const root = new URL("../..", import.meta.url).pathname;
const [name, ...args] = process.argv.slice(2);
const entries = BENCHES[name];
if (entries === undefined) {
  console.error(`usage: node scripts/bench/run.mjs <${Object.keys(BENCHES).join("|")}> [args...]`);
  process.exit(2);
}

const built = spawnSync(process.execPath, [`${root}scripts/build.mjs`], { cwd: root, stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

/**
 * "aemp" stays an import of the package (esbuild would otherwise follow tsconfig's path
 * to lib/index.ts), and lib/ may not be imported at all: it would bypass the package.
 */
const packageOnly = {
  name: "aemp-package-only",
  setup(b) {
    b.onResolve({ filter: /^aemp$/ }, () => ({ path: "aemp", external: true }));
    b.onResolve({ filter: /(^|\/)lib\// }, (a) => ({
      errors: [{ text: `${a.importer} imports ${a.path}: benchmarks import the package as "aemp" (the compiled dist/)` }],
    }));
  },
};

const outdir = `${root}.bench`;
rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: entries.map((e) => `scripts/bench/${e}.ts`),
  outdir,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // The package itself, and what it depends on, come from dist/ and node_modules.
  packages: "external",
  plugins: [packageOnly],
  sourcemap: true,
  logLevel: "warning",
});

const run = spawnSync(process.execPath, ["--expose-gc", `${outdir}/${entries[0]}.js`, ...args], { cwd: root, stdio: "inherit" });
process.exit(run.status ?? 1);
