/**
 * Many-node networks for the benchmarks (bench:scale, the fan-out part of bench:db):
 * aemp nodes as plain node processes running the built package
 * (scripts/bench/scale-node.mjs), and the same network on Erlang/OTP
 * (scripts/bench/erlang/scale_node.erl, when `erl` is installed), each driven over its
 * stdio. Measurements are taken from outside, the same way for both: CPU time from
 * /proc (every thread of the process, nanoseconds), RSS from /proc.
 *
 * - `aempNetwork(globals, members)`: `globals` global nodes (each lists all of them as
 *   seeds) and `members` ordinary nodes, member i having global i % globals as its only
 *   seed (so as its master). Nothing is configured until `join()`.
 * - `erlangNetwork(hubs, members)`: as many Erlang nodes; member i connects to hub
 *   i % hubs on `join()`, and Erlang's own `global` then links every node to every
 *   other (a full mesh, as Erlang distribution requires).
 * Both offer the same phases: `join()` (every member joins one group and watches it;
 * resolves with the milliseconds until every member sees every member), `latency()`
 * (member 0 changes the group `count` times, one change every `interval` ms, or all in
 * one loop for interval 0; every other member's time to see each change) and `stop()`.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const root = new URL("../..", import.meta.url).pathname;
const nodeScript = join(root, "scripts/bench/scale-node.mjs");
const erlangSource = join(root, "scripts/bench/erlang/scale_node.erl");
const SECRET = "aemp-bench-cluster";
const START_TIMEOUT_MS = 60_000;

export const clock = (): number => performance.timeOrigin + performance.now();

type Event = Record<string, any> & { ev: string };

/** A child process speaking lines: commands in, events out. */
class LineProcess {
  readonly child: ChildProcess;
  readonly events: Event[] = [];
  private readonly waiters = new Set<{ pred: (e: Event) => boolean; resolve: (e: Event) => void }>();
  private exited = false;

  constructor(command: string, args: string[], parse: (line: string) => Event) {
    // Warnings (crossed links while the global nodes find each other, messages dropped
    // by the quick shutdown at the end) are expected here; errors are shown.
    const env = { ...process.env, AEMP_VERBOSE: process.env.AEMP_VERBOSE ?? "error" };
    this.child = spawn(command, args, { cwd: root, env, stdio: ["pipe", "pipe", "inherit"] });
    this.child.stdin!.on("error", () => {});
    this.child.once("exit", () => (this.exited = true));
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let e: Event;
      try {
        e = parse(line);
      } catch {
        // Not one of ours: what the runtime printed (e.g. --trace-gc), shown on request.
        if (process.env.AEMP_BENCH_ECHO) console.error(`[${this.pid}] ${line}`);
        return;
      }
      if (e.ev === "error") console.error(`bench node ${this.pid}: ${e.text}`);
      this.events.push(e);
      for (const w of [...this.waiters]) {
        if (!w.pred(e)) continue;
        this.waiters.delete(w);
        w.resolve(e);
      }
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** The first event (already seen or still to come) that `pred` accepts. */
  next(pred: (e: Event) => boolean, ms: number, label: string): Promise<Event> {
    const seen = this.events.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (e: Event) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`process ${this.pid}: no ${label} within ${ms} ms${this.exited ? " (it exited)" : ""}`));
      }, ms);
      this.waiters.add(w);
    });
  }

  /** Forgets the events seen so far (before a phase that waits for the same kind again). */
  clear(): void {
    this.events.length = 0;
  }

  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }

  /** Asks it to exit with `line` (so that a --cpu-prof profile gets written); kills it after 5 s. */
  async quit(line: string): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.send(line);
    const timer = setTimeout(() => this.kill(), 5000);
    await gone;
    clearTimeout(timer);
  }
}

/** CPU time of a process, every thread, in nanoseconds (/proc/PID/task/TID/schedstat). */
export function cpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}

/** Resident set size of a process in bytes. */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

/** Links and RSS of every process, from the `report` events of hubs then members. */
function snapshotOf(reports: Event[], hubProcs: LineProcess[], memberProcs: LineProcess[]) {
  const hubs = hubProcs.length;
  return {
    hubLinks: reports.slice(0, hubs).map((e) => e.links as number),
    memberLinks: reports.slice(hubs).map((e) => e.links as number),
    hubRss: hubProcs.map((p) => rssBytes(p.pid)),
    memberRss: memberProcs.map((p) => rssBytes(p.pid)),
  };
}

