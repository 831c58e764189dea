/**
 * The rc file: the configuration database that `configure()` reads and `aemp` edits.
 *
 * Layout (the same as Perl AEMP's, so one file can serve both programs):
 *
 * ```json
 * { "version": 1, "secret": "...", "seeds": ["10.0.0.1:4040"],
 *   "profile": { "seed": { "binds": ["*:4040"], "parent": "base" } } }
 * ```
 *
 * - Location: `$AEMP_RC` when set and non-empty, else `~/.aemp.json` when it exists,
 *   else Perl's file when it exists (`$PERL_ANYEVENT_MP_RC`, or `~/.perl-anyevent-mp`),
 *   so a node joins an existing Perl network with no setup; else `~/.aemp.json` (where
 *   a new file goes). `rcLocation()` says which and why (`aemp showconfig` prints it).
 * - A missing file is an empty configuration. A file that exists but cannot be read,
 *   is not JSON, or does not have the layout above is an error naming the file, never
 *   a silent default: a node must not start with a configuration nobody wrote.
 * - Writing is atomic: a temporary file in the same directory (mode 0600, since it
 *   holds the secret) is written, synced and renamed over the file; the previous
 *   version is kept as `FILE.bak` (also 0600). A symlinked rc file is updated where
 *   the link points. The JSON is written as Perl's aemp writes it (sorted keys,
 *   three-space indent), so both tools produce the same text.
 * - Unknown keys (Perl options this implementation does not use, such as `autocork`)
 *   are kept as they are.
 *
 * `CONFIG_KEYS` describes every key we use: how to parse it from a command line and
 * how to check (and normalise) a stored value. Perl's aemp stores command-line values
 * as strings (`"30"`, `"1"`), so numbers and booleans are accepted in that form too.
 */
import { randomBytes } from "node:crypto";
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, chmodSync, unlinkSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { ConfigError } from "../errors.ts";
import { DB_SETTING_EXPECTED, isDbSetting } from "../db/backend.ts";
import { isValidNodeId } from "../kernel/ids.ts";
import { parseHostPort } from "../transport/tcp.ts";

/** The layout version this implementation reads and writes. */
export const RC_VERSION = 1;

/** One profile: configuration keys, plus `parent` naming the profile it inherits from. */
export type RcProfile = Record<string, unknown> & { parent?: string };

/** The whole file. Keys other than `version` and `profile` are the top-level configuration. */
export type RcData = Record<string, unknown> & { version: number; profile?: Record<string, RcProfile> };

/** Which rc file is used and why (see the module comment). */
export interface RcLocation {
  path: string;
  /** `$AEMP_RC`, `~/.aemp.json`, `$PERL_ANYEVENT_MP_RC` or `~/.perl-anyevent-mp`. */
  source: string;
}

/** The rc file to use (see the module comment). */
export function rcLocation(): RcLocation {
  const env = process.env.AEMP_RC;
  if (env !== undefined && env !== "") return { path: env, source: "$AEMP_RC" };
  const ours = join(homedir(), ".aemp.json");
  if (existsSync(ours)) return { path: ours, source: "~/.aemp.json" };
  const perlEnv = process.env.PERL_ANYEVENT_MP_RC;
  if (perlEnv !== undefined && perlEnv !== "" && existsSync(perlEnv)) return { path: perlEnv, source: "$PERL_ANYEVENT_MP_RC (Perl's; ~/.aemp.json does not exist)" };
  const perl = join(homedir(), ".perl-anyevent-mp");
  if (existsSync(perl)) return { path: perl, source: "~/.perl-anyevent-mp (Perl's; ~/.aemp.json does not exist)" };
  return { path: ours, source: "~/.aemp.json" };
}

/** The rc file to use: `rcLocation().path`. */
export function rcPath(): string {
  return rcLocation().path;
}

