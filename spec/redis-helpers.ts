/**
 * Helpers for the specs of the Redis database backend (lib/db/redis.ts).
 *
 * - `findRedisServer()`: the redis-server binary (`$REDIS_SERVER` alone when set, else
 *   the PATH, /usr/bin, /usr/sbin, /usr/local/bin), or null. Specs that need one register their
 *   tests only when it is there, and otherwise print why they are skipped
 *   (`skipWithoutRedis(file)`).
 * - `startRedisServer()`: a private redis-server on 127.0.0.1 and a free port, no
 *   persistence (`--save "" --appendonly no`), working directory in a temp dir;
 *   `kill()`/`start()` stop it hard and start it again on the same port (empty, as after
 *   a crash); `stop()` ends it for good and removes the temp dir. Call `stop()` in
 *   teardown; a process exit kills it too.
 * - `mockBackend(owner, options)`: a RedisBackend over ioredis-mock. Backends sharing a
 *   `host` share one mock database (and its pub/sub), as nodes sharing one Redis.
 * - `realBackend(url, owner, options)`: a RedisBackend over ioredis (as `configure` opens it).
 * - `TcpProxy`: forwards 127.0.0.1:port to a target port; `cut()` drops every
 *   connection and refuses new ones until `restore()` (a network cut, deterministic).
 * - `until(check, ms, label)`: polls an observable state (each attempt waits for the
 *   next I/O turn) until `check` returns true, or fails after `ms`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import RedisMock from "ioredis-mock";
import { Redis as IORedis } from "ioredis";
import type { Redis } from "ioredis";
import { RedisBackend, type RedisBackendOptions, openRedisBackend } from "../lib/db/redis.ts";
import { SpecTimeoutError, waitFor } from "./helpers.ts";
import { freePorts } from "./db-helpers.ts";

/** The redis-server binary, or null when this machine has none. */
export function findRedisServer(): string | null {
  const candidates: string[] = [];
  if (process.env.REDIS_SERVER) candidates.push(process.env.REDIS_SERVER); // and nothing else
  else {
    for (const dir of [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/usr/sbin", "/usr/local/bin"]) {
      if (dir !== "") candidates.push(join(dir, "redis-server"));
    }
  }
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not there
    }
  }
  return null;
}