export function percentile(samples: number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export function median(samples: number[]): number {
  return percentile(samples, 50);
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Waits for one event from each process. */
function all(procs: LineProcess[], ev: string, ms: number): Promise<Event[]> {
  return Promise.all(procs.map((p) => p.next((e) => e.ev === ev, ms, `'${ev}' event`)));
}

export interface LatencyRun {
  /** Per receiving member (member k + 1), each change's latency in ms. */
  latencies: number[][];
  /** CPU nanoseconds each hub (global node) spent during the run. */
  hubCpuNs: number[];
  /** CPU nanoseconds of the setter (member 0) and of each receiving member. */
  setterCpuNs: number;
  memberCpuNs: number[];
  /** CPU nanoseconds each hub, then the setter, spent in a quiet period as long as the run, just before. */
  hubIdleNs: number[];
  setterIdleNs: number;
}

/** CPU nanoseconds each process spends while `run` runs. */
async function cpuDuring(procs: LineProcess[], run: () => Promise<unknown>): Promise<number[]> {
  const before = procs.map((p) => cpuNs(p.pid));
  await run();
  return procs.map((p, i) => cpuNs(p.pid) - before[i]);
}

/** Runs the latency phase: `set()` starts the changes, `done()` waits for every receiver. */
async function latencyPhase(hubs: LineProcess[], members: LineProcess[], duration: number, set: () => void, done: () => Promise<unknown>): Promise<Omit<LatencyRun, "latencies">> {
  const idle = await cpuDuring([...hubs, members[0]], () => new Promise((r) => setTimeout(r, duration)));
  const spent = await cpuDuring([...hubs, ...members], async () => {
    set();
    await done();
  });
  return {
    hubCpuNs: spent.slice(0, hubs.length),
    setterCpuNs: spent[hubs.length],
    memberCpuNs: spent.slice(hubs.length + 1),
    hubIdleNs: idle.slice(0, hubs.length),
    setterIdleNs: idle[hubs.length],
  };
}

export interface Snapshot {
  /** Links (connected nodes) of each hub and of each member. */
  hubLinks: number[];
  memberLinks: number[];
  hubRss: number[];
  memberRss: number[];
}

/** What both networks offer (see the module comment). */
export interface BenchNetwork {
  readonly name: string;
  readonly hubs: number;
  readonly members: number;
  /** Milliseconds from the join command until every member saw every member. */
  join(): Promise<number>;
  latency(count: number, interval: number): Promise<LatencyRun>;
  snapshot(): Promise<Snapshot>;
  /** Ends every process (asked to exit; killed if it does not). */
  stop(): Promise<void>;
}

const parseJson = (line: string): Event => JSON.parse(line) as Event;

/** Latency runs so far: each run changes a family (group) of its own. */
let runs = 0;

/** The aemp network (see the module comment). Needs dist/ (npm run build). */
export interface BareTcpRun {
  /** Per receiving member, each message's one-way latency in ms. */
  latencies: number[][];
  /** CPU nanoseconds of each receiving member meanwhile. */
  memberCpuNs: number[];
}

/**
 * The aemp network (see the module comment). Needs dist/ (npm run build).
 * `AEMP_BENCH_HUB_ARGS` (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) adds node options
 * to the global nodes' processes, `AEMP_BENCH_MEMBER_ARGS` to member 1's (a receiver); with `AEMP_BENCH_ECHO=1` what the processes print
 * besides their events (e.g. `--trace-gc` lines) goes to stderr.
 */
export async function aempNetwork(hubs: number, members: number): Promise<BenchNetwork & { bareTcp(count: number, interval: number): Promise<BareTcpRun> }> {
  if (!existsSync(join(root, "dist/lib/index.js"))) throw new Error("no dist/: run npm run build first");
  const argsOf = (name: string): string[] => (process.env[name] ?? "").split(" ").filter((a) => a !== "");
  const spawnNode = (args: string[]) => (): LineProcess => new LineProcess(process.execPath, [...args, nodeScript], parseJson);
  const hubProcs = Array.from({ length: hubs }, spawnNode(argsOf("AEMP_BENCH_HUB_ARGS")));
  // Only member 1 (the first receiver) gets AEMP_BENCH_MEMBER_ARGS: one profile, not a hundred.
  const memberProcs = Array.from({ length: members }, (_, i) => spawnNode(i === 1 ? argsOf("AEMP_BENCH_MEMBER_ARGS") : [])());
  const everyone = [...hubProcs, ...memberProcs];
  const stop = async (): Promise<void> => {
    await Promise.all(everyone.map((p) => p.quit(JSON.stringify({ cmd: "exit" }))));
  };
  try {
    const ready = await all(everyone, "ready", START_TIMEOUT_MS);
    const tcpPorts = ready.slice(hubs).map((e) => e.tcp as number);
    const seeds = (await freePorts(hubs)).map((p) => `127.0.0.1:${p}`);
    hubProcs.forEach((p, i) => p.send(JSON.stringify({ cmd: "configure", options: { nodeid: `g${i}/%u`, binds: [seeds[i]], seeds, secret: SECRET, norc: true } })));
    await all(hubProcs, "configured", START_TIMEOUT_MS);
    const others = memberProcs.slice(1);
    const report = async (procs: LineProcess[]): Promise<Event[]> => {
      procs.forEach((p) => {
        p.clear();
        p.send(JSON.stringify({ cmd: "report" }));
      });
      return all(procs, "report", START_TIMEOUT_MS);
    };
    // The global nodes link to each other by themselves: wait for the full mesh.
    for (const started = Date.now(); ; ) {
      if ((await report(hubProcs)).every((r) => r.links >= hubs - 1)) break;
      if (Date.now() - started > 10_000) throw new Error("the global nodes did not link to each other within 10 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      name: "aemp",
      hubs,
      members,
      async join() {
        const t0 = clock();
        memberProcs.forEach((p, i) => {
          const options = { nodeid: `n${i}/%u`, binds: ["127.0.0.1:*"], seeds: [seeds[i % hubs]], secret: SECRET, norc: true };
          p.send(JSON.stringify({ cmd: "go", options, family: "bench::members", expect: members }));
        });
        const full = await all(memberProcs, "full", START_TIMEOUT_MS);
        return Math.max(...full.map((e) => e.at as number)) - t0;
      },
      async bareTcp(count, interval) {
        others.forEach((p) => p.send(JSON.stringify({ cmd: "expectTcp", count })));
        const memberCpuNs = await cpuDuring(others, async () => {
          memberProcs[0].send(JSON.stringify({ cmd: "tcpBlast", ports: tcpPorts.slice(1), count, interval }));
          await all(others, "tcpDone", START_TIMEOUT_MS + count * interval);
        });
        return { latencies: (await report(others)).map((r) => r.tcp as number[]), memberCpuNs };
      },
      async latency(count, interval) {
        const family = `bench::lat${++runs}`;
        others.forEach((p) => p.send(JSON.stringify({ cmd: "latency", family, expect: count })));
        await all(others, "watching", START_TIMEOUT_MS);
        const cpu = await latencyPhase(
          hubProcs,
          memberProcs,
          count * interval,
          () => memberProcs[0].send(JSON.stringify({ cmd: "setter", family, count, interval })),
          () => all(others, "latDone", START_TIMEOUT_MS + count * interval),
        );
        const reports = await report(others);
        return { latencies: reports.map((r) => r.latencies as number[]), ...cpu };
      },
      snapshot: async () => snapshotOf(await report(everyone), hubProcs, memberProcs),
      stop,
    };
  } catch (err) {
    everyone.forEach((p) => p.kill());
    throw err;
  }
}

/**
 * Runs changes until the code paths are hot (the JIT compiles them only after many
 * runs): the first thousand changes in a fresh network are several times slower at the
 * tail. One loop of 2,000, then 300 one every 2 ms; nothing is kept.
 */
export async function warmUp(net: BenchNetwork): Promise<void> {
  await net.latency(2000, 0);
  await net.latency(300, 2);
}

/** Whether Erlang/OTP (erl and erlc) is installed. */
export function haveErlang(): boolean {
  return spawnSync("erl", ["-version"], { stdio: "ignore" }).status === 0 && spawnSync("erlc", ["-h"], { stdio: "ignore" }).error === undefined;
}

/** The OTP release, e.g. "25". */
export function otpRelease(): string {
  const r = spawnSync("erl", ["-noshell", "-eval", 'io:format("~s", [erlang:system_info(otp_release)]), halt().'], { encoding: "utf8" });
  return r.stdout.trim();
}

function parseErlang(line: string): Event {
  const [ev, ...rest] = line.trim().split(" ");
  if (ev === "full" || ev === "gfull") return { ev, at: Number(rest[0]) };
  if (ev === "report") {
    const times = (s: string | undefined): number[] => (s === undefined || s === "-" ? [] : s.split(",").map(Number));
    return { ev, links: Number(rest[0]), sent: times(rest[1]), arrived: times(rest[2]) };
  }
  if (["ready", "connected", "watching", "latDone", "setDone"].includes(ev)) return { ev };
  throw new Error("not an event");
}

let erlangBuild: string | undefined;

/** The Erlang network (see the module comment); also measures `global` name registration (`joinGlobal`). */
export async function erlangNetwork(hubs: number, members: number): Promise<BenchNetwork & { joinGlobal(): Promise<number> }> {
  if (erlangBuild === undefined) {
    erlangBuild = mkdtempSync(join(tmpdir(), "aemp-bench-erl-"));
    const built = spawnSync("erlc", ["-o", erlangBuild, erlangSource], { encoding: "utf8" });
    if (built.status !== 0) throw new Error(`erlc failed: ${built.stderr}`);
    const dir = erlangBuild;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  const host = hostname().split(".")[0];
  const prefix = `aempbench${process.pid}x${Math.floor(Math.random() * 1e6)}`;
  const cookie = `c${prefix}`;
  // Without busy waiting, idle schedulers sleep at once: CPU time measures work (and a
  // hundred spinning runtimes would starve this 2-core machine).
  const spawnErl = (name: string, start: string): LineProcess =>
    new LineProcess("erl", ["-sname", name, "-setcookie", cookie, "-noshell", "+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none", "-pa", erlangBuild!, "-s", "scale_node", start], parseErlang);
  const hubNames = Array.from({ length: hubs }, (_, i) => `${prefix}h${i}`);
  const hubProcs = hubNames.map((name) => spawnErl(name, "start_hub"));
  const memberProcs = Array.from({ length: members }, (_, i) => spawnErl(`${prefix}n${i}`, "start"));
  const everyone = [...hubProcs, ...memberProcs];
  const others = memberProcs.slice(1);
  const stop = async (): Promise<void> => {
    await Promise.all(everyone.map((p) => p.quit("exit")));
  };
  const report = async (procs: LineProcess[]): Promise<Event[]> => {
    procs.forEach((p) => {
      p.clear();
      p.send("report");
    });
    return all(procs, "report", START_TIMEOUT_MS);
  };
  try {
    await all(everyone, "ready", START_TIMEOUT_MS);
    hubProcs.forEach((p, i) => p.send(`connect ${hubNames.filter((_, j) => j !== i).map((h) => `${h}@${host}`).join(" ")}`));
    await all(hubProcs, "connected", START_TIMEOUT_MS);
    return {
      name: "Erlang",
      hubs,
      members,
      async join() {
        const t0 = clock();
        memberProcs.forEach((p, i) => p.send(`go ${hubNames[i % hubs]}@${host} bench_members ${members}`));
        const full = await all(memberProcs, "full", START_TIMEOUT_MS);
        return Math.max(...full.map((e) => e.at as number)) - t0;
      },
      async joinGlobal() {
        const t0 = clock();
        memberProcs.forEach((p) => p.send(`gname ${members}`));
        const full = await all(memberProcs, "gfull", START_TIMEOUT_MS);
        return Math.max(...full.map((e) => e.at as number)) - t0;
      },
      async latency(count, interval) {
        const group = `bench_lat${++runs}`;
        others.forEach((p) => p.send(`latency ${group} ${count}`));
        await all(others, "watching", START_TIMEOUT_MS);
        const cpu = await latencyPhase(
          hubProcs,
          memberProcs,
          count * interval,
          () => memberProcs[0].send(`setter ${group} ${count} ${interval}`),
          () => all(others, "latDone", START_TIMEOUT_MS + count * interval),
        );
        const [setter] = await report([memberProcs[0]]);
        const sent = setter.sent as number[];
        const reports = await report(others);
        return {
          latencies: reports.map((r) => (r.arrived as number[]).slice(-count).map((t, k) => t - sent[sent.length - count + k])),
          ...cpu,
        };
      },
      snapshot: async () => snapshotOf(await report(everyone), hubProcs, memberProcs),
      stop,
    };
  } catch (err) {
    everyone.forEach((p) => p.kill());
    throw err;
  }
}
