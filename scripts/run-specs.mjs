#!/usr/bin/env node
// Runs every spec/**/*.spec.ts file in its own process (each node is a process-wide
// singleton, so files must not share one), a few at a time, and ends with the plain
// "N passed, N failed" line CI reads. Usage: node scripts/run-specs.mjs [filter...]
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { cpus, tmpdir } from "node:os";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);
const perFileTimeoutMs = Number(process.env.SPEC_TIMEOUT_MS ?? 180_000);

function findSpecs(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findSpecs(path));
    else if (name.endsWith(".spec.ts")) out.push(path);
  }
  return out.sort();
}

const files = findSpecs(join(root, "spec")).filter(
  (f) => filters.length === 0 || filters.some((x) => f.includes(x)),
);
const tsx = join(root, "node_modules", ".bin", "tsx");
// configure() reads the rc file ($AEMP_RC, else ~/.aemp.json) and lets it override its
// arguments: point every spec at a file that does not exist, so a developer's own
// configuration never leaks into a run. Specs that need an rc file set their own.
const noRc = join(tmpdir(), `aemp-specs-${process.pid}-no-rc`, "aemp.json");

function runOne(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    // Its own process group: tsx runs the spec in a grandchild, and specs start nodes
    // of their own; a timeout must take all of them down, or their open pipes would
    // keep this runner waiting for ever.
    const child = spawn(tsx, [file], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", AEMP_RC: noRc },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[run-specs] ${relative(root, file)} timed out after ${perFileTimeoutMs} ms\n`;
      killGroup();
    }, perFileTimeoutMs);
    child.on("exit", () => {
      // Whatever the spec left running (it should not) goes with it.
      setTimeout(killGroup, 100);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      killGroup();
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
      let failed = total - passed; // uvu's Total already leaves skipped tests out
      // A file that crashed or hung counts as one failure even if uvu printed no summary.
      if (code !== 0 && failed === 0) failed = 1;
      resolve({ file, code, output, passed, failed, skipped, ms: Date.now() - started });
    });
  });
}

const results = [];
const queue = [...files];
const workers = Math.max(2, Math.min(4, cpus().length));
await Promise.all(
  Array.from({ length: workers }, async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const r = await runOne(f);
      results.push(r);
      const mark = r.failed ? "FAIL" : "ok  ";
      console.log(`${mark} ${relative(root, f)}  (${r.passed} passed, ${r.failed} failed, ${r.ms} ms)`);
      if (r.failed || process.env.SPEC_VERBOSE) console.log(r.output.replace(/^/gm, "    "));
      // A file that could not run its tests here says why on a "SKIPPED ..." line.
      else for (const line of r.output.split("\n")) if (line.startsWith("SKIPPED ")) console.log(`     ${line}`);
    }
  }),
);

const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const skipped = results.reduce((n, r) => n + r.skipped, 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed || files.length === 0 ? 1 : 0);