/** Prints the skip line for a spec file that needs redis-server; true when it must skip. */
export function skipWithoutRedis(file: string): boolean {
  if (findRedisServer() !== null) return false;
  console.log(`SKIPPED ${file}: no redis-server on this machine (apt-get install redis-server, or set REDIS_SERVER); its tests were not registered`);
  return true;
}

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT/0`. */
  readonly url: string;
  /** Kills it (SIGKILL) and waits until it is gone: Redis "crashed". */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Ends it for good and removes its directory. */
  stop(): Promise<void>;
}

const servers = new Set<ChildProcess>();
process.on("exit", () => {
  for (const s of servers) s.kill("SIGKILL");
});

/** The arguments of a private data server on `port` (no persistence, files in `dir`). */
function serverArgs(port: number, dir: string, extra: string[] = []): string[] {
  return ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no", ...extra];
}

function launch(bin: string, port: number, args: string[], ready: string): Promise<ChildProcess> {
  const child = spawn(bin, args, {
    stdio: ["ignore", "pipe", "pipe"],
  });
  servers.add(child);
  let output = "";
  return waitFor(
    new Promise<ChildProcess>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        output += d.toString();
        if (output.includes(ready)) resolve(child);
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.on("exit", (code) => {
        servers.delete(child);
        reject(new Error(`redis-server on port ${port} exited (${code}) before it was ready:\n${output}`));
      });
    }),
    10_000,
    `redis-server on port ${port} to be ready`,
  );
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return waitFor(new Promise<void>((r) => child.once("exit", () => r())), 5000, "redis-server to exit");
}

/**
 * Starts a private redis-server (see the module comment). `args(port, dir)` makes its
 * arguments (default: a data server; see `startSentinelSet` for others) and `ready` is
 * the line it writes once it accepts connections.
 */
export async function startRedisServer(makeArgs: (port: number, dir: string) => string[] = serverArgs, ready = "Ready to accept connections"): Promise<RedisServer> {
  const bin = findRedisServer();
  if (bin === null) throw new Error("no redis-server on this machine");
  const dir = mkdtempSync(join(tmpdir(), "aemp-redis-"));
  let child: ChildProcess | undefined;
  let port = 0;
  let args: string[] = [];
  for (let attempt = 1; ; attempt++) {
    [port] = await freePorts(1);
    args = makeArgs(port, dir);
    try {
      child = await launch(bin, port, args, ready);
      break;
    } catch (err) {
      // Another process may have taken the port in between: try another one.
      if (attempt >= 3) throw err;
    }
  }
  const kill = async (): Promise<void> => {
    if (child === undefined) return;
    child.kill("SIGKILL");
    await exited(child);
    servers.delete(child);
    child = undefined;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    kill,
    async start() {
      if (child === undefined) child = await launch(bin, port, args, ready);
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let mockHosts = 0;

/** A host name for a fresh ioredis-mock database (backends given the same one share it). */
export function freshMockHost(): string {
  return `mock-${process.pid}-${++mockHosts}`;
}

/** A RedisBackend over ioredis-mock at `host` (see `freshMockHost`). */
export function mockBackend(host: string, owner: string, options: RedisBackendOptions = {}): RedisBackend {
  // ioredis-mock's TIME mixes a rounded wall clock with hrtime: leases use ours.
  return new RedisBackend(() => new RedisMock({ host, port: 6379 }) as unknown as Redis, { owner, name: `mock ${host}`, clock: "local", ...options });
}

/** A RedisBackend over ioredis at `url`, as configure opens it. */
export function realBackend(url: string, owner: string, options: RedisBackendOptions = {}): Promise<RedisBackend> {
  return openRedisBackend(url, { owner, ...options });
}

/** A plain client on the mock database at `host`, to look at or tamper with it. */
export function mockClient(host: string): Redis {
  return new RedisMock({ host, port: 6379 }) as unknown as Redis;
}

/**
 * Connects an ioredis-mock client again after `disconnect()` (the mock keeps its
 * subscriber flag across a disconnect and would refuse).
 */
export function reconnectMock(client: Redis): void {
  (client as unknown as { subscriberMode: boolean }).subscriberMode = false;
  void client.connect();
}

/** The backend's two connections (to cut one in a spec). */
export function connectionsOf(backend: RedisBackend): { commands: Redis; subscriber: Redis } {
  const b = backend as unknown as { cmd: Redis; sub: Redis };
  return { commands: b.cmd, subscriber: b.sub };
}

/** Polls `check` (each attempt after an I/O turn) until it returns true; fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, label: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new SpecTimeoutError(`timed out after ${ms} ms waiting for ${label}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** A TCP forwarder to 127.0.0.1:target that can cut the network (see the module comment). */
export class TcpProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private open = true;
  port = 0;

  private constructor(target: number) {
    this.server = createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = connect(target, "127.0.0.1");
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }

  static async start(target: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  /** `redis://127.0.0.1:PORT/0` through the proxy. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Drops every connection and refuses new ones. */
  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  /** Accepts connections again. */
  restore(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

export interface SentinelSet {
  primary: RedisServer;
  replica: RedisServer;
  sentinels: RedisServer[];
  /** The master name the Sentinels watch. */
  name: string;
  /** `redis+sentinel://127.0.0.1:S1,.../NAME`. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A primary, one replica and three Sentinels (quorum 2) on 127.0.0.1, with short
 * timeouts (`downAfterMs` until the primary counts as down), ready when the replica
 * is in sync and every Sentinel knows the replica and the other Sentinels.
 */
export async function startSentinelSet(downAfterMs = 1000): Promise<SentinelSet> {
  const name = "aemp-spec";
  const primary = await startRedisServer();
  const replica = await startRedisServer((port, dir) => serverArgs(port, dir, ["--replicaof", "127.0.0.1", String(primary.port)]));
  const sentinels: RedisServer[] = [];
  for (let i = 0; i < 3; i++) {
    sentinels.push(
      await startRedisServer((port, dir) => {
        const conf = join(dir, `sentinel-${port}.conf`);
        writeFileSync(conf, [`sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`, `sentinel down-after-milliseconds ${name} ${downAfterMs}`, `sentinel failover-timeout ${name} 5000`, ""].join("\n"));
        return [conf, "--sentinel", "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--protected-mode", "no"];
      }, "Sentinel ID is"),
    );
  }
  const set: SentinelSet = {
    primary,
    replica,
    sentinels,
    name,
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${name}`,
    async stop() {
      await Promise.all([primary, replica, ...sentinels].map((s) => s.stop()));
    },
  };
  const clients = sentinels.map((s) => new IORedis({ host: "127.0.0.1", port: s.port, lazyConnect: false, maxRetriesPerRequest: 1 }));
  try {
    await until(async () => {
      for (const c of clients) {
        const [master] = (await c.call("SENTINEL", "MASTERS")) as string[][];
        const fields = new Map<string, string>();
        for (let i = 0; i + 1 < (master ?? []).length; i += 2) fields.set(master[i], master[i + 1]);
        if (fields.get("num-slaves") !== "1" || fields.get("num-other-sentinels") !== "2") return false;
      }
      const info = await clients[0].call("SENTINEL", "REPLICAS", name) as string[][];
      return info.some((r) => r[r.indexOf("master-link-status") + 1] === "ok");
    }, 20_000, "the Sentinels to know the replica and each other");
  } finally {
    for (const c of clients) c.disconnect();
  }
  return set;
}

export interface RedisClusterSet {
  /** The primaries, each holding a third of the slots. */
  nodes: RedisServer[];
  /** `redis+cluster://127.0.0.1:P1,...`. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `size` primaries (no replicas) on 127.0.0.1, the slots split
 * evenly, ready when every node reports the cluster ok. Built with CLUSTER ADDSLOTSRANGE
 * and CLUSTER MEET (no redis-cli needed); each node's cluster bus gets a free port of
 * its own.
 */
export async function startRedisCluster(size = 3): Promise<RedisClusterSet> {
  const nodes: RedisServer[] = [];
  const buses: number[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push(
      await startRedisServer((port, dir) => {
        const bus = port < 55536 ? port + 10000 : port - 10000;
        buses[i] = bus;
        return serverArgs(port, dir, ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--cluster-port", String(bus), "--cluster-node-timeout", "2000"]);
      }),
    );
  }
  const set: RedisClusterSet = {
    nodes,
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  const clients = nodes.map((n) => new IORedis({ host: "127.0.0.1", port: n.port, maxRetriesPerRequest: 1 }));
  try {
    const per = Math.ceil(16384 / size);
    for (let i = 0; i < size; i++) await clients[i].call("CLUSTER", "ADDSLOTSRANGE", String(i * per), String(Math.min(16383, (i + 1) * per - 1)));
    for (let i = 1; i < size; i++) await clients[0].call("CLUSTER", "MEET", "127.0.0.1", String(nodes[i].port), String(buses[i]));
    await until(async () => {
      for (const c of clients) {
        const info = String(await c.call("CLUSTER", "INFO"));
        if (!info.includes("cluster_state:ok") || !info.includes(`cluster_known_nodes:${size}`)) return false;
      }
      return true;
    }, 20_000, "the cluster to be ok on every node");
  } catch (err) {
    await set.stop();
    throw err;
  } finally {
    for (const c of clients) c.disconnect();
  }
  return set;
}
