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
import { NODE, isValidNodeId, randomString, setNodeId } from "../kernel/ids.ts";
import { setNetworkedGlobal, unsetNetworkedGlobal } from "../global/current.ts";
import { closeDbBackend, dbBackend, setDbBackend } from "../db/backend.ts";
import { DEFAULT_LEASE, openRedisBackend } from "../db/redis.ts";
import { GlobalService } from "../global/global.ts";
import { info, warn } from "../log.ts";
import { addInfoSection, registerIntrospection } from "../node/introspection.ts";
import { type Network, type NetworkConfig, createNetwork, currentNetwork, discardNetwork } from "../node/network.ts";
import { DEFAULT_MAX_PACKET_SIZE, FRAMINGS_WE_READ } from "../transport/framing.ts";
import { DEFAULT_AUTH_ACCEPT, DEFAULT_AUTH_OFFER } from "../transport/handshake.ts";
import { CONFIG_KEYS, INVALID, PERL_ONLY_KEYS, type RcData, normalizeValue, profileChain, rcPath, readRc, topLevel } from "./rc.ts";
import { type ServiceSpec, startServices } from "./services.ts";

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

/** Checks a `configure` argument against its key's rule: a TypeError naming the option if wrong. */
function normalizeArgument(key: string, value: unknown): unknown {
  const spec = CONFIG_KEYS[key];
  if (spec === undefined || spec.profileOnly === true) return value;
  const v = spec.normalize(value);
  if (v === INVALID) throw argumentError("configure", key, spec.expected, value);
  return v;
}

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
      values[key] = origin === "argument" ? normalizeArgument(key, value) : normalizeValue(key, value, `${origin} in ${rc!.path}`, rc!.path);
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

/** Everything `configure` starts, worked out (and checked) before anything starts. */
interface Plan {
  nodeId: string;
  network: NetworkConfig;
  services: ServiceSpec[];
  moduleRoots: string[];
  db: string;
  dbLease: number;
  metrics: string | undefined;
}

/**
 * Checks the merged values and turns them into a plan. Every value was checked against
 * its key's rule by `resolveConfig` already (arguments as TypeErrors naming the option,
 * file values as ConfigErrors naming the file); what is left are the rules that depend
 * on the result: the expanded node ID.
 */
function plan(resolved: ResolvedConfig): Plan {
  const o = resolved.values as ConfigureOptions;
  const nodeId = expandNodeId(o.nodeid ?? `${resolved.profile}/`);
  if (!isValidNodeId(nodeId)) throw argumentError("configure", "nodeid", `a node ID without '#', ';' or control characters once expanded (the profile '${resolved.profile}' is part of the default)`, nodeId);
  const framings = (o.framing_format ?? FRAMINGS_WE_READ).filter((f) => (FRAMINGS_WE_READ as readonly string[]).includes(f));
  return {
    nodeId,
    network: {
      nodeId,
      binds: o.binds ?? ["*"],
      seeds: o.seeds ?? [],
      secret: o.secret,
      authOffer: o.auth_offer ?? [...DEFAULT_AUTH_OFFER],
      authAccept: o.auth_accept ?? [...DEFAULT_AUTH_ACCEPT],
      framings: framings.includes("json") ? framings : [...framings, "json"],
      monitorTimeout: o.monitor_timeout ?? 30,
      connectInterval: o.connect_interval ?? 2,
      maxPacketSize: o.max_packet_size ?? DEFAULT_MAX_PACKET_SIZE,
      nodelay: o.nodelay === undefined ? true : Boolean(o.nodelay),
      tls: o.cert === undefined ? undefined : splitPem(o.cert),
    },
    services: o.services ?? [],
    moduleRoots: o.module_roots ?? [],
    db: o.db ?? "global",
    dbLease: o.db_lease ?? DEFAULT_LEASE,
    metrics: o.metrics,
  };
}

