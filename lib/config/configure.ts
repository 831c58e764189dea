/**
 * `configure`: names the node and makes it a networked node.
 *
 * Keys and defaults are AEMP's (PROTOCOL.md section 12). Called at most once, before
 * the node talks to anyone: the node ID is set at once (so ports created afterwards
 * carry it), listeners and seed links start in the background, and the returned
 * promise resolves when the listeners are bound, with the addresses chosen.
 *
 * Node ID expansion: `%n` is the host name, `%u` a random string, a trailing `/` gets
 * a random string appended; without a node ID the node is `PROFILE/` + random, the
 * profile being the host name unless given.
 *
 * Profiles and the rc file come with the `aemp` tool; until then only arguments count.
 */
import { hostname } from "node:os";
import { argumentError } from "../errors.ts";
import { randomString, setNodeId } from "../kernel/ids.ts";
import { setNetworkedGlobal } from "../global/current.ts";
import { GlobalService } from "../global/global.ts";
import { type NetworkConfig, createNetwork } from "../node/network.ts";
import { DEFAULT_MAX_PACKET_SIZE, FRAMINGS_WE_READ } from "../transport/framing.ts";
import { DEFAULT_AUTH_ACCEPT, DEFAULT_AUTH_OFFER } from "../transport/handshake.ts";

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
}

export interface ConfigureResult {
  nodeId: string;
  /** The addresses this node listens on, ports resolved. */
  addresses: string[];
}

let configured = false;

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

function seconds(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw argumentError("configure", name, "a positive number of seconds", value);
  return value;
}

/**
 * Names this node and starts networking: listeners on `binds`, links to `seeds`.
 *
 * ```ts
 * await configure({ nodeid: "receiver/%u", binds: ["127.0.0.1:*"], seeds: ["127.0.0.1:4040"], secret });
 * ```
 */
export async function configure(options: ConfigureOptions = {}): Promise<ConfigureResult> {
  if (configured) throw new Error("configure: already called; a node is configured once, before it talks to anyone");
  if (options === null || typeof options !== "object") throw argumentError("configure", "options", "an object", options);
  const profile = options.profile ?? hostname();
  const nodeid = options.nodeid ?? `${profile}/`;
  if (typeof nodeid !== "string" || nodeid === "") throw argumentError("configure", "nodeid", "a non-empty string", nodeid);
  const nodeId = expandNodeId(nodeid);
  if (nodeId.includes("#")) throw argumentError("configure", "nodeid", "a string without '#'", nodeId);
  if (options.secret !== undefined && typeof options.secret !== "string") throw argumentError("configure", "secret", "a string", options.secret);
  const framings = stringList("framing_format", options.framing_format, FRAMINGS_WE_READ).filter((f) => (FRAMINGS_WE_READ as readonly string[]).includes(f));
  const config: NetworkConfig = {
    nodeId,
    binds: stringList("binds", options.binds, ["*"]),
    seeds: stringList("seeds", options.seeds, []),
    secret: options.secret,
    authOffer: stringList("auth_offer", options.auth_offer, DEFAULT_AUTH_OFFER),
    authAccept: stringList("auth_accept", options.auth_accept, DEFAULT_AUTH_ACCEPT),
    framings: framings.includes("json") ? framings : [...framings, "json"],
    monitorTimeout: seconds("monitor_timeout", options.monitor_timeout, 30),
    connectInterval: seconds("connect_interval", options.connect_interval, 2),
    maxPacketSize: options.max_packet_size ?? DEFAULT_MAX_PACKET_SIZE,
    nodelay: options.nodelay === undefined ? true : Boolean(options.nodelay),
    tls: options.cert === undefined ? undefined : splitPem(options.cert),
  };
  configured = true;
  setNodeId(nodeId);
  const net = createNetwork(config);
  const global = new GlobalService(net);
  setNetworkedGlobal(global);
  net.onSeedUp((seed) => global.seedUp(seed));
  await net.listen();
  global.start(net.addresses, net.seedIsSelf);
  net.startSeeds();
  return { nodeId, addresses: net.addresses };
}
