/**
 * The `db` URLs of the Redis backend, and what each one connects to:
 * - `redis://[[user]:password@]host:port/N` (`rediss://` for TLS): one Redis server,
 *   database N;
 * - `redis+sentinel://[[user]:password@]host:port,host:port/MASTER[/N]`: the primary
 *   that the Sentinels at those addresses name MASTER (default port 26379); the password
 *   is the data servers' (Sentinels without a password, as usual);
 * - `redis+cluster://[[user]:password@]host:port,host:port`: a Redis Cluster reached
 *   through any of those nodes (default port 6379; a cluster has database 0 only).
 * `rediss+sentinel://` and `rediss+cluster://` use TLS to the data servers.
 */

export interface HostPort {
  host: string;
  port: number;
}

interface Credentials {
  username?: string;
  password?: string;
  tls: boolean;
}

export type RedisTarget =
  | ({ kind: "server"; url: string } & Credentials)
  | ({ kind: "sentinel"; sentinels: HostPort[]; name: string; db: number } & Credentials)
  | ({ kind: "cluster"; nodes: HostPort[] } & Credentials);

/** What `db` accepts besides "global", for error messages. */
export const REDIS_URL_FORMS = "redis://[:password@]host:port/N (rediss:// for TLS), redis+sentinel://host:port,host:port/mastername[/N] or redis+cluster://host:port,host:port";

const MULTI = /^(rediss?)\+(sentinel|cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/@]+)(?:\/(.*))?$/;

function hostList(text: string, defaultPort: number): HostPort[] | null {
  const list: HostPort[] = [];
  for (const item of text.split(",")) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(item.trim());
    if (m === null) return null;
    const port = m[2] === undefined ? defaultPort : Number(m[2]);
    if (port < 1 || port > 65535) return null;
    list.push({ host: m[1].replace(/^\[|\]$/g, ""), port });
  }
  return list;
}

function credentials(user: string | undefined, password: string | undefined, tls: boolean): Credentials {
  const c: Credentials = { tls };
  if (user) c.username = decodeURIComponent(user);
  if (password !== undefined && password !== "") c.password = decodeURIComponent(password);
  return c;
}

/** The target of a Redis `db` URL, or null when it is not one of the forms above. */
export function parseRedisUrl(value: string): RedisTarget | null {
  if (/^rediss?:\/\//.test(value)) {
    try {
      const url = new URL(value);
      const db = url.pathname.replace(/^\//, "");
      if (url.hostname === "" || !(db === "" || /^\d+$/.test(db))) return null;
      return { kind: "server", url: value, ...credentials(url.username, url.password, url.protocol === "rediss:") };
    } catch {
      return null;
    }
  }
  const m = MULTI.exec(value);
  if (m === null) return null;
  const [, scheme, kind, user, password, hosts, path = ""] = m;
  const creds = credentials(user, password, scheme === "rediss");
  if (kind === "cluster") {
    const nodes = hostList(hosts, 6379);
    return nodes !== null && path === "" ? { kind: "cluster", nodes, ...creds } : null;
  }
  const sentinels = hostList(hosts, 26379);
  const pm = /^([^/]+)(?:\/(\d+))?\/?$/.exec(path);
  if (sentinels === null || pm === null) return null;
  return { kind: "sentinel", sentinels, name: decodeURIComponent(pm[1]), db: Number(pm[2] ?? 0), ...creds };
}
