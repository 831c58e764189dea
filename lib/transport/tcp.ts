/**
 * TCP listeners and dialling, the only place that opens sockets for links.
 *
 * Binds are `host:port` as in AEMP: host `*` means every interface, port `*` (or 0) a
 * free port chosen by the OS. The addresses a node advertises (its `'l` entry) are the
 * bound ones, with `*` replaced by this host's IPv4 addresses (loopback last), so
 * nodes on this host and elsewhere can both reach it.
 *
 * Addresses to dial come off the wire (other nodes' `'l` entries), so `dial` never
 * throws: an address that cannot be dialled (`127.0.0.1:99999`, `:`, `[::1]`) gives a
 * socket that fails at once with an `error` event, like any connection that fails,
 * and the caller reports it as it reports those. A listener that fails after it started (e.g. out of file descriptors) logs the
 * error and goes on serving.
 */
import { type Server, Socket, connect, createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { ListenError, argumentError } from "../errors.ts";
import { warn } from "../log.ts";

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
  const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TypeError(`${what}: port must be 0..65535 or '*', received ${JSON.stringify(port)}`);
  return n;
}

/** Where `dial` connects for `address`; throws a TypeError if it cannot be dialled. */
export function dialTarget(address: string): { host: string; port: number } {
  const { host, port } = parseHostPort(address, "address");
  const n = portNumber(port, "address");
  if (n === 0) throw new TypeError(`address: port 0 or '*' cannot be dialled, received ${JSON.stringify(address)}`);
  return { host: host === "*" ? "127.0.0.1" : host, port: n };
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

/**
 * Listens on one bind; resolves once listening. Fails with a `ListenError` naming the
 * bind and the system's reason (e.g. `EADDRINUSE`).
 */
export function listen(bind: string, onSocket: (socket: Socket) => void): Promise<Listener> {
  const { host, port } = parseHostPort(bind, "bind");
  const server = createServer({ noDelay: true }, onSocket);
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void => {
      reject(new ListenError(bind, `cannot listen on ${bind}: ${err.code === "EADDRINUSE" ? "address already in use" : err.message}`, { reason: err.code, cause: err }));
    };
    server.once("error", failed);
    const onListening = () => {
      server.off("error", failed);
      // Accept errors (EMFILE...) must not end the process; the server keeps listening.
      server.on("error", (err) => warn(`listener ${bind}: ${err.message}`));
      const actual = (server.address() as { port: number }).port;
      const hosts = host === "*" ? localIPv4() : [host];
      resolve({ server, bind, addresses: hosts.map((h) => (h.includes(":") ? `[${h}]:${actual}` : `${h}:${actual}`)) });
    };
    if (host === "*") server.listen(portNumber(port, "bind"), onListening);
    else server.listen(portNumber(port, "bind"), host, onListening);
  });
}

/**
 * Starts dialling `address` ("host:port"); the socket emits "connect" or "error", also
 * when the address cannot be dialled at all (see the module comment).
 */
export function dial(address: string): Socket {
  try {
    return connect({ ...dialTarget(address), noDelay: true });
  } catch (err) {
    const socket = new Socket();
    const text = err instanceof Error ? err.message.replace(/^address: /, "") : String(err);
    process.nextTick(() => socket.destroy(new Error(`cannot dial ${JSON.stringify(address)}: ${text}`)));
    return socket;
  }
}
