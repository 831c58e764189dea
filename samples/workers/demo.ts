/**
 * The worker pool in one command: this process is the seed (and global node) and
 * starts three workers and a client as child processes. While the client works through
 * its jobs, one worker is killed outright, a crash-prone one joins, and a fresh one
 * joins; the pool's membership is printed as it changes (dbMon here), and the client's
 * summary at the end shows that every job came back right.
 *
 * Run: npx tsx samples/workers/demo.ts [JOBS]   (default 300)
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { configure, dbMon, shutdown } from "aemp";
import { POOL, secret } from "./common.ts";

const jobs = Number(process.argv[2] ?? 300);
if (!Number.isSafeInteger(jobs) || jobs < 10) {
  console.error("usage: demo.ts [JOBS]   (at least 10)");
  process.exit(2);
}

const { addresses } = await configure({ nodeid: "workers-seed/%u", binds: ["127.0.0.1:*"], secret: secret() });
const seed = addresses[0];
console.log(`seed listening on ${seed}`);

const here = new URL(".", import.meta.url).pathname;
const children = new Set<ChildProcess>();

/** Starts one of this sample's programs; its output lines go to `onLine` (default: printed). */
function start(script: string, args: string[], onLine: (line: string) => void = (l) => console.log(l)): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", `${here}${script}`, seed, ...args], {
    // The IPC channel is only there so that the children exit when this process does.
    stdio: ["ignore", "pipe", "inherit", "ipc"],
    env: { ...process.env, AEMP_SECRET: secret() },
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  createInterface({ input: child.stdout! }).on("line", onLine);
  return child;
}

let members = new Set<string>();
const watch = dbMon(POOL, (family) => {
  const now = new Set(Object.keys(family));
  for (const w of now) if (!members.has(w)) console.log(`pool: + ${w} (${now.size} workers)`);
  for (const w of members) if (!now.has(w)) console.log(`pool: - ${w} (${now.size} workers)`);
  members = now;
});

const workers = [start("worker.ts", []), start("worker.ts", []), start("worker.ts", [])];
let summary = "";
let stage = 0;
const client = start("client.ts", ["--jobs", String(jobs), "--concurrency", "6", "--work-ms", "20"], (line) => {
  console.log(`client: ${line}`);
  if (line.startsWith("{")) summary = line;
  const done = /^progress (\d+)\//.exec(line);
  if (done === null) return;
  const fraction = Number(done[1]) / jobs;
  if (stage === 0 && fraction >= 0.3) {
    stage = 1;
    console.log("demo: killing a worker (SIGKILL) and starting one that crashes after 5 jobs");
    workers[0].kill("SIGKILL");
    start("worker.ts", ["--fail-after", "5"]);
  } else if (stage === 1 && fraction >= 0.6) {
    stage = 2;
    console.log("demo: starting a fresh worker");
    start("worker.ts", []);
  }
});

const code = await new Promise<number | null>((resolve) => client.on("exit", resolve));
watch.cancel();
for (const child of children) child.kill("SIGTERM");
await shutdown();
console.log(code === 0 ? `demo: all ${jobs} jobs done right (${summary})` : `demo: the client failed (exit ${code})`);
process.exit(code ?? 1);