/** Warns once about keys nobody reads (Perl ignores them too; a typo should not go unnoticed). */
function warnUnknownKeys(resolved: ResolvedConfig): void {
  for (const [key, origin] of Object.entries(resolved.origins)) {
    if (CONFIG_KEYS[key] !== undefined && CONFIG_KEYS[key].profileOnly !== true) continue;
    if (PERL_ONLY_KEYS.has(key)) continue;
    const where = origin === "argument" ? "argument" : `${origin} in ${resolved.file}`;
    warn(`configure: ignoring unknown option '${key}' (${where}); known options: ${configureKeys().join(", ")}`);
  }
}

function configureKeys(): string[] {
  return [...Object.keys(CONFIG_KEYS).filter((k) => CONFIG_KEYS[k].profileOnly !== true), ...CONTROL].sort();
}

/**
 * Names this node and starts networking: listeners on `binds`, links to `seeds`, then
 * the `services`. Reads the rc file unless `norc` (see the module comment).
 *
 * Every option is checked before anything starts. If `configure` rejects (a bad value,
 * a bind that cannot listen, a service that fails), nothing it started is left
 * running and it may be called again.
 *
 * ```ts
 * await configure();                                   // profile = host name, all from the rc file
 * await configure({ profile: "seed" });
 * await configure({ nodeid: "receiver/%u", binds: ["127.0.0.1:*"], seeds: ["127.0.0.1:4040"], secret, norc: true });
 * ```
 */
export async function configure(options: ConfigureOptions = {}): Promise<ConfigureResult> {
  if (configured) throw new Error("configure: already called; a node is configured once, before it talks to anyone");
  configured = true;
  try {
    return await start(options);
  } catch (err) {
    configured = false;
    throw err;
  }
}

async function start(options: ConfigureOptions): Promise<ConfigureResult> {
  const resolved = resolveConfig(options);
  const p = plan(resolved);
  if (resolved.file !== null) {
    const chain = resolved.chain.length === 0 ? "not in the file" : resolved.chain.join(" -> ");
    info(`configuring from ${resolved.file}, profile '${resolved.profile}' (${chain})`);
  }
  warnUnknownKeys(resolved);
  if (p.network.secret === undefined && p.network.tls === undefined) {
    warn("configure: no secret and no certificate are configured, so no other node can connect to this one (aemp gensecret)");
  }
  // What has been started, undone in reverse order if a later step fails.
  const undo: (() => unknown)[] = [];
  try {
    const previousId = NODE();
    setNodeId(p.nodeId);
    undo.push(() => setNodeId(previousId));
    const net = createNetwork(p.network);
    undo.push(() => discardNetwork(net));
    registerIntrospection();
    const redis = p.db === "global" ? null : await openRedisBackend(p.db, { lease: p.dbLease });
    if (redis !== null) undo.push(() => redis.close());
    const global = new GlobalService(net);
    net.onSeedUp((seed) => global.seedUp(seed));
    await net.listen();
    setNetworkedGlobal(global);
    undo.push(() => unsetNetworkedGlobal(global));
    addInfoSection("db", () => ({ families: dbBackend().ownFamilies(), global: global.isGlobal, master: global.master ?? null }));
    if (redis !== null) {
      info(`database: Redis at ${redis.name}, lease ${p.dbLease} s`);
      // Entries set before configure (now in the networked global service) move to Redis.
      setDbBackend(redis);
      undo.push(() => setDbBackend(null));
      // Addresses come from Redis first; the global nodes are asked only when there are seeds.
      const seeded = p.network.seeds.length > 0;
      net.setResolver(async (id) => (await redis.resolve(id)) ?? (seeded ? global.resolve(id) : null));
    }
    let metrics: string | undefined;
    if (p.metrics !== undefined) {
      // Loaded only here: prom-client costs load time and memory a node without metrics should not pay.
      const server = await (await import("../metrics/prometheus.ts")).startMetrics(p.metrics);
      metricsServer = server;
      undo.push(() => closeMetrics());
      metrics = server.address;
      info(`metrics served at http://${metrics}/metrics`);
    }
    global.start(net.addresses, net.seedIsSelf);
    redis?.localSet("'l", p.nodeId, net.addresses);
    net.startSeeds();
    await startServices(p.services, p.moduleRoots);
    return { nodeId: p.nodeId, addresses: net.addresses, profile: resolved.profile, ...(metrics === undefined ? {} : { metrics }) };
  } catch (err) {
    for (const step of undo.reverse()) await step();
    throw err;
  }
}

