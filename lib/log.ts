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
 * changing what is printed.
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
const sinks = new Set<(record: LogRecord) => void>();

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

/** Adds a sink that sees every record at or under the current level; returns a remover. */
export function onLog(sink: (record: LogRecord) => void): () => void {
  sinks.add(sink);
  return () => sinks.delete(sink);
}

/** Logs `text` at level `n` if the level is enabled. */
export function log(n: number, text: string): void {
  if (n > level) return;
  const record = { level: n, time: Date.now(), text };
  for (const sink of sinks) sink(record);
  process.stderr.write(`${new Date(record.time).toISOString()} <${n}> ${text}\n`);
}

export const error = (text: string): void => log(3, text);
export const warn = (text: string): void => log(4, text);
export const info = (text: string): void => log(7, text);
export const debug = (text: string): void => log(8, text);

/** A trace line for a message leaving (`SND`) or arriving (`RCV`). */
export function trace(direction: "SND" | "RCV", node: string, msg: unknown[]): void {
  if (!tracing) return;
  const arrow = direction === "SND" ? "<-" : "->";
  process.stderr.write(`${direction} ${node} ${arrow} ${safeJson(msg)}\n`);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v)) ?? String(value);
  } catch {
    return String(value);
  }
}
