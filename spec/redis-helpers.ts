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
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { type Server, type Socket, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import RedisMock from "ioredis-mock";
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

function launch(bin: string, port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  servers.add(child);
  let output = "";
  return waitFor(
    new Promise<ChildProcess>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        output += d.toString();
        if (output.includes("Ready to accept connections")) resolve(child);
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

/** Starts a private redis-server (see the module comment). */
export async function startRedisServer(): Promise<RedisServer> {
  const bin = findRedisServer();
  if (bin === null) throw new Error("no redis-server on this machine");
  const dir = mkdtempSync(join(tmpdir(), "aemp-redis-"));
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    [port] = await freePorts(1);
    try {
      child = await launch(bin, port, dir);
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
      if (child === undefined) child = await launch(bin, port, dir);
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
