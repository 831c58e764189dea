/**
 * A file-writer client on another node: joins the network through the seed, waits
 * until a server shows up in `filewriter::servers`, and sends a file (or stdin) to it.
 * Prints one JSON line with the bytes written and exits.
 *
 * Run: AEMP_SECRET=s3cret npx tsx samples/file-writer/network-client.ts SEED DESTINATION [SOURCE]
 */
import { createReadStream } from "node:fs";
import { asPort, configure, dbWaitFor } from "aemp";
import { sendFile } from "./client.ts";
import type { FileWriterMessage } from "./server.ts";

const [seed, destination, source] = process.argv.slice(2);
if (seed === undefined || destination === undefined) {
  console.error("usage: network-client.ts SEED DESTINATION [SOURCE]");
  process.exit(2);
}
await configure({
  nodeid: "filewriter-client/%u",
  binds: ["127.0.0.1:*"],
  seeds: [seed],
  secret: process.env.AEMP_SECRET ?? "aemp-sample-secret",
});
const servers = await dbWaitFor("filewriter::servers", 10);
if (servers === undefined) {
  console.error("no file-writer server showed up within 10 s");
  process.exit(1);
}
// The family's keys are plain strings: say what the port accepts, and the compiler checks the rest.
const server = asPort<FileWriterMessage>(Object.keys(servers)[0]);
const data = source === undefined ? process.stdin : createReadStream(source);
try {
  const bytes = await sendFile(server, destination, data, { timeout: 30 });
  console.log(JSON.stringify({ server, destination, bytes }));
  process.exit(0);
} catch (err) {
  console.error(`file transfer failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
