/**
 * The receiving node of the file-copy sample: writes files sent with send.ts into
 * DIRECTORY, over data connections (copy.ts). It registers a port in
 * `filecopy::receivers` so senders anywhere in the network find it.
 *
 * Run as its own seed: AEMP_SECRET=s3cret npx tsx samples/file-copy/receiver.ts DIRECTORY [PORT]
 *   (default 4041; `*` picks a free port; the address is printed)
 * Or joining a network: ... receiver.ts DIRECTORY --seed HOST:PORT
 * Then: AEMP_SECRET=s3cret npx tsx samples/file-copy/send.ts 127.0.0.1:4041 big.iso
 */
import { configure, dbReg, port } from "aemp";
import { RECEIVERS, acceptFiles } from "./copy.ts";

const args = process.argv.slice(2);
const seedAt = args.indexOf("--seed");
const seed = seedAt >= 0 ? args.splice(seedAt, 2)[1] : undefined;
const [directory, listenPort = "4041"] = args;
if (directory === undefined) {
  console.error("usage: receiver.ts DIRECTORY [PORT | --seed HOST:PORT]");
  process.exit(2);
}

const bind = seed === undefined ? `127.0.0.1:${listenPort}` : "127.0.0.1:*";
const { nodeId, addresses } = await configure({
  nodeid: "filecopy-receiver/%u",
  binds: [bind],
  seeds: seed !== undefined ? [seed] : listenPort === "*" ? [] : [bind],
  secret: process.env.AEMP_SECRET ?? "aemp-sample-secret",
});

acceptFiles(directory, (name, bytes, ms) => {
  console.error(`received ${name}: ${bytes} bytes in ${(ms / 1000).toFixed(2)} s`);
});
// The port stands for this receiver in the database; it lives as long as the process.
dbReg(RECEIVERS, port(() => {}));
console.log(JSON.stringify({ nodeId, addresses, directory }));

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(0));
