/**
 * `configure`: names the node and makes it a networked node.
 *
 * Keys and defaults are AEMP's (PROTOCOL.md section 12). Called at most once, before
 * the node talks to anyone: the node ID is set at once (so ports created afterwards
 * carry it), listeners and seed links start in the background, and the returned
 * promise resolves when the listeners are bound and the services have started, with
 * the addresses chosen.
 *
 * Where the values come from, lowest priority first (as AEMP merges them):
 * 1. the arguments;
 * 2. the rc file's top-level keys (lib/config/rc.ts: `$AEMP_RC` or `~/.aemp.json`);
 * 3. the profile chain: the profile's ancestors (`parent`), then the profile itself.
 * So the deployment (the file) overrides what a program passes, which only sets
 * defaults; `force: true` makes the arguments win instead, `norc: true` ignores the
 * file. The profile is `profile`, else the host name; a profile missing from the file
 * is simply empty. A key set to `null` at some level goes back to its default.
 * Values from the file are checked here and a wrong one is an error naming the file
 * and the profile; a broken file is an error, never a silent default.
 *
 * Node ID expansion: `%n` is the host name, `%u` a random string, a trailing `/` gets
 * a random string appended; without a node ID the node is `PROFILE/` + random.
 *
 * Last, the `services` are started (lib/config/services.ts).
 */
import { hostname } from "node:os";
import { argumentError } from "../errors.ts";
import { randomString, setNodeId } from "../kernel/ids.ts";
import { setNetworkedGlobal } from "../global/current.ts";
import { DB_SETTING_EXPECTED, closeDbBackend, dbBackend, isDbSetting, setDbBackend } from "../db/backend.ts";
import { DEFAULT_LEASE, openRedisBackend } from "../db/redis.ts";
import { GlobalService } from "../global/global.ts";
import { info } from "../log.ts";
import { addInfoSection, registerIntrospection } from "../node/introspection.ts";
import { type NetworkConfig, createNetwork, currentNetwork } from "../node/network.ts";
import { DEFAULT_MAX_PACKET_SIZE, FRAMINGS_WE_READ } from "../transport/framing.ts";
import { DEFAULT_AUTH_ACCEPT, DEFAULT_AUTH_OFFER } from "../transport/handshake.ts";
import { METRICS_EXPECTED, type RcData, isMetricsAddress, normalizeValue, profileChain, rcPath, readRc, topLevel } from "./rc.ts";
import { SERVICE_EXPECTED, type ServiceSpec, isServiceSpec, startServices } from "./services.ts";

