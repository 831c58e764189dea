/**
 * Start-up cost of the built package under plain node against the sources under tsx
 * (npm run bench:startup), measured in the same run:
 * - RSS of an idle configured node (the whole process tree: tsx runs its own helper
 *   processes), a second after it said "ready" (target <= 50 MB), and of the floor
 *   under it: a plain node that loads only what aemp loads from Node and npm;
 * - wall time of `aemp --version` (target < 100 ms).
 * `-- --nodes 20,24,26` repeats it on those Node lines (installed on first use, as
 * `npm run test:node-matrix` does); default: the node running this.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
// @ts-expect-error: a plain .mjs helper shared with the spec matrix, without declarations
import { nodeFor } from "../node-matrix.mjs";

const root = new URL("../..", import.meta.url).pathname;
const tsx = join(root, "node_modules", ".bin", "tsx");
const RUNS = 5;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** RSS in bytes of a process and all its descendants (from /proc). */
function treeRss(pid: number): number {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const todo = [pid];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      total += Number(m?.[1] ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
    todo.push(...(children.get(p) ?? []));
  }
  return total;
}

/** Starts the idle node, waits for "ready" and a second more, returns its tree's RSS. */
function idleRss(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    // Its own process group: the tsx wrapper runs node in a child, and both must go.
    const child = spawn(command, args, { cwd: root, env, stdio: ["ignore", "pipe", "inherit"], detached: true });
    const kill = () => process.kill(-child.pid!, "SIGKILL");
    const deadline = setTimeout(() => {
      kill();
      reject(new Error(`${args.join(" ")} did not say ready within 20 s`));
    }, 20_000);
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      if (!d.includes("ready")) return;
      clearTimeout(deadline);
      setTimeout(() => {
        const rss = treeRss(child.pid!);
        kill();
        resolve(rss);
      }, 1000);
    });
  });
}

function versionMs(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(command, [...args, "--version"], { cwd: "/", env, encoding: "utf8" });
  const ms = performance.now() - t0;
  if (!/^aemp \d/.test(r.stdout)) throw new Error(`aemp --version printed ${JSON.stringify(r.stdout)} ${r.stderr}`);
  return ms;
}

const build = spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
if (build.status !== 0) process.exit(1);

const nodesArg = process.argv.indexOf("--nodes");
const majors: (number | undefined)[] = nodesArg > 0 ? process.argv[nodesArg + 1]!.split(",").map(Number) : [undefined];
const MB = 1024 * 1024;

for (const major of majors) {
  const node: string = major === undefined ? process.execPath : nodeFor(major);
  const env = { ...process.env, PATH: `${join(node, "..")}:${process.env.PATH}`, AEMP_RC: "/nonexistent/aemp.json" };
  const version = spawnSync(node, ["--version"], { encoding: "utf8" }).stdout.trim();
  const floorRss: number[] = [];
  const plainRss: number[] = [];
  const tsxRss: number[] = [];
  const plainMs: number[] = [];
  const tsxMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Alternate the contenders so drift in the machine's state hits both alike.
    floorRss.push(await idleRss(node, [join(root, "scripts/bench/startup-floor.mjs")], env));
    plainRss.push(await idleRss(node, [join(root, "scripts/bench/startup-idle.mjs")], env));
    tsxRss.push(await idleRss(tsx, [join(root, "scripts/bench/startup-idle.ts")], env));
    plainMs.push(versionMs(node, [join(root, "dist/scripts/aemp.js")], env));
    tsxMs.push(versionMs(tsx, [join(root, "scripts/aemp.ts")], env));
  }
  const [fr, pr, tr, pm, tm] = [median(floorRss), median(plainRss), median(tsxRss), median(plainMs), median(tsxMs)];
  console.log(`\nNode ${version}, medians of ${RUNS} alternating runs`);
  console.log(`idle configured node RSS   plain node ${(pr / MB).toFixed(1).padStart(6)} MB   tsx ${(tr / MB).toFixed(1).padStart(6)} MB   ratio ${(pr / tr).toFixed(2)}   target <= 50 MB: ${pr <= 50 * MB ? "met" : "MISSED"}`);
  console.log(`  (floor: node with net, crypto, async_hooks and superjson loaded, listening: ${(fr / MB).toFixed(1)} MB; aemp adds ${((pr - fr) / MB).toFixed(1)} MB)`);
  console.log(`aemp --version             plain node ${pm.toFixed(0).padStart(6)} ms   tsx ${tm.toFixed(0).padStart(6)} ms   ratio ${(pm / tm).toFixed(2)}   target < 100 ms: ${pm < 100 ? "met" : "MISSED"}`);
}
