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
 * This one is the sender: it joins the network through the seed, sends
 * `["test", data, replyPort]` to the receiver (the port ID printed by receiver.ts; without
 * one, the first port registered in the family `eg_receivers`), prints the reply and
 * exits: 0 after a reply, 1 if the receiver is gone or silent for 5 seconds.
 * (Arguments: the one containing `#` is the port ID, the other the seed.)
 */
import { type Guard, NODE, cal, configure, dbWaitFor, mon, shutdown } from "aemp";

const args = process.argv.slice(2);
const target = args.find((a) => a.includes("#"));
const seed = args.find((a) => !a.includes("#")) ?? "127.0.0.1:4040";

await configure({
  nodeid: "eg_sender/%u",
  binds: ["127.0.0.1:*"],
  seeds: [seed],
  secret: process.env.AEMP_SECRET ?? "aemp-sample-secret",
});

async function finish(code: number, text: string): Promise<never> {
  (code === 0 ? console.log : console.error)(text);
  await shutdown();
  process.exit(code);
}

let receiver = target;
if (receiver === undefined) {
  const family = await dbWaitFor("eg_receivers", 5);
  receiver = Object.keys(family ?? {})[0];
  if (receiver === undefined) await finish(1, "no receiver registered in eg_receivers within 5 s");
}
const to = receiver!;

const data = `hello from ${NODE()}`;
const outcome = await new Promise<{ code: number; text: string }>((resolve) => {
  // If the receiver's port (or its whole node) is gone, say why at once instead of
  // waiting for the timeout: the monitor fires with the kill reason.
  const watch: Guard = mon(to, (...reason: unknown[]) => {
    resolve({ code: 1, text: `the receiver is gone: ${reason.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join(" ") || "killed"}` });
  });
  cal(to, "test", data, (...reply: unknown[]) => {
    watch.cancel();
    if (reply.length === 0) resolve({ code: 1, text: "no reply within 5 s" });
    else resolve({ code: 0, text: `Reply: ${JSON.stringify(reply)}` });
  }, 5);
});
await finish(outcome.code, outcome.text);