/** An empty configuration (what a missing file means). */
export function emptyRc(): RcData {
  return { version: RC_VERSION };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * Reads and checks the rc file. A missing file gives an empty configuration; anything
 * else that goes wrong throws a `ConfigError` naming the file.
 */
export function readRc(path: string = rcPath()): RcData {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") return emptyRc();
    const why = e.code === "EACCES" ? "permission denied" : e.code === "EISDIR" ? "it is a directory" : e.message;
    throw new ConfigError(`cannot read the aemp rc file ${path}: ${why}`, { file: path, cause: err });
  }
  if (text.trim() === "") return emptyRc();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the aemp rc file ${path} is not valid JSON (${(err as Error).message}); fix it or restore ${path}.bak`, { file: path, cause: err });
  }
  return checkRc(data, path);
}

/** Checks the layout of parsed rc data; throws a `ConfigError` naming `path`. */
export function checkRc(data: unknown, path: string): RcData {
  const bad = (what: string): ConfigError => new ConfigError(`the aemp rc file ${path} is malformed: ${what}`, { file: path });
  if (!isObject(data)) throw bad("the top level must be a JSON object");
  const version = data.version ?? RC_VERSION;
  if (Number(version) !== RC_VERSION) throw bad(`version ${JSON.stringify(version)} is not supported (this aemp reads version ${RC_VERSION})`);
  const profiles = data.profile;
  if (profiles !== undefined && profiles !== null) {
    if (!isObject(profiles)) throw bad(`"profile" must be an object of profiles`);
    for (const [name, profile] of Object.entries(profiles)) {
      if (!isObject(profile)) throw bad(`profile '${name}' must be an object`);
      if (profile.parent !== undefined && profile.parent !== null && typeof profile.parent !== "string") throw bad(`profile '${name}': "parent" must be a profile name`);
    }
  }
  return { ...data, version: RC_VERSION } as RcData;
}

/**
 * JSON as Perl's JSON::XS `pretty canonical` writes it: sorted keys, three-space
 * indent, a space on both sides of each colon.
 */
export function formatRc(data: unknown): string {
  return `${pretty(data, "")}\n`;
}

function pretty(v: unknown, indent: string): string {
  const inner = `${indent}   `;
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return `[\n${v.map((x) => inner + pretty(x, inner)).join(",\n")}\n${indent}]`;
  }
  if (isObject(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
    if (keys.length === 0) return "{}";
    return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)} : ${pretty(v[k], inner)}`).join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * Writes the rc file atomically (mode 0600), keeping the previous version as
 * `FILE.bak`. Creates the directory if needed.
 */
export function writeRc(data: RcData, path: string = rcPath()): void {
  let target = path;
  try {
    target = realpathSync(path);
  } catch {
    // Does not exist yet: write it where it was asked for.
  }
  const dir = dirname(target);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, formatRc({ ...data, version: RC_VERSION }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      copyFileSync(target, `${target}.bak`);
      chmodSync(`${target}.bak`, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Already renamed, or never created.
    }
    throw new ConfigError(`cannot write the aemp rc file ${path}: ${(err as Error).message}`, { file: path, cause: err });
  }
  try {
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Not every platform can sync a directory; the rename is done either way.
  }
}

/** The top-level configuration keys of the file (everything but `version` and `profile`). */
export function topLevel(data: RcData): Record<string, unknown> {
  const { version: _v, profile: _p, ...rest } = data;
  return rest;
}

/** The names of the profiles in the file. */
export function profileNames(data: RcData): string[] {
  return Object.keys(data.profile ?? {});
}

/**
 * The chain of profiles `name` inherits from, root first, ending with `name` itself.
 * Empty if there is no such profile. A parent that does not exist, or a parent loop,
 * is a `ConfigError`.
 */
export function profileChain(data: RcData, name: string, path: string): { name: string; profile: RcProfile }[] {
  const profiles = data.profile ?? {};
  const chain: { name: string; profile: RcProfile }[] = [];
  const seen = new Set<string>();
  let current: string | undefined = name;
  while (current !== undefined) {
    const profile: RcProfile | undefined = profiles[current];
    if (profile === undefined) {
      if (current === name) return [];
      const child = chain[0].name;
      throw new ConfigError(`profile '${child}' in ${path} has parent '${current}', which does not exist`, { file: path });
    }
    if (seen.has(current)) throw new ConfigError(`profiles in ${path} inherit from each other in a loop: ${[...seen, current].join(" -> ")}`, { file: path });
    seen.add(current);
    chain.unshift({ name: current, profile });
    current = typeof profile.parent === "string" && profile.parent !== "" ? profile.parent : undefined;
  }
  return chain;
}

// ---- the keys ----------------------------------------------------------------------------

/** Marks a value a key does not accept. */
export const INVALID: unique symbol = Symbol("invalid");

/** The largest `max_packet_size`: a packet is decoded as one string, and V8's strings end near 2^29. */
export const MAX_PACKET_SIZE_LIMIT = 512 * 1024 * 1024;

/** Keys Perl's AnyEvent::MP reads and this implementation has no use for (not warned about). */
export const PERL_ONLY_KEYS: ReadonlySet<string> = new Set(["autocork"]);