/** Options of `shutdown`. */
export interface ShutdownOptions {
  /**
   * Seconds to let queued messages leave before the links are closed anyway. Default
   * {@link DEFAULT_SHUTDOWN_TIMEOUT}.
   */
  timeout?: number;
}

/** How a shutdown went. */
export interface ShutdownResult {
  /** Messages to other nodes that had not been handed to the OS by the deadline, and were dropped. */
  abandoned: number;
}

/** Seconds `shutdown` waits, by default, for queued messages to leave. */
export const DEFAULT_SHUTDOWN_TIMEOUT = 5;

let leaving: Promise<ShutdownResult> | undefined;
let announceClosed: (result: ShutdownResult) => void = () => {};
const closedPromise = new Promise<ShutdownResult>((resolve) => {
  announceClosed = resolve;
});

/**
 * Leaves the network cleanly. First it drains, for at most `timeout` seconds
 * (default 5): the run queue, the messages queued for nodes being connected, and
 * every link's unsent messages. Then it stops reconnecting to seeds, tells our own
 * peers it is leaving (their monitors of this node's ports fire with
 * `["transport_error", NODE, "node shut down"]` instead of a lost link's text; Perl
 * peers see the link end), ends every link cleanly and closes the listeners; with the
 * Redis database it removes this node's entries. Local monitors of remote ports fire
 * with `["transport_error", NODE, "node is shutting down"]`.
 *
 * Resolves to `{ abandoned }`, the number of messages that were still waiting when the
 * deadline passed and were dropped (also logged as a warning); 0 means everything
 * sent before `shutdown` left. Harmless without `configure`; calling it again returns
 * the same promise. A node is not configured again afterwards: this is for ending the
 * process.
 */
export function shutdown(options: ShutdownOptions = {}): Promise<ShutdownResult> {
  if (options === null || typeof options !== "object") return Promise.reject(argumentError("shutdown", "options", "an object like { timeout }", options));
  const { timeout = DEFAULT_SHUTDOWN_TIMEOUT } = options;
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout < 0) {
    return Promise.reject(argumentError("shutdown", "timeout", "a finite number of seconds >= 0", timeout));
  }
  const net = currentNetwork();
  if (net === null) {
    const result = { abandoned: 0 };
    announceClosed(result);
    return Promise.resolve(result);
  }
  leaving ??= leave(net, timeout);
  return leaving;
}

async function closeMetrics(): Promise<void> {
  await metricsServer?.close();
  metricsServer = null;
}

async function leave(net: Network, timeout: number): Promise<ShutdownResult> {
  const abandoned = await net.stop(timeout);
  await closeMetrics();
  // The Redis backend: this node's entries go at once instead of when the lease runs out.
  await closeDbBackend();
  if (abandoned > 0) warn(`shutdown: dropped ${abandoned} messages still waiting to be sent after ${timeout} s`);
  const result = { abandoned };
  announceClosed(result);
  return result;
}

/**
 * Resolves once this node has shut down, whoever called `shutdown()` (a service, a
 * monitor, `aemp run` on SIGTERM), with what `shutdown` resolved to. For a program
 * whose main code only sets things up: `await configure(...); ...; await closed();`.
 */
export function closed(): Promise<ShutdownResult> {
  return closedPromise;
}
