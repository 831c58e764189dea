// One node of the multi-node benchmarks (scripts/bench/cluster.ts drives it; not a
// benchmark by itself). Plain node running the built package (dist/), as users run it.
//
// Commands arrive as JSON lines on stdin; events leave as JSON lines on stdout. Every
// time is clock(): milliseconds on a clock all processes of the machine share.
// - (at start) a bare TCP listener: `{ev: "ready", tcp: PORT}`; each line `T\n` read
//   on any connection to it is a timestamp, kept as a one-way latency (clock() - T);
//   `{ev: "tcpDone"}` once `expectTcp` lines arrived.
// - `configure {options}` -> `{ev: "configured", nodeId, at}`.
// - `members {family, expect}`: dbMon(family); `{ev: "full", at}` the first time it
//   shows `expect` keys. `join {family}`: dbReg(family) of a new port. `go {options,
//   family, expect}` does configure, members and join in that order (one join run).
// - `latency {family, expect}`: dbMon(family); every key added after the first call
//   holds {t}: its latency (clock() - t) is kept (those of an earlier run are dropped); `{ev: "watching"}` after the first
//   call, `{ev: "latDone"}` once `expect` keys arrived.
// - `setter {family, count, interval}`: dbSet(family, "k" + i, {t: clock()}) every
//   `interval` ms (interval 0: all in one loop); `{ev: "setDone"}` after the last.
// - `tcpBlast {ports, count, interval}`: connects to those bare listeners, then every
//   `interval` ms writes clock() to each of them, in one loop; `{ev: "blastDone"}`.
// - `expectTcp {count}`; `report` -> `{ev: "report", latencies, tcp, links, rss}`; `exit`.
import { createConnection, createServer } from "node:net";
import { createInterface } from "node:readline";
import { configure, dbMon, dbReg, dbSet, port, shutdown, upNodes } from "../../dist/lib/index.js";

const clock = () => performance.timeOrigin + performance.now();
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const latencies = [];
const tcp = [];
let tcpExpected = Infinity;

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let rest = "";
  socket.setEncoding("utf8").on("data", (chunk) => {
    const now = clock();
    const lines = (rest + chunk).split("\n");
    rest = lines.pop();
    for (const line of lines) {
      tcp.push(now - Number(line));
      if (tcp.length === tcpExpected) emit({ ev: "tcpDone" });
    }
  });
  socket.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => emit({ ev: "ready", tcp: server.address().port }));

function members({ family, expect }) {
  let full = false;
  dbMon(family, (fam) => {
    if (full || Object.keys(fam).length < expect) return;
    full = true;
    emit({ ev: "full", at: clock() });
  });
}

async function doConfigure({ options }) {
  const { nodeId } = await configure(options);
  emit({ ev: "configured", nodeId, at: clock() });
}

function latency({ family, expect }) {
  let primed = false;
  latencies.length = 0;
  dbMon(family, (fam, added) => {
    const now = clock();
    if (!primed) {
      primed = true;
      emit({ ev: "watching" });
      return;
    }
    for (const key of added) latencies.push(now - fam[key].t);
    if (latencies.length === expect) emit({ ev: "latDone" });
  });
}

function setter({ family, count, interval }) {
  if (interval === 0) {
    for (let i = 0; i < count; i++) dbSet(family, `k${i}`, { t: clock() });
    emit({ ev: "setDone" });
    return;
  }
  let i = 0;
  const tick = () => {
    dbSet(family, `k${i}`, { t: clock() });
    if (++i < count) setTimeout(tick, interval);
    else emit({ ev: "setDone" });
  };
  tick();
}

async function tcpBlast({ ports, count, interval }) {
  const sockets = await Promise.all(
    ports.map((p) => new Promise((resolve, reject) => {
      const s = createConnection(p, "127.0.0.1", () => resolve(s));
      s.setNoDelay(true);
      s.once("error", reject);
    })),
  );
  let i = 0;
  const tick = () => {
    const line = `${clock()}\n`;
    for (const s of sockets) s.write(line);
    if (++i < count) setTimeout(tick, interval);
    else {
      for (const s of sockets) s.end();
      emit({ ev: "blastDone" });
    }
  };
  tick();
}

const commands = {
  configure: doConfigure,
  members,
  join: ({ family }) => void dbReg(family, port()),
  async go(c) {
    await doConfigure(c);
    members(c);
    dbReg(c.family, port());
  },
  latency,
  setter,
  tcpBlast,
  expectTcp: ({ count }) => {
    tcpExpected = count;
    if (tcp.length >= count) emit({ ev: "tcpDone" });
  },
  report: () => emit({ ev: "report", latencies, tcp, links: upNodes().length, rss: process.memoryUsage.rss() }),
  async exit() {
    await shutdown({ timeout: 0 });
    process.exit(0);
  },
};

createInterface({ input: process.stdin }).on("line", (line) => {
  const c = JSON.parse(line);
  Promise.resolve(commands[c.cmd](c)).catch((err) => {
    emit({ ev: "error", text: String(err?.stack ?? err) });
  });
});
process.stdin.on("end", () => process.exit(0));
