/**
 * Every error class aemp throws or rejects with. Each has `name` equal to its class
 * name and a stable string `code` (listed in the README's Errors section) so callers
 * can branch without parsing messages. `AempErrorCode` is the union of those codes; a
 * spec checks it against the README's table.
 *
 * lib/index.ts re-exports the classes and code types by name: the helpers at the end
 * of this file are internal.
 */
import type { KillReason } from "./kernel/types.ts";

/** The codes a `ProtocolError` can carry: what broke the protocol. */
export type ProtocolErrorCode =
  | "ERR_GREETING"
  | "ERR_VERSION"
  | "ERR_ECHO"
  | "ERR_SELF"
  | "ERR_ALREADY_CONNECTED"
  | "ERR_NO_COMMON_AUTH"
  | "ERR_NO_COMMON_FRAMING"
  | "ERR_AUTH_UNSUPPORTED"
  | "ERR_AUTH_MISMATCH"
  | "ERR_BAD_AUTH_LINE"
  | "ERR_BAD_FRAMING"
  | "ERR_NO_SECRET"
  | "ERR_HANDSHAKE_TOO_LONG"
  | "ERR_PACKET_TOO_LARGE"
  | "ERR_BAD_FRAME"
  | "ERR_NOT_A_PACKET"
  | "ERR_TLS";

/** Every code an `AempError` can carry (the README's Errors section). */
export type AempErrorCode =
  | "ERR_NO_PORT_CONTEXT"
  | "ERR_PORT_KILLED"
  | "ERR_UNKNOWN_INIT"
  | "ERR_CONFIG"
  | "ERR_SERVICE"
  | "ERR_DB_UNAVAILABLE"
  | "ERR_DUPLICATE_INSTANCE"
  | "ERR_DATACONN"
  | "ERR_DATACONN_LOST"
  | "ERR_UNENCODABLE"
  | "ERR_MESSAGE_TOO_LARGE"
  | "ERR_LISTEN"
  | ProtocolErrorCode;

