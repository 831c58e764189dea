/**
 * A hundred nodes (npm run bench:scale): how the cost grows with the network. For 10, 30
 * and 100 ordinary nodes around three global nodes (`-- --sizes 10,30` for others),
 * every node a plain node process running the built package (scripts/bench/cluster.ts):
 * - join: from telling every node to configure, monitor the family `bench::members`
 *   and dbReg a port in it, until every node's monitor shows every member;
 * - dbSet -> dbMon: node 0 sets a key every INTERVAL ms (COUNT keys); every other
 *   node's monitor reports it; latency from the set to the callback, over all nodes and
 *   on the farthest ones (attached to another global node: setter -> its global ->
 *   the other global -> the node, three hops);
 * - baseline in the same run and the same processes: a bare one-way TCP message from
 *   node 0 to every other node (plain sockets, a timestamp line to each, same pace);
 * - each global node's CPU per changed key during the dbSet run (every thread, from
 *   /proc), RSS per node, links (connected nodes) per node and per global node.
 * The same network on Erlang/OTP (when `erl` is installed, scripts/bench/erlang/): three
 * hub nodes and as many members, which join a `pg` group (and, for the join, register
 * a name with `global`); the change is a `pg` join on member 0, reported by `pg`
 * monitors. Erlang needs no global node: member 0 itself sends each change to every
 * node, so its CPU per change is what the global nodes' CPU is compared with.
 */
import { type BareTcpRun, type BenchNetwork, type LatencyRun, aempNetwork, erlangNetwork, haveErlang, median, otpRelease, percentile, warmUp } from "./cluster.ts";

const GLOBALS = 3;
const COUNT = 200;
const sizesArg = process.argv.indexOf("--sizes");
const SIZES = sizesArg > 0 ? process.argv[sizesArg + 1].split(",").map(Number) : [10, 30, 100];
/** Milliseconds between changes: longer than a change takes to reach every node. */
const intervalFor = (n: number): number => Math.max(5, Math.round(n * 0.3));

const ms = (v: number): string => `${v.toFixed(2)} ms`;
const us = (ns: number): string => `${(ns / 1000).toFixed(0)} us`;
const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MB`;
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : "-");

function row(name: string, value: string, note = ""): void {
  console.log(`  ${name.padEnd(50)} ${value.padStart(22)}   ${note}`);
}

function pcts(samples: number[]): string {
  return `p50 ${percentile(samples, 50).toFixed(2)} p99 ${percentile(samples, 99).toFixed(2)} ms`;
}

interface Figures {
  join: number;
  all: number[];
  farthest: number[];
  run: LatencyRun;
  linksTotal: number;
  hubLinks: number[];
  memberRss: number;
  hubRss: number[];
  globalJoin?: number;
  tcp?: number[];
  tcpMemberCpu?: number;
}

async function measure(make: () => Promise<BenchNetwork & { bareTcp?: (c: number, i: number) => Promise<BareTcpRun>; joinGlobal?: () => Promise<number> }>, n: number): Promise<Figures> {
  const net = await make();
  try {
    const join = await net.join();
    const globalJoin = await net.joinGlobal?.();
    const interval = intervalFor(n);
    await warmUp(net);
    const tcp = await net.bareTcp?.(COUNT, interval);
    const run = await net.latency(COUNT, interval);
    const snap = await net.snapshot();
    // Receiver k is member k + 1; members attached to hub 0 share the setter's.
    const farthest = run.latencies.filter((_, k) => (k + 1) % GLOBALS !== 0).flat();
    const links = [...snap.hubLinks, ...snap.memberLinks].reduce((a, b) => a + b, 0) / 2;
    return {
      join,
      globalJoin,
      all: run.latencies.flat(),
      farthest,
      run,
      tcp: tcp?.latencies.flat(),
      tcpMemberCpu: tcp === undefined ? undefined : median(tcp.memberCpuNs) / COUNT,
      linksTotal: links,
      hubLinks: snap.hubLinks,
      memberRss: median(snap.memberRss),
      hubRss: snap.hubRss,
    };
  } finally {
    await net.stop();
  }
}

const erlang = haveErlang();
console.log(`bench:scale - ${process.version}, built package under plain node; ${GLOBALS} global nodes; ${COUNT} changes per run${erlang ? `; Erlang/OTP ${otpRelease()}` : "; Erlang not installed (no comparison)"}`);
const perKey: { n: number; total: number }[] = [];
for (const n of SIZES) {
  const interval = intervalFor(n);
  const a = await measure(() => aempNetwork(GLOBALS, n), n);
  const e = erlang ? await measure(() => erlangNetwork(GLOBALS, n), n) : undefined;
  const cpuPerKey = a.run.hubCpuNs.map((c) => c / COUNT);
  const total = cpuPerKey.reduce((x, y) => x + y, 0);
  perKey.push({ n, total });
  const erlSetter = e === undefined ? NaN : e.run.setterCpuNs / COUNT;
  console.log(`\n${n} nodes around ${GLOBALS} global nodes (one change every ${interval} ms)`);
  row("join: every node sees every member", ms(a.join), e ? `Erlang pg ${ms(e.join)} (${ratio(a.join, e.join)}), global ${ms(e.globalJoin!)}` : "");
  row("dbSet -> dbMon, every node", pcts(a.all));
  row("dbSet -> dbMon, farthest nodes (3 hops)", pcts(a.farthest), `p99 ${ratio(percentile(a.farthest, 99), percentile(a.tcp!, 99))} of bare TCP's`);
  row("baseline: bare one-way TCP, same processes", pcts(a.tcp!));
  if (e) row("Erlang: pg join -> pg monitor, every node", pcts(e.all), `aemp farthest p99 = ${ratio(percentile(a.farthest, 99), percentile(e.all, 99))}`);
  row("CPU per changed key, each global node", cpuPerKey.map(us).join(" "), `total ${us(total)}, ${us(total / n)} per subscriber`);
  row("CPU per change: setter node, receiving node (median)", `${us(a.run.setterCpuNs / COUNT)} ${us(median(a.run.memberCpuNs) / COUNT)}`, `bare TCP: ${us(a.tcpMemberCpu!)} per message received`);
  row("CPU of each global node when idle, per key's time", a.run.hubIdleNs.map((c) => us(c / COUNT)).join(" "));
  if (e) row("Erlang: CPU per change, changing node, receiving node", `${us(erlSetter)} ${us(median(e.run.memberCpuNs) / COUNT)}`, `global nodes' total = ${ratio(total, erlSetter)}, busiest global = ${ratio(Math.max(...cpuPerKey), erlSetter)}`);
  row("RSS per node (median), global nodes", mb(a.memberRss), a.hubRss.map(mb).join(" "));
  if (e) row("Erlang: RSS per node (median), hubs", mb(e.memberRss), e.hubRss.map(mb).join(" "));
  row("links in the network, per global node", String(a.linksTotal), a.hubLinks.join(" "));
  if (e) row("Erlang: links (full mesh), per hub", String(e.linksTotal), e.hubLinks.join(" "));
}
if (perKey.length > 1) {
  const first = perKey[0];
  const last = perKey[perKey.length - 1];
  console.log(`\nglobal CPU per key from ${first.n} to ${last.n} nodes: x${(last.total / first.total).toFixed(2)} for x${(last.n / first.n).toFixed(1)} the subscribers (linear or better: <= x${(last.n / first.n).toFixed(1)})`);
}
process.exit(0);
