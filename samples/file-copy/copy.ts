/**
 * Copying files between nodes over data connections: the library part of the
 * file-copy sample (receiver.ts and send.ts are the programs, compare.ts the
 * benchmark against the file-writer's data messages).
 *
 * Control travels as messages, bytes over a data connection:
 * - The receiving node registers the init function `filecopy::receive` and announces
 *   itself by registering a port in the database family `filecopy::receivers`.
 * - `copyFile(node, source, name)` runs as its own async port: it opens a data
 *   connection to `node` with `filecopy::receive(name, size, replyPort)`, pipes the
 *   file into it (back-pressure all the way, so memory stays flat however large the
 *   file), and waits for `["copied", name, bytes]` on its port.
 * - The receiver writes what arrives to DIRECTORY/name (only a plain file name is
 *   accepted: nothing outside DIRECTORY can be written), and when the stream has ended
 *   and the file is closed it sends `["copied", name, bytes]`, or `["copy_failed",
 *   name, text]` if anything went wrong (a short file, a lost connection, fs errors).
 */
import { createReadStream, createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type DataConn, dataConn, getCond, portAsync, registerInit, snd } from "aemp";

export const RECEIVERS = "filecopy::receivers";
export const RECEIVE = "filecopy::receive";

/**
 * Registers `filecopy::receive` on this node: files arrive in `directory`.
 * `onFile(name, bytes, ms)` hears about each completed copy.
 */
export function acceptFiles(directory: string, onFile?: (name: string, bytes: number, ms: number) => void): void {
  registerInit(RECEIVE, (name: unknown, size: unknown, replyTo: unknown, conn: DataConn) => {
    const reply = (...msg: unknown[]): void => {
      if (typeof replyTo === "string" && replyTo.includes("#")) snd(replyTo, ...msg);
    };
    if (typeof name !== "string" || name === "" || basename(name) !== name || name === "." || name === "..") {
      reply("copy_failed", name, "the name must be a plain file name");
      conn.destroy();
      return;
    }
    const started = performance.now();
    let bytes = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    pipeline(conn, count, createWriteStream(join(directory, name))).then(
      () => {
        if (typeof size === "number" && bytes !== size) reply("copy_failed", name, `received ${bytes} of ${size} bytes`);
        else {
          reply("copied", name, bytes);
          onFile?.(name, bytes, performance.now() - started);
        }
      },
      (err: Error) => reply("copy_failed", name, err.message),
    );
  });
}

export interface CopyOptions {
  /** Seconds for the data connection to come up (default 10). */
  timeout?: number;
  /** Seconds to wait for the receiver's answer once everything is sent (default 30). */
  replyTimeout?: number;
  /** Called as bytes leave, with the total so far and the file size. */
  onProgress?: (sent: number, size: number) => void;
}

/**
 * Copies the file at `source` to `node` (which must run `acceptFiles`) as `name`;
 * resolves with the number of bytes the receiver wrote.
 */
export function copyFile(node: string, source: string, name: string = basename(source), options: CopyOptions = {}): Promise<number> {
  const { timeout = 10, replyTimeout = 30, onProgress } = options;
  return new Promise((resolve, reject) => {
    portAsync(async (self) => {
      try {
        const { size } = await stat(source);
        const conn = await dataConn(node, timeout, RECEIVE, name, size, self);
        let sent = 0;
        const progress = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            sent += chunk.length;
            onProgress?.(sent, size);
            done(null, chunk);
          },
        });
        const answered = (m: unknown[]): boolean => (m[0] === "copied" || m[0] === "copy_failed") && m[1] === name;
        try {
          await pipeline(createReadStream(source, { highWaterMark: 256 * 1024 }), progress, conn);
        } catch (err) {
          // The receiver may have closed the stream on purpose: its reason comes as a
          // message, on the other link, so it can arrive a moment after the close.
          const why = await getCond((m) => m[0] === "copy_failed" && m[1] === name, 2);
          if (why !== undefined) throw new Error(`${node} refused ${name}: ${String(why[2])}`);
          throw err;
        }
        const answer = await getCond(answered, replyTimeout);
        if (answer === undefined) throw new Error(`no answer from ${node} within ${replyTimeout} s`);
        if (answer[0] === "copy_failed") throw new Error(`${node} could not write ${name}: ${String(answer[2])}`);
        resolve(answer[2] as number);
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** A progress line writer: `\r`-updated on a terminal, a line every 10 % otherwise. */
export function progressPrinter(label: string, out: NodeJS.WriteStream = process.stderr): (done: number, size: number) => void {
  const started = performance.now();
  let lastTenth = -1;
  let lastDraw = 0;
  return (done, size) => {
    const now = performance.now();
    const fraction = size === 0 ? 1 : done / size;
    const mib = done / 1048576;
    const rate = mib / Math.max((now - started) / 1000, 1e-3);
    const text = `${label} ${(fraction * 100).toFixed(0).padStart(3)}% ${mib.toFixed(1)}/${(size / 1048576).toFixed(1)} MiB ${rate.toFixed(0)} MiB/s`;
    if (out.isTTY) {
      if (now - lastDraw < 100 && done < size) return;
      lastDraw = now;
      out.write(`\r${text}${done >= size ? "\n" : ""}`);
      return;
    }
    const tenth = Math.floor(fraction * 10);
    if (tenth !== lastTenth) {
      lastTenth = tenth;
      out.write(`${text}\n`);
    }
  };
}
