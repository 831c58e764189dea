/**
 * Sends a file to a file-copy receiver (receiver.ts) over a data connection, showing
 * progress on stderr, and prints one JSON line: `{receiver, name, bytes, seconds}`.
 *
 * Run: AEMP_SECRET=s3cret npx tsx samples/file-copy/send.ts SEED FILE [NAME]
 */
import { basename } from "node:path";
import { configure, dbWaitFor, nodeOf } from "aemp";
import { RECEIVERS, copyFile, progressPrinter } from "./copy.ts";

const [seed, source, name = source === undefined ? undefined : basename(source)] = process.argv.slice(2);
if (seed === undefined || source === undefined || name === undefined) {
  console.error("usage: send.ts SEED FILE [NAME]");
  process.exit(2);
}
await configure({
  nodeid: "filecopy-sender/%u",
  binds: ["127.0.0.1:*"],
  seeds: [seed],
  secret: process.env.AEMP_SECRET ?? "aemp-sample-secret",
});
const receivers = await dbWaitFor(RECEIVERS, 10);
if (receivers === undefined) {
  console.error(`no file-copy receiver showed up in ${RECEIVERS} within 10 s`);
  process.exit(1);
}
const receiver = nodeOf(Object.keys(receivers)[0]);
try {
  const started = performance.now();
  const bytes = await copyFile(receiver, source, name, { onProgress: progressPrinter(name) });
  console.log(JSON.stringify({ receiver, name, bytes, seconds: (performance.now() - started) / 1000 }));
  process.exit(0);
} catch (err) {
  console.error(`copy failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
