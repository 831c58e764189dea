/**
 * Levelled logging and message tracing: aemp's own records and the application's
 * (`log`, `logger`) go through one sink.
 *
 * Levels are numbered exactly as AnyEvent::Log numbers them, because the numbers cross
 * the wire in the LogCatcher protocol and must mean the same in Perl and here:
 * 1 fatal, 2 alert, 3 critical, 4 error, 5 warn, 6 note, 7 info, 8 debug, 9 trace
 * (0 silences everything). `AEMP_VERBOSE` takes a number or a name (`warn`); the
 * default prints warn and above. `AEMP_TRACE=1` prints every packet sent and received
 * as `SND node <- [portname, ...]` / `RCV node -> [portname, ...]`. Everything goes
 * to stderr, one line each, prefixed with the time and `<level>` so lines from several
 * nodes can be merged.
 *
 * Every record has a context: `"aemp"` for aemp's own, the name given to `logger()`
 * for an application's (`"main"` for a plain `log()`, as Perl's main package). It is
 * the title a log catcher receives (Perl sends the package name there).
 *
 * Hooks (`onLog`) let later layers (the log catcher) see every record without
 * changing what is printed. A hook may ask for a level of its own, higher than the
 * printed one: records up to the highest level any hook asks for are then built (and
 * handed to those hooks) but only printed up to the node's level. Without such hooks
 * a record over the level costs one comparison.
 *
 * The last `HISTORY_SIZE` printed records are kept (`recentLogs`), so a log catcher
 * that subscribes late still sees the warnings that came before it.
 */
import { formatWithOptions } from "node:util";

/** Level names by number (index 0 is "off"), as AnyEvent::Log names them. */
export const LEVELS = ["off", "fatal", "alert", "critical", "error", "warn", "note", "info", "debug", "trace"] as const;
export type LevelName = Exclude<(typeof LEVELS)[number], "off">;
/** A level: its number (1..9) or its name. */
export type Level = number | LevelName;

/** Other spellings AnyEvent::Log accepts. */
const ALIASES: Readonly<Record<string, number>> = { emerg: 1, crit: 3, err: 4, warning: 5, notice: 6 };

/** The context of aemp's own records. */
export const AEMP_CONTEXT = "aemp";
/** The context of `log()` records: Perl's default package. */
export const DEFAULT_CONTEXT = "main";

export interface LogRecord {
  /** 1 fatal .. 5 warn .. 9 trace. */
  level: number;
  /** Milliseconds since the epoch. */
  time: number;
  text: string;
  /** Who logged it: "aemp" for aemp itself, else the logger's context. */
  context: string;
}

/**
 * The number of a level given as a number (0..9) or a name (`"warn"`, any case; also
 * AnyEvent::Log's aliases such as `"crit"`), or undefined when it is neither.
 */
export function levelNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 && value <= 9 ? value : undefined;
  if (typeof value !== "string" || value === "") return undefined;
  const name = value.trim().toLowerCase();
  if (/^\d$/.test(name)) return Number(name);
  const i = (LEVELS as readonly string[]).indexOf(name);
  return i >= 0 ? i : ALIASES[name];
}

/** What level names and numbers mean, for error messages. */
export const LEVEL_EXPECTED = "a level 0..9 or a name (fatal, alert, critical, error, warn, note, info, debug, trace)";

const DEFAULT_LEVEL = 5;

function envLevel(): number {
  const raw = process.env.AEMP_VERBOSE;
  if (raw === undefined || raw === "") return DEFAULT_LEVEL;
  const n = levelNumber(raw);
  if (n !== undefined) return n;
  process.stderr.write(`aemp: ignoring AEMP_VERBOSE=${JSON.stringify(raw)}: expected ${LEVEL_EXPECTED}\n`);
  return DEFAULT_LEVEL;
}

