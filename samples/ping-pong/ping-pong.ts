/**
 * Ping-pong: two ports bat one message back and forth until N messages (default
 * 100,000) have been delivered, then both ports are killed and the rate is printed.
 * `snd` never calls a receiver from inside itself, so this is a loop over the kernel's
 * run queue, not a recursion: any N works, and the process exits on its own when done.
 * Both ports are typed with the one message they accept, so the compiler checks every
 * `snd` and gives the callback its number.
 *
 * Run: npx tsx samples/ping-pong/ping-pong.ts [N]
 */
import { type PortId, kil, port, rcv, snd } from "aemp";

type Ball = ["ball", n: number];

const arg = process.argv[2] ?? "100000";
const total = Number(arg.replaceAll("_", ""));
if (!Number.isSafeInteger(total) || total < 1) {
  console.error(`usage: ping-pong.ts [N]   (N: number of messages, a positive integer; got "${arg}")`);
  process.exit(2);
}

const ping = port<Ball>();
const pong = port<Ball>();

const finished = new Promise<void>((resolve) => {
  // Message number n arrives; the player sends number n + 1 to the other one, until
  // the last message has been received.
  const play = (self: PortId<Ball>, other: PortId<Ball>): void => {
    rcv(self, "ball", (n) => {
      if (n < total) snd(other, "ball", n + 1);
      else resolve();
    });
  };
  play(ping, pong);
  play(pong, ping);
});

const start = performance.now();
snd(ping, "ball", 1);
await finished;
const ms = performance.now() - start;
kil(ping);
kil(pong);

const rate = Math.round(total / (ms / 1000));
console.log(`ping-pong: ${total.toLocaleString("en-US")} message${total === 1 ? "" : "s"} in ${ms.toFixed(1)} ms (${rate.toLocaleString("en-US")} messages/s)`);
