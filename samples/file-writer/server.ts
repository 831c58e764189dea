/**
 * The file-writer server from the tutorial's selective-receive part: an async port
 * that writes one file at a time and decides itself in which order it takes messages.
 * It is a library module; `npm start` (demo.ts) and client.ts run it.
 *
 * Messages it understands (`source` is any unique string, usually the client's port):
 *   ["write_file", source, path]  start writing `path` (created or truncated)
 *   ["data", source, chunk]       append a chunk: a string (UTF-8) or a Uint8Array
 *   ["data", source]              end of file (an empty chunk too): the file is closed
 * When the file is closed and `source` is a port ID, the server sends
 * ["written", path, bytes] to it. A source that is not a port ID gets no reply.
 * Chunks pass by reference between local ports; a client on another node should send
 * strings, since the json framing cannot carry a Uint8Array.
 *
 * Typed: the server's port is a `FileWriter`, a port ID typed with these messages, so
 * the compiler checks what local clients send. Clients on other nodes are checked when
 * their messages arrive: the port carries a zod schema of the same messages (the type
 * is inferred from it), and a message that does not fit kills the server with
 * ["invalid_message", text] before it reaches the code below.
 *
 * One file at a time: while a file is in progress the server takes only that source's
 * data messages (getCond with a predicate); other clients' write_file and data messages
 * wait in the mailbox, in arrival order, until the file is done.
 *
 * Errors kill the server with ["die", text], as any exception in port context does:
 * a first message that is not write_file, a path fs cannot open (the fs error text),
 * no data message from the source for `dataTimeout` seconds ("timeout waiting for data
 * message from <source>"). Requests still queued die with it; put it under a
 * supervisor (supervisor.ts) to get a fresh one.
 *
 * Abort signal: `open()`, `FileHandle.write()` and `close()` take none, but
 * `FileHandle.writeFile()` does, and on an open handle it writes at the current
 * position, so every chunk is written with `fh.writeFile(chunk, { signal })` where
 * `signal` is the port's `portSignal()`: killing the server from outside aborts a write
 * in progress. Between writes nothing needs checking by hand: the next `getCond` of a
 * killed port rejects, and `finally` closes the file either way.
 */
import { open } from "node:fs/promises";
import { type Inbox, type PortId, asPort, portAsync, portSignal, snd } from "aemp";
import * as z from "zod";

const chunk = z.union([z.string(), z.custom<Uint8Array>((value) => value instanceof Uint8Array, "expected a Uint8Array")]);
const source = z.string().min(1);

/** What a file writer accepts, checked on arrival from other nodes. */
export const fileWriterMessage = z.union([
  z.tuple([z.literal("write_file"), source, z.string().min(1)]),
  z.tuple([z.literal("data"), source, chunk.optional()]),
]);

export type FileWriterMessage = z.output<typeof fileWriterMessage>;
/** The port of a file writer. */
export type FileWriter = PortId<FileWriterMessage>;
/** What it sends the source of a file once the file is written. */
export type Written = ["written", path: string, bytes: number];

type Data = Extract<FileWriterMessage, ["data", ...unknown[]]>;

export interface FileWriterOptions {
  /** Seconds to wait for each data message of the file in progress (default 5). */
  dataTimeout?: number;
}

/** Starts a file-writer server and returns its port. */
export function startFileWriter(options: FileWriterOptions = {}): FileWriter {
  const dataTimeout = options.dataTimeout ?? 5;
  if (typeof dataTimeout !== "number" || !(dataTimeout > 0) || !Number.isFinite(dataTimeout)) {
    throw new TypeError(`startFileWriter: 'dataTimeout' must be a positive number of seconds, received ${String(dataTimeout)}`);
  }
  return portAsync({ schema: fileWriterMessage, onInvalid: "kill" }, async (_self, inbox) => {
    const signal = portSignal();
    for (;;) {
      // Take the next message, whatever it is: a stray message must not sit in the
      // mailbox for ever, so anything but write_file here is an error.
      const msg = await inbox.getCond();
      if (msg[0] !== "write_file") throw new Error(`only write_file messages expected, received ${show(msg[0])}`);
      const [, source, path] = msg;
      const bytes = await writeFile(inbox, source, path, dataTimeout, signal);
      if (isPortId(source)) snd(asPort<Written>(source), "written", path, bytes);
    }
  });
}

/** Writes the data messages of `source` to `path` until its empty chunk; returns the byte count. */
async function writeFile(inbox: Inbox<FileWriterMessage>, source: string, path: string, timeout: number, signal: AbortSignal): Promise<number> {
  const file = await open(path, "w");
  try {
    let bytes = 0;
    for (;;) {
      const msg = await inbox.getCond((m): m is Data => m[0] === "data" && m[1] === source, timeout);
      if (msg === undefined) throw new Error(`timeout waiting for data message from ${source}`);
      const chunk = msg[2];
      if (chunk === undefined || chunk === "" || (chunk instanceof Uint8Array && chunk.byteLength === 0)) return bytes;
      await file.writeFile(chunk, { signal });
      bytes += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
    }
  } finally {
    await file.close();
  }
}

/** Whether `value` looks like a port ID (node#name), i.e. something to reply to. */
export function isPortId(value: unknown): value is string {
  return typeof value === "string" && value.indexOf("#") > 0;
}

/** A kill reason as one line: "die timeout waiting for ...", or "normal kill". */
export function reasonText(reason: unknown[]): string {
  if (reason.length === 0) return "normal kill";
  return reason.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join(" ");
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (value instanceof Uint8Array) return `a ${value.byteLength}-byte Uint8Array`;
  if (Array.isArray(value)) return "an array";
  return value === null ? "null" : typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}
