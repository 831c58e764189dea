/**
 * A client for the file-writer server (server.ts): `sendFile` sends write_file, the
 * data in chunks, then the empty data message, and resolves with the byte count when
 * the server answers ["written", path, bytes].
 *
 * Each call runs as its own async port, whose port ID is the `source` of the
 * messages, so the server can tell concurrent clients apart and reply. The client
 * monitors the server with the message form of `mon`, so a single `getCond` (in its
 * switch form) waits for whichever comes first: the reply or the news that the server
 * died (its queued requests die with it).
 *
 * From the command line it starts a file writer in this process (nodes do not talk to
 * each other yet) and copies a file, or stdin, through it:
 *
 * Run: npx tsx samples/file-writer/client.ts <destination> [source-file]
 */
import { createReadStream, realpathSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { fileURLToPath } from "node:url";
import { type Inbox, type KillReason, type PortId, kil, mon, portAsync, snd } from "aemp";
import { type FileWriter, type Written, reasonText, startFileWriter } from "./server.ts";

/** What a sendFile port receives: the server's reply, or the news of its death. */
type ClientMessage = Written | ["server_died", ...reason: KillReason];

export type Chunk = string | Uint8Array;

export interface SendFileOptions {
  /** Largest chunk per data message: characters for strings, bytes otherwise (default 64 KiB). */
  chunkSize?: number;
  /** Seconds to wait for the server's reply once everything is sent (default 30). */
  timeout?: number;
  /** Called after each data message is sent, with the chunk's length. */
  onChunk?: (length: number) => void;
}

/**
 * Writes `data` (a string, bytes, or an iterable / async iterable of them, such as a
 * read stream) to `path` through the file-writer `server`; resolves with the number of
 * bytes written. Rejects if the server dies first or does not answer in time. Do not
 * change a Uint8Array you passed in until the promise settles: chunks are views of it.
 */
export function sendFile(server: FileWriter, path: string, data: Chunk | Iterable<Chunk> | AsyncIterable<Chunk>, options: SendFileOptions = {}): Promise<number> {
  const { chunkSize = 64 * 1024, timeout = 30, onChunk } = options;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 2) throw new TypeError(`sendFile: 'chunkSize' must be an integer >= 2, received ${String(chunkSize)}`);
  if (typeof path !== "string" || path === "") throw new TypeError("sendFile: 'path' must be a non-empty string");
  return new Promise((resolve, reject) => {
    portAsync<ClientMessage>(async (self, inbox) => {
      try {
        resolve(await transfer(self, inbox, server, path, data, chunkSize, timeout, onChunk));
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function transfer(
  self: PortId<ClientMessage>,
  inbox: Inbox<ClientMessage>,
  server: FileWriter,
  path: string,
  data: Chunk | Iterable<Chunk> | AsyncIterable<Chunk>,
  chunkSize: number,
  timeout: number,
  onChunk: ((length: number) => void) | undefined,
): Promise<number> {
  // If the server dies, we get ["server_died", ...reason]. The guard ends the monitor
  // when this function returns.
  using _watch = mon(server, self, "server_died");
  snd(server, "write_file", self, path);
  try {
    for await (const chunk of chunks(data, chunkSize)) {
      snd(server, "data", self, chunk);
      onChunk?.(chunk.length);
    }
  } finally {
    // Always end the file, even if reading the source failed: otherwise the server
    // would wait for us until its data timeout kills it.
    snd(server, "data", self);
  }
  const bytes = await inbox.getCond((msg) => {
    if (msg[0] === "written" && msg[1] === path) return ([, , n]: Written) => n;
    if (msg[0] === "server_died") {
      return ([, ...reason]: ClientMessage): number => {
        throw new Error(`file writer ${server} died before writing ${path}: ${reasonText(reason)}`);
      };
    }
    return undefined; // anything else stays queued (nobody else sends to this port)
  }, timeout);
  if (bytes === undefined) throw new Error(`no reply from file writer ${server} within ${timeout} s for ${path}`);
  return bytes;
}

/** The data as chunks of at most `size`; strings are never cut inside a surrogate pair. */
async function* chunks(data: Chunk | Iterable<Chunk> | AsyncIterable<Chunk>, size: number): AsyncGenerator<Chunk> {
  const pieces = typeof data === "string" || data instanceof Uint8Array ? [data] : data;
  for await (const piece of pieces) {
    if (typeof piece === "string") {
      for (let i = 0; i < piece.length; ) {
        let end = Math.min(i + size, piece.length);
        const last = piece.charCodeAt(end - 1);
        if (end < piece.length && last >= 0xd800 && last <= 0xdbff) end--;
        yield piece.slice(i, end);
        i = end;
      }
    } else if (piece instanceof Uint8Array) {
      for (let i = 0; i < piece.byteLength; i += size) yield piece.subarray(i, i + size);
    } else {
      throw new TypeError(`sendFile: data must be strings or Uint8Arrays, received ${typeof piece}`);
    }
  }
}

// ---- command line ---------------------------------------------------------------------

async function main(args: string[]): Promise<number> {
  const [destination, source, ...extra] = args;
  if (destination === undefined || extra.length > 0 || destination.startsWith("-")) {
    console.error("usage: client.ts <destination> [source-file]   (copies source-file, or stdin, through a file writer)");
    return 2;
  }
  const server = startFileWriter();
  try {
    const input = source === undefined ? process.stdin : createReadStream(source);
    const path = resolvePath(destination);
    const bytes = await sendFile(server, path, input);
    console.log(`wrote ${bytes} bytes to ${path}`);
    return 0;
  } catch (err) {
    console.error(`client: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    kil(server);
  }
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.exitCode = await main(process.argv.slice(2));
