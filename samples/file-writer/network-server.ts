/**
 * The file-writer server as a network service: this process is a seed (and so a
 * global node) listening on 127.0.0.1:PORT, runs the supervised file writer and
 * registers the current server port in the database family `filewriter::servers`
 * (again after each restart), so clients on other nodes can find it.
 *
 * Run: AEMP_SECRET=s3cret npx tsx samples/file-writer/network-server.ts [port]   (default 4040;
 *      `*` picks a free port: the address is printed, and the node turns global as soon
 *      as a client uses it as its seed)
 * Then: AEMP_SECRET=s3cret npx tsx samples/file-writer/network-client.ts 127.0.0.1:4040 /tmp/copy.txt [source]
 */
import { configure, dbReg, type Guard } from "aemp";
import { superviseFileWriter } from "./supervisor.ts";

export const FAMILY = "filewriter::servers";

const listenPort = process.argv[2] ?? "4040";
const address = `127.0.0.1:${listenPort}`;
const { nodeId, addresses } = await configure({
  nodeid: "filewriter/%u",
  binds: [address],
  seeds: listenPort === "*" ? [] : [address],
  secret: process.env.AEMP_SECRET ?? "aemp-sample-secret",
});

let registration: Guard | undefined;
function register(server: string): void {
  registration?.cancel();
  registration = dbReg(FAMILY, server);
}
const supervisor = superviseFileWriter({ onRestart: (server) => register(server) });
register(supervisor.server);
console.log(JSON.stringify({ nodeId, addresses, server: supervisor.server }));

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(0));