/** Base class: all aemp errors carry a stable `code`. */
export class AempError extends Error {
  readonly code: AempErrorCode;
  constructor(code: AempErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A function that needs a port context (`SELF()`, `psub`, `mon(port)`, `get`, ...)
 * was called outside one.
 */
export class PortContextError extends AempError {
  declare readonly code: "ERR_NO_PORT_CONTEXT";
  constructor(message: string) {
    super("ERR_NO_PORT_CONTEXT", message);
  }
}

/**
 * A pending `get`/`getCond` (or the mailbox iterator) of a port that was killed.
 * `reason` is the kill reason (empty for a normal kill). It carries no stack trace:
 * it reports an event, not a place in the code, and capturing one (about 1-2 us) cost
 * more than the rest of an async port's life from creation to death.
 */
export class PortKilledError extends AempError {
  declare readonly code: "ERR_PORT_KILLED";
  readonly port: string;
  readonly reason: KillReason;
  constructor(port: string, reason: unknown[]) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(
        "ERR_PORT_KILLED",
        reason.length
          ? `port ${port} was killed: ${reason.map(String).join(" ")}`
          : `port ${port} was killed normally`,
      );
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.port = port;
    this.reason = reason as KillReason;
  }
}

/** `spawn` named an init function this node has not registered. */
export class UnknownInitError extends AempError {
  declare readonly code: "ERR_UNKNOWN_INIT";
  readonly init: string;
  constructor(init: string) {
    super(
      "ERR_UNKNOWN_INIT",
      `no init function registered as '${init}' (register it with registerInit)`,
    );
    this.init = init;
  }
}

/**
 * Something read off the wire broke the protocol (bad greeting, failed auth,
 * oversize packet, unparsable frame...). `code` names the failure; the message is the
 * text AEMP uses for it where AEMP has one, since it travels as a transport error.
 */
export class ProtocolError extends AempError {
  declare readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * A data connection (`dataConn`) failed. Code `ERR_DATACONN` when it could not be
 * set up: the calling port has been killed with `reason`
 * (`["AnyEvent::MP::DataConn", text]`) and the promise rejects with this error.
 * Code `ERR_DATACONN_LOST` when an established one broke: its stream is destroyed
 * with this error (the peer node died or became unreachable, or the socket failed).
 * `node` is the node at the other end.
 */
export class DataConnError extends AempError {
  declare readonly code: "ERR_DATACONN" | "ERR_DATACONN_LOST";
  readonly node: string;
  readonly reason: unknown[];
  constructor(code: "ERR_DATACONN" | "ERR_DATACONN_LOST", node: string, message: string, options?: { reason?: unknown[]; cause?: unknown }) {
    super(code, message, options);
    this.node = node;
    this.reason = options?.reason ?? [];
  }
}

/** Builds the TypeError thrown for a bad argument: names it, says what was expected and what came. */
export function argumentError(fn: string, param: string, expected: string, received: unknown): TypeError {
  return new TypeError(`${fn}: '${param}' must be ${expected}, received ${describe(received)}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return value.length > 40 ? `string "${value.slice(0, 40)}..."` : `string "${value}"`;
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

/**
 * The configuration could not be used: the rc file is unreadable, not valid JSON or
 * holds a bad value, a profile's parent chain is broken, or a configure() argument from
 * the file is wrong. `file` names the rc file when it is the culprit.
 */
export class ConfigError extends AempError {
  declare readonly code: "ERR_CONFIG";
  readonly file: string | undefined;
  constructor(message: string, options?: { file?: string; cause?: unknown }) {
    super("ERR_CONFIG", message, options);
    this.file = options?.file;
  }
}

/** A service listed in `services` could not be found or failed while starting. */
export class ServiceError extends AempError {
  declare readonly code: "ERR_SERVICE";
  readonly service: string;
  constructor(service: string, message: string, options?: { cause?: unknown }) {
    super("ERR_SERVICE", message, options);
    this.service = service;
  }
}

/**
 * The database backend could not be reached: the Redis backend (Redis is down,
 * unreachable, or did not answer within the command timeout; monitors get it through
 * their `onStatus` listener too), or the global nodes (no master answered a query
 * within `monitor_timeout`). Queries (`dbFamily`, `dbKeys`, `dbValues`) reject with
 * it. `backend` names the backend: the Redis URL without its password, or `"global"`.
 * Code `ERR_DB_UNAVAILABLE`.
 */
export class DbUnavailableError extends AempError {
  declare readonly code: "ERR_DB_UNAVAILABLE";
  readonly backend: string;
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super("ERR_DB_UNAVAILABLE", message, options);
    this.backend = backend;
  }
}

/**
 * A second copy of aemp was loaded into a process that already runs one (two installs
 * of the package, e.g. a global `aemp` and a project's own). A process has one node,
 * so two kernels would split it silently; the second copy refuses to load instead.
 * `first` and `second` are the files of the two copies. Code `ERR_DUPLICATE_INSTANCE`.
 */
export class DuplicateInstanceError extends AempError {
  declare readonly code: "ERR_DUPLICATE_INSTANCE";
  readonly first: string;
  readonly second: string;
  constructor(first: string, second: string, message: string) {
    super("ERR_DUPLICATE_INSTANCE", message);
    this.first = first;
    this.second = second;
  }
}

/**
 * `snd` could not send a message to another node, and nothing was queued (as Perl's
 * `snd` raises the encoder's error to the sender). Code `ERR_UNENCODABLE` when the
 * message cannot be written in the link's framing (a BigInt towards a `json` peer, a
 * cycle, a Proxy or getter that throws, nesting too deep, a `__proto__` key in
 * `superjson`); code `ERR_MESSAGE_TOO_LARGE` when its encoding is longer than the
 * receiver accepts (`max_packet_size`: the peer's own, when it says, else ours).
 * `port` is the destination, `framing` the framing tried, `size` the encoded size in
 * bytes when it was too large.
 */
export class EncodeError extends AempError {
  readonly port: string;
  readonly framing: string;
  readonly size: number | undefined;
  constructor(code: "ERR_UNENCODABLE" | "ERR_MESSAGE_TOO_LARGE", port: string, framing: string, message: string, options?: { size?: number; cause?: unknown }) {
    super(code, message, options);
    this.port = port;
    this.framing = framing;
    this.size = options?.size;
  }
}

/**
 * `configure` could not listen on one of its `binds` (the address is in use, not an
 * address of this host, or needs privileges). Nothing is left listening: `configure`
 * may be called again. `bind` is the entry, `reason` the system's code (`EADDRINUSE`,
 * `EADDRNOTAVAIL`, `EACCES`...). Code `ERR_LISTEN`.
 */
export class ListenError extends AempError {
  readonly bind: string;
  readonly reason: string | undefined;
  constructor(bind: string, message: string, options?: { reason?: string; cause?: unknown }) {
    super("ERR_LISTEN", message, options);
    this.bind = bind;
    this.reason = options?.reason;
  }
}
