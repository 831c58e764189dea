/**
 * Levelled logging and message tracing.
 *
 * `AEMP_VERBOSE=0..9` picks the level as DESIGN.md fixes it: 1 fatal, 2 critical, 3 error,
 * 4 warn (the default: warnings and errors only), 5 note, 7 info, 8 debug, 9 trace;
 * 0 silences everything. `AEMP_TRACE=1` prints every message sent and received as
 * `SND node <- [...]` / `RCV node -> [...]`. Everything goes to stderr, one line each,
 * prefixed with the time and level so lines from several nodes can be merged.
 *
 * Hooks (`onLog`) let later layers (the log catcher) see every record without
 * changing what is printed. A hook may ask for a level of its own, higher than the
 * printed one: records up to the highest level any hook asks for are then built (and
 * handed to those hooks) but only printed up to the node's level. Without such hooks
 * a record over the level costs one comparison, as before.
 *
 * The last `HISTORY_SIZE` printed records are kept (`recentLogs`), so a log catcher
 * that subscribes late still sees the warnings that came before it.
 *
 * Log texts quote what peers sent (node IDs, request names, greeting lines), so every
 * record's text has its control characters escaped (`\n`, `\x1b`...) here, where
 * records are made: a record is always one line, and no peer can forge a line or send
 * terminal escapes to whoever reads the log, whichever sink or catcher prints it.
 */

export const LEVELS = ["off", "fatal", "critical", "error", "warn", "note", "notice", "info", "debug", "trace"] as const;
export type LevelName = (typeof LEVELS)[number];

export interface LogRecord {
  level: number;
  time: number;
  text: string;
}

function envLevel(): number {
  const raw = process.env.AEMP_VERBOSE;
  if (raw === undefined || raw === "") return 4;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 && n <= 9 ? n : 4;
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

/** Changes the level at run time (tests, the CLI's `--verbose`). */
export function setLogLevel(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 9) throw new TypeError(`setLogLevel: 'level' must be an integer 0..9, received ${n}`);
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

/** Logs `text` at level `n` if the level (or a sink's) is enabled. */
export function log(n: number, text: string): void {
  if (n > level && n > captureLevel) return;
  const record = { level: n, time: Date.now(), text: escapeControls(text) };
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
  process.stderr.write(`${new Date(record.time).toISOString()} <${n}> ${record.text}\n`);
}

export const error = (text: string): void => log(3, text);
export const warn = (text: string): void => log(4, text);
export const info = (text: string): void => log(7, text);
export const debug = (text: string): void => log(8, text);

/** A trace line for a message leaving (`SND`) or arriving (`RCV`). */
export function trace(direction: "SND" | "RCV", node: string, msg: unknown[]): void {
  if (!tracing) return;
  const arrow = direction === "SND" ? "<-" : "->";
  process.stderr.write(`${direction} ${escapeControls(node)} ${arrow} ${safeJson(msg)}\n`);
}

// C0 controls, DEL, the C1 controls (some terminals act on those too), the Unicode line
// separators and the bidirectional overrides (which make a line read differently).
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]/;
const CONTROLS_ALL = new RegExp(CONTROLS.source, "g");
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `text` with every control character written as an escape (`\n`, `\x1b`), so it prints as one harmless line. */
export function escapeControls(text: string): string {
  if (!CONTROLS.test(text)) return text;
  return text.replace(CONTROLS_ALL, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, "0")}`);
  });
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v)) ?? String(value);
  } catch {
    return String(value);
  }
}