export interface KeySpec {
  /** What a valid value is, for messages ("a positive number of seconds"). */
  readonly expected: string;
  /** One line for `aemp help`. */
  readonly summary: string;
  /** Whether the key belongs to profiles only (`parent`). */
  readonly profileOnly?: boolean;
  /** The value a command-line argument stands for (INVALID if it cannot be one). */
  parse(text: string): unknown;
  /** Checks a stored or passed value and returns it normalised (INVALID if wrong). */
  normalize(value: unknown): unknown;
}

function toBool(v: unknown): boolean | typeof INVALID {
  if (typeof v === "boolean") return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === "string") {
    const s = v.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(s)) return true;
    if (["0", "", "false", "no", "off"].includes(s)) return false;
  }
  return INVALID;
}

function toPositive(v: unknown, integer: boolean): number | typeof INVALID {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) return INVALID;
  return n;
}

function nonEmptyString(v: unknown): string | typeof INVALID {
  return typeof v === "string" && v !== "" ? v : INVALID;
}

/** A list from the command line: a JSON array, or items separated by commas. */
export function parseList(text: string): unknown {
  const t = text.trim();
  if (t.startsWith("[")) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return INVALID;
    }
  }
  return t.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function stringList(check: (s: string) => boolean = () => true) {
  return (v: unknown): string[] | typeof INVALID => {
    const list = typeof v === "string" ? [v] : v;
    if (!Array.isArray(list) || list.some((s) => typeof s !== "string" || s === "" || !check(s))) return INVALID;
    return [...(list as string[])];
  };
}

function isAddress(spec: string, portMayBeAny: boolean): boolean {
  try {
    const { port } = parseHostPort(spec);
    if (port === "*" || port === "0") return portMayBeAny;
    const n = Number(port);
    return Number.isInteger(n) && n > 0 && n < 65536;
  } catch {
    return false;
  }
}

function hasPem(v: unknown): string | typeof INVALID {
  if (typeof v !== "string") return INVALID;
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(v);
  const key = /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.test(v);
  return cert && key ? v : INVALID;
}

const identity = (text: string): unknown => text;

/** What the `metrics` key takes, for messages. */
export const METRICS_EXPECTED = "a host:port to serve metrics on (host * = every interface, port * or 0 = any free port)";

/**
 * Whether `value` is a valid `metrics` setting: `host:port`, either may be `*` (port 0
 * too). The host is required, so that listening on every interface is always asked for.
 */
export function isMetricsAddress(value: unknown): value is string {
  return typeof value === "string" && value.includes(":") && isAddress(value, true);
}

/** A `services` entry: a name, or `[name, ...args]` (lib/config/services.ts starts them). */
export type ServiceSpec = string | [string, ...unknown[]];

/** Whether `v` is a valid `services` entry. */
export function isServiceSpec(v: unknown): v is ServiceSpec {
  if (typeof v === "string") return v !== "";
  return Array.isArray(v) && typeof v[0] === "string" && v[0] !== "";
}

