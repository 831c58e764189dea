/**
 * Sender and receiver on two nodes, found through a seed. In three terminals:
 *
 *   1. npx tsx samples/sender-receiver/seed.ts [HOST:PORT]
 *   2. npx tsx samples/sender-receiver/receiver.ts [SEED]
 *   3. npx tsx samples/sender-receiver/sender.ts [RECEIVER_PORT_ID] [SEED]
 *
 * SEED defaults to 127.0.0.1:4040; the secret comes from AEMP_SECRET (default
 * "aemp-sample-secret").
 *
 * This one is the receiver: a port that answers `["test", data, replyPort]` with
 * `["received", data, NODEID]`. It prints its port ID (`receiver port: NODE#PORT`), so a
 * sender can be given it; it also registers the port in the database family
 * `eg_receivers`, so a sender started without a port ID finds it there. Senders reach
 * it knowing only the port ID: their node asks the seed where this node listens.
 * Runs until Ctrl-C; the registration goes when the port or the node does.
 */
import { NODE, configure, dbReg, port, rcv, shutdown, snd } from "aemp";

const seed = process.argv[2] ?? "127.0.0.1:4040";
await configure({
  nodeid: "eg_receiver/%u",
  binds: ["127.0.0.1:*"],
  seeds: [seed],
  secret: process.env.AEMP_SECRET ?? "aemp-sample-secret",
});

const receiver = port();
rcv(receiver, "test", (data: unknown, replyPort: string) => {
  console.log(`Received data: ${JSON.stringify(data)}`);
  snd(replyPort, "received", data, NODE());
});
dbReg("eg_receivers", receiver);
console.log(`receiver port: ${receiver}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void shutdown().finally(() => process.exit(0)));
}
