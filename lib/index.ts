/**
 * aemp: Erlang-style message passing for Node.js, wire-compatible with Perl's
 * AnyEvent::MP 2.x. The public surface; no logic lives here.
 */
export * from "./kernel/index.ts";
export {
  AempError,
  type AempErrorCode,
  ConfigError,
  DataConnError,
  DbUnavailableError,
  DuplicateInstanceError,
  EncodeError,
  ListenError,
  PortContextError,
  PortKilledError,
  ProtocolError,
  type ProtocolErrorCode,
  ServiceError,
  UnknownInitError,
} from "./errors.ts";
export { type Level, type LevelName, type LogRecord, type Logger, log, logger, logLevel, onLog, recentLogs, setLogLevel, setTracing } from "./log.ts";
export * from "./async/index.ts";
export { type ConfigureOptions, type ConfigureResult, type ShutdownOptions, type ShutdownResult, DEFAULT_SHUTDOWN_TIMEOUT, closed, configure, shutdown } from "./config/configure.ts";
export { registerService } from "./config/services.ts";
export { monNodes, nodeIsUp, sndOn, upNodes } from "./node/index.ts";
export { DATACONN_KILL_TAG, DataConn, dataConn } from "./node/dataconn.ts";
export { type CatchLogsOptions, type CaughtLog, type LogCatcher, catchLogs } from "./log-catcher.ts";
export type { DbStatus, DbStatusListener } from "./db/backend.ts";
export { type DbChange, type DbFamily, type DbWatcher, dbChanges, dbDel, dbFamily, dbKeys, dbMon, dbReg, dbSet, dbValues, dbWaitFor } from "./db/db.ts";