/** Every configuration key this implementation uses, as the rc file and `configure` name it. */
export const CONFIG_KEYS: Readonly<Record<string, KeySpec>> = {
  secret: { expected: "a non-empty string", summary: "the shared secret that authenticates nodes to each other", parse: identity, normalize: nonEmptyString },
  cert: {
    expected: "PEM text holding a certificate and its private key",
    summary: "the network's shared TLS certificate and key (PEM); enables TLS",
    parse: identity,
    normalize: hasPem,
  },
  nodeid: {
    expected: "a non-empty node ID without '#', ';' or control characters (%n: host name, %u: random, trailing /: random)",
    summary: "the node ID (default PROFILE/random)",
    parse: identity,
    normalize: (v) => (isValidNodeId(v) ? v : INVALID),
  },
  binds: {
    expected: "a list of host:port listen addresses (host or port may be *)",
    summary: "where to listen (default [\"*\"]: every interface, any free port)",
    parse: parseList,
    normalize: stringList((s) => s === "*" || isAddress(s, true)),
  },
  seeds: {
    expected: "a list of host:port seed addresses",
    summary: "host:port of the seed nodes",
    parse: parseList,
    normalize: stringList((s) => isAddress(s, false)),
  },
  services: {
    expected: "a list of service names or [name, args...] lists (JSON)",
    summary: "registered services/init functions or modules (NAME::) to start; [name, args...] passes arguments",
    parse: parseList,
    normalize: (v) => {
      const list = typeof v === "string" ? [v] : v;
      return Array.isArray(list) && list.every(isServiceSpec) ? [...list] : INVALID;
    },
  },
  module_roots: {
    expected: "a list of directories",
    summary: "directories service modules may be loaded from (relative to the working directory)",
    parse: parseList,
    normalize: stringList(),
  },
  monitor_timeout: {
    expected: "a positive number of seconds",
    summary: "seconds: handshake limit and longest seed retry delay (default 30)",
    parse: identity,
    normalize: (v) => toPositive(v, false),
  },
  connect_interval: {
    expected: "a positive number of seconds",
    summary: "seconds between connection attempts (default 2)",
    parse: identity,
    normalize: (v) => toPositive(v, false),
  },
  framing_format: {
    expected: "a list of framing names (JSON array, e.g. [\"superjson\",\"json\"])",
    summary: "framings to read, preferred first (default [\"superjson\",\"cbor\",\"json\"])",
    parse: parseList,
    normalize: stringList(),
  },
  auth_offer: {
    expected: "a list of auth method names (JSON array)",
    summary: "auth methods to use, preferred first (default [\"tls_sha3_512\",\"hmac_sha3_512\"])",
    parse: parseList,
    normalize: stringList(),
  },
  auth_accept: {
    expected: "a list of auth method names (JSON array)",
    summary: "auth methods accepted from peers",
    parse: parseList,
    normalize: stringList(),
  },
  nodelay: { expected: "a boolean (1/0, true/false)", summary: "TCP_NODELAY on links (default 1)", parse: identity, normalize: toBool },
  secure: {
    expected: "a boolean (1/0, true/false)",
    summary: "refuse remote code execution (always the case here; kept for Perl)",
    parse: identity,
    normalize: toBool,
  },
  max_packet_size: {
    expected: `a whole number of bytes, 1 to ${MAX_PACKET_SIZE_LIMIT} (512 MiB)`,
    summary: "largest packet accepted from a peer, in bytes (default 64 MiB)",
    parse: identity,
    normalize: (v) => {
      const n = toPositive(v, true);
      return n !== INVALID && n <= MAX_PACKET_SIZE_LIMIT ? n : INVALID;
    },
  },
  db: {
    expected: DB_SETTING_EXPECTED,
    summary: "where the database lives: \"global\" (the global nodes, default) or a Redis URL",
    parse: identity,
    normalize: (v) => (isDbSetting(v) ? v : INVALID),
  },
  db_lease: {
    expected: "a positive number of seconds",
    summary: "seconds (Redis database): a dead node's entries vanish this long after its last renewal (default 10)",
    parse: identity,
    normalize: (v) => toPositive(v, false),
  },
  metrics: {
    expected: METRICS_EXPECTED,
    summary: "host:port to serve Prometheus metrics on, at /metrics (default: off)",
    parse: identity,
    normalize: (v) => (isMetricsAddress(v) ? v : INVALID),
  },
  parent: { expected: "a profile name", summary: "the profile this one inherits from", profileOnly: true, parse: identity, normalize: nonEmptyString },
};

/**
 * Checks a value for a key and returns it normalised; throws a `ConfigError` saying
 * where it came from (`where`, e.g. "profile 'seed' in /home/me/.aemp.json").
 */
export function normalizeValue(key: string, value: unknown, where: string, file?: string): unknown {
  const spec = CONFIG_KEYS[key];
  if (spec === undefined) return value;
  const v = spec.normalize(value);
  if (v === INVALID) throw new ConfigError(`${where}: '${key}' must be ${spec.expected}, found ${JSON.stringify(value)}`, { file });
  return v;
}

/**
 * The value to store for `key` given a command-line argument (numbers and booleans
 * are stored as numbers, as Perl does). Throws a `ConfigError` for a bad value.
 */
export function valueFromArgument(key: string, text: string): unknown {
  const spec = CONFIG_KEYS[key];
  if (spec === undefined) throw new ConfigError(`unknown configuration key '${key}' (known: ${Object.keys(CONFIG_KEYS).join(", ")})`);
  const parsed = spec.parse(text);
  const v = parsed === INVALID ? INVALID : spec.normalize(parsed);
  if (v === INVALID) throw new ConfigError(`'${key}' must be ${spec.expected}, received ${JSON.stringify(text)}`);
  return typeof v === "boolean" ? (v ? 1 : 0) : v;
}