let level = envLevel();
let tracing = /^(1|true|yes|on)$/i.test(process.env.AEMP_TRACE ?? "");
/** Sink -> its own level, or undefined for "what is printed". */
const sinks = new Map<(record: LogRecord) => void, number | undefined>();
/** The highest level a sink asked for (0: none did). */
let captureLevel = 0;

/** How many printed records `recentLogs` keeps. */
export const HISTORY_SIZE = 1000;
const history: LogRecord[] = [];
let historyNext = 0;

/** Current level (0..9). */
export function logLevel(): number {
  return level;
}

/** Changes the printed level at run time: a number 0..9 or a name (`setLogLevel("debug")`). */
export function setLogLevel(value: Level): void {
  const n = levelNumber(value);
  if (n === undefined) throw new TypeError(`setLogLevel: 'level' must be ${LEVEL_EXPECTED}, received ${JSON.stringify(value) ?? String(value)}`);
  level = n;
}

/** Whether `AEMP_TRACE` message tracing is on. Callers test this before building trace text. */
export function isTracing(): boolean {
  return tracing;
}

export function setTracing(on: boolean): void {
  tracing = on;
}

/**
 * Adds a sink; returns a remover. Without `sinkLevel` it sees every record at or under
 * the current level (what is printed); with one, every record at or under `sinkLevel`
 * (0..9), printed or not. A sink must not throw (what it throws is reported on stderr).
 */
export function onLog(sink: (record: LogRecord) => void, sinkLevel?: number): () => void {
  if (sinkLevel !== undefined && (!Number.isInteger(sinkLevel) || sinkLevel < 0 || sinkLevel > 9)) {
    throw new TypeError(`onLog: 'sinkLevel' must be an integer 0..9 or undefined, received ${String(sinkLevel)}`);
  }
  sinks.set(sink, sinkLevel);
  updateCaptureLevel();
  return () => {
    sinks.delete(sink);
    updateCaptureLevel();
  };
}

/** The highest level a sink asked for beyond the printed one (0: none): what records cost now. */
export function logCaptureLevel(): number {
  return captureLevel;
}

function updateCaptureLevel(): void {
  captureLevel = 0;
  for (const l of sinks.values()) if (l !== undefined && l > captureLevel) captureLevel = l;
}

/**
 * The last printed records (at most {@link HISTORY_SIZE}), oldest first, those at or
 * under `maxLevel` only.
 */
export function recentLogs(maxLevel = 9): LogRecord[] {
  const ordered = history.length < HISTORY_SIZE ? history : [...history.slice(historyNext), ...history.slice(0, historyNext)];
  return ordered.filter((r) => r.level <= maxLevel);
}

/** Whether a record at level `n` would be built now (printed, or wanted by a sink). */
function wanted(n: number): boolean {
  return n <= level || n <= captureLevel;
}