export interface ConfigureOptions {
  /** Profile name (default: the host name); with no nodeid, the node ID is PROFILE/random. */
  profile?: string;
  /** Node ID, with `%n`, `%u` and trailing `/` expansion. */
  nodeid?: string;
  /** Listen endpoints, `host:port`; `*` host = all interfaces, `*` port = any free port. Default `["*"]`. */
  binds?: string[];
  /** `host:port` of seed nodes. Default none. */
  seeds?: string[];
  /** Shared secret (required unless TLS with a certificate is used). */
  secret?: string;
  /**
   * PEM text holding the network's shared certificate and its private key. Enables
   * TLS: links between nodes that both have it are encrypted, and each side verifies
   * the other against this certificate.
   */
  cert?: string;
  /** Framings we read, preferred first (those we implement: superjson, json). */
  framing_format?: string[];
  auth_offer?: string[];
  auth_accept?: string[];
  /** Seconds; handshake limit and maximum seed retry delay. Default 30. */
  monitor_timeout?: number;
  /** Seconds between connection attempts to a node's addresses. Default 2. */
  connect_interval?: number;
  /** TCP_NODELAY on links. Default true. */
  nodelay?: boolean | number;
  /** Largest packet read from a peer, in bytes. Default 64 MiB. */
  max_packet_size?: number;
  /** Refuse remote code execution (always true here: `eval` is never run). */
  secure?: boolean | number;
  /**
   * Started once the node is up, in order: names given to `registerService`, init
   * functions given to `registerInit` (spawned on this node), or modules (`NAME::` or
   * a relative path) found under `module_roots`. An entry may be `[name, ...args]` to
   * pass arguments, as in Perl (`[["mymod::start", 1, 2]]`). Default none.
   */
  services?: ServiceSpec[];
  /** Directories service modules may be loaded from (relative to the working directory). Default none. */
  module_roots?: string[];
  /** Ignore the rc file: only the arguments count. Default false. */
  norc?: boolean;
  /** Let the arguments override the rc file instead of the other way round. Default false. */
  force?: boolean;
  /**
   * Where the database (`dbSet`, `dbMon`, ...) lives: `"global"` (default: the global
   * nodes, AEMP's way) or a Redis URL, `redis://[:password@]host:port/N` (`rediss://`
   * for TLS). With Redis, nodes also find each other's addresses there, so they need
   * no seeds. See lib/db/redis.ts.
   */
  db?: string;
  /**
   * Seconds (Redis database only): this node's entries vanish this long after its last
   * lease renewal, so a crashed or cut-off node's entries are gone (from queries, and
   * monitors are told) within `db_lease` seconds. Renewed every `db_lease / 4`.
   * Default 10.
   */
  db_lease?: number;
  /**
   * Serve Prometheus metrics at `http://HOST:PORT/metrics` (`"127.0.0.1:9464"`; host `*`
   * = every interface, port `*` or 0 = a free one, see `ConfigureResult.metrics`).
   * The listener binds exactly what it is told: keep it on a private address. Default
   * none (off). See lib/metrics/prometheus.ts for the metrics served.
   */
  metrics?: string;
}

export interface ConfigureResult {
  nodeId: string;
  /** The addresses this node listens on, ports resolved. */
  addresses: string[];
  /** The profile used. */
  profile: string;
  /** Where the Prometheus metrics are served (`host:port`), when `metrics` is set. */
  metrics?: string;
}

/** The configuration `configure` would use, before defaults. */
export interface ResolvedConfig {
  profile: string;
  /** The rc file consulted; null with `norc`. */
  file: string | null;
  /** The profiles applied, root first (empty if the profile is not in the file). */
  chain: string[];
  /** Merged values; keys set nowhere are absent (their defaults apply). */
  values: Record<string, unknown>;
  /** Where each value came from: "argument", "top level" or "profile 'NAME'". */
  origins: Record<string, string>;
}

/** The defaults of every key `configure` uses (`nodeid` is PROFILE/ + random). */
export const CONFIG_DEFAULTS: Readonly<Record<string, unknown>> = {
  binds: ["*"],
  seeds: [],
  services: [],
  module_roots: [],
  monitor_timeout: 30,
  connect_interval: 2,
  framing_format: [...FRAMINGS_WE_READ],
  auth_offer: [...DEFAULT_AUTH_OFFER],
  auth_accept: [...DEFAULT_AUTH_ACCEPT],
  nodelay: true,
  secure: true,
  max_packet_size: DEFAULT_MAX_PACKET_SIZE,
  db: "global",
  db_lease: DEFAULT_LEASE,
};

/** Options that steer `configure` itself and are not configuration values. */
const CONTROL = new Set(["profile", "norc", "force"]);

/**
 * Merges arguments, the rc file's top level and the profile chain as `configure` does
 * (see the module comment). `rc` is the file to use: omitted, it is read from
 * `rcPath()` unless `options.norc`; null means none.
 */
