/**
 * TCP listeners and dialling, the only place that opens sockets for links.
 *
 * Binds are `host:port` as in AEMP: host `*` means every interface, port `*` (or 0) a
 * free port chosen by the OS. The addresses a node advertises (its `'l` entry) are the
 * bound ones, with `*` replaced by this host's IPv4 addresses (loopback last), so
 * nodes on this host and elsewhere can both reach it.
 */
import { type Server, type Socket, connect, createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { argumentError } from "../errors.ts";

export interface Listener {
  server: Server;
  /** What was asked for, e.g. "*:4040". */
  bind: string;
  /** The addresses to advertise for it, e.g. ["10.0.0.5:4040", "127.0.0.1:4040"]. */
  addresses: string[];
}

/** Splits "host:port" (IPv6 hosts in brackets); `*` stays `*`. */
export function parseHostPort(spec: string, what = "address"): { host: string; port: string } {
  if (typeof spec !== "string") throw argumentError("parseHostPort", what, "a host:port string", spec);
  const m = /^(?:\[([^\]]+)\]|([^:]*)):([^:]+)$/.exec(spec) ?? /^()()([^:]+)$/.exec(spec);
  if (spec === "*") return { host: "*", port: "*" };
  if (m === null) throw new TypeError(`${what} must look like host:port, received ${JSON.stringify(spec)}`);
  const host = m[1] ?? m[2] ?? "";
  return { host: host === "" ? "*" : host, port: m[3] };
}

function portNumber(port: string, what: string): number {
  if (port === "*") return 0;
  const n = Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TypeError(`${what}: port must be 0..65535 or '*', received ${JSON.stringify(port)}`);
  return n;
}

function localIPv4(): string[] {
  const external: string[] = [];
  const loopback: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== "IPv4") continue;
      (a.internal ? loopback : external).push(a.address);
    }
  }
  return [...external, ...loopback];
}

/** Listens on one bind; resolves once listening. */
export function listen(bind: string, onSocket: (socket: Socket) => void): Promise<Listener> {
  const { host, port } = parseHostPort(bind, "bind");
  const server = createServer({ noDelay: true }, onSocket);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const onListening = () => {
      server.off("error", reject);
      const actual = (server.address() as { port: number }).port;
      const hosts = host === "*" ? localIPv4() : [host];
      resolve({ server, bind, addresses: hosts.map((h) => (h.includes(":") ? `[${h}]:${actual}` : `${h}:${actual}`)) });
    };
    if (host === "*") server.listen(portNumber(port, "bind"), onListening);
    else server.listen(portNumber(port, "bind"), host, onListening);
  });
}

/** Starts dialling `address` ("host:port"); the socket emits "connect" or "error". */
export function dial(address: string): Socket {
  const { host, port } = parseHostPort(address, "address");
  return connect({ host: host === "*" ? "127.0.0.1" : host, port: portNumber(port, "address"), noDelay: true });
}