/** Writes one record: to the sinks that want it, and printed (and kept) when within the level. */
function write(n: number, context: string, text: string): void {
  const record: LogRecord = { level: n, time: Date.now(), text, context };
  for (const [sink, sinkLevel] of sinks) {
    if (n > (sinkLevel ?? level)) continue;
    try {
      sink(record);
    } catch (err) {
      process.stderr.write(`log sink threw: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  if (n > level) return;
  if (history.length < HISTORY_SIZE) history.push(record);
  else history[historyNext] = record;
  historyNext = (historyNext + 1) % HISTORY_SIZE;
  process.stderr.write(formatRecord(record));
}

/** A record as printed: `TIME <LEVEL> text`, the context before the text unless it is aemp's. */
export function formatRecord(r: LogRecord): string {
  return `${new Date(r.time).toISOString()} <${r.level}> ${withContext(r.context, r.text)}\n`;
}

/** A record's text as lines show it: `context: text`, or just the text for aemp's own. */
export function withContext(context: string, text: string): string {
  return context === AEMP_CONTEXT ? text : `${context}: ${text}`;
}

function checkedLevel(fn: string, value: unknown): number {
  const n = levelNumber(value);
  if (n === undefined || n === 0) throw new TypeError(`${fn}: 'level' must be a level 1..9 or a name (fatal, alert, critical, error, warn, note, info, debug, trace), received ${JSON.stringify(value) ?? String(value)}`);
  return n;
}

/** The text of a record from the application's arguments, formatted as `console.log` does. */
function textOf(parts: readonly unknown[]): string {
  return parts.length === 1 && typeof parts[0] === "string" ? parts[0] : formatWithOptions({ breakLength: Infinity }, ...parts);
}

/**
 * Writes an application log record at `level` (1..9 or a name) with context `"main"`:
 * printed when within the node's level, kept for `recentLogs`, sent to log catchers.
 * The parts are formatted as `console.log` formats them (`%s`, `%d`, `%j` work).
 *
 * ```ts
 * log("warn", "disk %s is %d%% full", disk, percent);
 * ```
 */
export function log(level: Level, ...parts: unknown[]): void {
  const n = checkedLevel("log", level);
  if (wanted(n)) write(n, DEFAULT_CONTEXT, textOf(parts));
}

/** A logger bound to a context (see {@link logger}). */
export interface Logger {
  /** The context its records carry (a log catcher's title). */
  readonly context: string;
  /** Writes a record at `level` (1..9 or a name). */
  log(level: Level, ...parts: unknown[]): void;
  /** Whether a record at `level` would be printed or sent now: skip building costly text. */
  enabled(level: Level): boolean;
  fatal(...parts: unknown[]): void;
  alert(...parts: unknown[]): void;
  crit(...parts: unknown[]): void;
  error(...parts: unknown[]): void;
  warn(...parts: unknown[]): void;
  note(...parts: unknown[]): void;
  info(...parts: unknown[]): void;
  debug(...parts: unknown[]): void;
  trace(...parts: unknown[]): void;
}

/**
 * A logger whose records carry `context` (e.g. your module's name, as Perl sends its
 * package name): log catchers and `aemp logs` show it with each record.
 *
 * ```ts
 * const chat = logger("Chat::Server");
 * chat.info("client %s joined", nick);
 * ```
 */
export function logger(context: string): Logger {
  if (typeof context !== "string" || context === "") throw new TypeError(`logger: 'context' must be a non-empty string, received ${JSON.stringify(context) ?? String(context)}`);
  const at = (n: number) => (...parts: unknown[]): void => {
    if (wanted(n)) write(n, context, textOf(parts));
  };
  return {
    context,
    log(lvl: Level, ...parts: unknown[]) {
      const n = checkedLevel("logger.log", lvl);
      if (wanted(n)) write(n, context, textOf(parts));
    },
    enabled: (lvl: Level) => wanted(checkedLevel("logger.enabled", lvl)),
    fatal: at(1),
    alert: at(2),
    crit: at(3),
    error: at(4),
    warn: at(5),
    note: at(6),
    info: at(7),
    debug: at(8),
    trace: at(9),
  };
}

// aemp's own records (context "aemp"), by level.
function own(n: number): (text: string) => void {
  return (text) => {
    if (wanted(n)) write(n, AEMP_CONTEXT, text);
  };
}
export const error = own(4);
export const warn = own(5);
export const note = own(6);
export const info = own(7);
export const debug = own(8);

/**
 * A trace line for a packet leaving for (`SND`) or arriving from (`RCV`) `node`,
 * `packet` being `[portname, ...message]` as on the wire.
 */
export function trace(direction: "SND" | "RCV", node: string, packet: unknown[]): void {
  if (!tracing) return;
  const arrow = direction === "SND" ? "<-" : "->";
  process.stderr.write(`${direction} ${node} ${arrow} ${safeJson(packet)}\n`);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v)) ?? String(value);
  } catch {
    return String(value);
  }
}