export function resolveConfig(options: ConfigureOptions = {}, rc?: { data: RcData; path: string } | null): ResolvedConfig {
  if (options === null || typeof options !== "object") throw argumentError("configure", "options", "an object", options);
  const profile = options.profile ?? hostname();
  if (typeof profile !== "string" || profile === "") throw argumentError("configure", "profile", "a non-empty string", profile);
  if (rc === undefined) {
    if (options.norc) rc = null;
    else {
      const path = rcPath();
      rc = { data: readRc(path), path };
    }
  }
  const args: [string, Record<string, unknown>] = ["argument", Object.fromEntries(Object.entries(options).filter(([k]) => !CONTROL.has(k)))];
  const fileLayers: [string, Record<string, unknown>][] = [];
  let chain: string[] = [];
  if (rc !== null) {
    fileLayers.push(["top level", topLevel(rc.data)]);
    const profiles = profileChain(rc.data, profile, rc.path);
    chain = profiles.map((p) => p.name);
    for (const { name, profile: p } of profiles) {
      const { parent: _parent, ...keys } = p;
      fileLayers.push([`profile '${name}'`, keys]);
    }
  }
  const layers = options.force ? [...fileLayers, args] : [args, ...fileLayers];
  const values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  for (const [origin, layer] of layers) {
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      origins[key] = origin;
      if (value === null) {
        delete values[key];
        continue;
      }
      values[key] = origin === "argument" ? value : normalizeValue(key, value, `${origin} in ${rc!.path}`, rc!.path);
    }
  }
  return { profile, file: rc?.path ?? null, chain, values, origins };
}

let configured = false;
/** The Prometheus endpoint, when `metrics` is configured. */
let metricsServer: { close(): Promise<void> } | null = null;

/** Splits AEMP's `cert` (key and certificate in one PEM text) into its two parts. */
export function splitPem(pem: unknown): { cert: string; key: string } {
  if (typeof pem !== "string") throw argumentError("configure", "cert", "PEM text with a certificate and its private key", pem);
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  const key = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(pem)?.[0];
  if (cert === undefined || key === undefined) throw new TypeError("configure: 'cert' must hold both a PEM certificate and a PEM private key");
  return { cert: `${cert}\n`, key: `${key}\n` };
}

/** Expands `%n`, `%u` and a trailing `/` in a node ID. */
export function expandNodeId(spec: string): string {
  let id = spec.replace(/%n/g, hostname()).replace(/%u/g, () => randomString());
  if (id.endsWith("/")) id += randomString();
  return id;
}

function stringList(name: string, value: unknown, fallback: readonly string[]): string[] {
  if (value === undefined) return [...fallback];
  if (typeof value === "string") return [value];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw argumentError("configure", name, "an array of strings", value);
  return value as string[];
}

function serviceList(value: unknown): ServiceSpec[] {
  if (value === undefined) return [];
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || !list.every(isServiceSpec)) throw argumentError("configure", "services", SERVICE_EXPECTED, value);
  return list;
}

function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw argumentError("configure", name, "a positive number of seconds", value);
  return value;
}

/**
 * Names this node and starts networking: listeners on `binds`, links to `seeds`, then
 * the `services`. Reads the rc file unless `norc` (see the module comment).
 *
 * ```ts
 * await configure();                                   // profile = host name, all from the rc file
 * await configure({ profile: "seed" });
 * await configure({ nodeid: "receiver/%u", binds: ["127.0.0.1:*"], seeds: ["127.0.0.1:4040"], secret, norc: true });
 * ```
 */
export async function configure(options: ConfigureOptions = {}): Promise<ConfigureResult> {
  if (configured) throw new Error("configure: already called; a node is configured once, before it talks to anyone");
  const resolved = resolveConfig(options);
  if (resolved.file !== null) {
    const chain = resolved.chain.length === 0 ? "not in the file" : resolved.chain.join(" -> ");
    info(`configuring from ${resolved.file}, profile '${resolved.profile}' (${chain})`);
  }
  const o = resolved.values as ConfigureOptions;
  const nodeid = o.nodeid ?? `${resolved.profile}/`;
  if (typeof nodeid !== "string" || nodeid === "") throw argumentError("configure", "nodeid", "a non-empty string", nodeid);
  const nodeId = expandNodeId(nodeid);
  if (nodeId.includes("#")) throw argumentError("configure", "nodeid", "a string without '#'", nodeId);
  if (o.secret !== undefined && typeof o.secret !== "string") throw argumentError("configure", "secret", "a string", o.secret);
  const framings = stringList("framing_format", o.framing_format, FRAMINGS_WE_READ).filter((f) => (FRAMINGS_WE_READ as readonly string[]).includes(f));
  const services = serviceList(o.services);
  const moduleRoots = stringList("module_roots", o.module_roots, []);
  const db = o.db ?? "global";
  if (!isDbSetting(db)) throw argumentError("configure", "db", DB_SETTING_EXPECTED, db);
  const dbLease = seconds("db_lease", o.db_lease, DEFAULT_LEASE);
  if (o.metrics !== undefined && !isMetricsAddress(o.metrics)) throw argumentError("configure", "metrics", METRICS_EXPECTED, o.metrics);
  const config: NetworkConfig = {
    nodeId,
    binds: stringList("binds", o.binds, ["*"]),
    seeds: stringList("seeds", o.seeds, []),
    secret: o.secret,
    authOffer: stringList("auth_offer", o.auth_offer, DEFAULT_AUTH_OFFER),
    authAccept: stringList("auth_accept", o.auth_accept, DEFAULT_AUTH_ACCEPT),
    framings: framings.includes("json") ? framings : [...framings, "json"],
    monitorTimeout: seconds("monitor_timeout", o.monitor_timeout, 30),
    connectInterval: seconds("connect_interval", o.connect_interval, 2),
    maxPacketSize: o.max_packet_size ?? DEFAULT_MAX_PACKET_SIZE,
    nodelay: o.nodelay === undefined ? true : Boolean(o.nodelay),
    tls: o.cert === undefined ? undefined : splitPem(o.cert),
  };
  configured = true;
  setNodeId(nodeId);
  const net = createNetwork(config);
  registerIntrospection();
  const redis = db === "global" ? null : await openRedisBackend(db, { lease: dbLease });
  const global = new GlobalService(net);
  setNetworkedGlobal(global);
  addInfoSection("db", () => ({ families: dbBackend().ownFamilies(), global: global.isGlobal, master: global.master ?? null }));
  if (redis !== null) {
    info(`database: Redis at ${redis.name}, lease ${dbLease} s`);
    // Entries set before configure (now in the networked global service) move to Redis.
    setDbBackend(redis);
    // Addresses come from Redis first; the global nodes are asked only when there are seeds.
    const seeded = config.seeds.length > 0;
    net.setResolver(async (id) => (await redis.resolve(id)) ?? (seeded ? global.resolve(id) : null));
  }
  net.onSeedUp((seed) => global.seedUp(seed));
  await net.listen();
  let metrics: string | undefined;
  if (o.metrics !== undefined) {
    // Loaded only here: prom-client costs load time and memory a node without metrics should not pay.
    const server = await (await import("../metrics/prometheus.ts")).startMetrics(o.metrics);
    metricsServer = server;
    metrics = server.address;
    info(`metrics served at http://${metrics}/metrics`);
  }
  global.start(net.addresses, net.seedIsSelf);
  redis?.localSet("'l", nodeId, net.addresses);
  net.startSeeds();
  await startServices(services, moduleRoots);
  return { nodeId, addresses: net.addresses, profile: resolved.profile, ...(metrics === undefined ? {} : { metrics }) };
}

/**
 * Leaves the network cleanly: stops reconnecting to seeds, closes every link and
 * listener, and with the Redis database removes this node's entries and closes the
 * connections. Peers see the links end and fire their monitors of this node's ports as
 * for any lost link; local monitors of remote ports fire with
 * `["transport_error", NODE, "node is shutting down"]`. Resolves once the listeners
 * are closed. Harmless without `configure` or when called twice. A node is not
 * configured again afterwards: this is for ending the process.
 */
export async function shutdown(): Promise<void> {
  const net = currentNetwork();
  if (net === null || net.isStopped) return;
  // Let packets queued in this tick reach their sockets first.
  await new Promise<void>((resolve) => setImmediate(resolve));
  await net.stop();
  await metricsServer?.close();
  metricsServer = null;
  // The Redis backend: this node's entries go at once instead of when the lease runs out.
  await closeDbBackend();
}
