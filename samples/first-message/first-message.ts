/**
 * Your first message: create a port, give it a callback for messages tagged "test",
 * send it ["test", 123] and print what the callback received. Prints
 * "Ending with: 123".
 *
 * Run: npx tsx samples/first-message/first-message.ts
 */
import { kil, port, rcv, snd } from "aemp";

const p = port();

// The callback gets the message without its tag. A promise stands in for a condition
// variable: the main program waits on it while the message travels.
const received = new Promise<number>((resolve) => {
  rcv(p, "test", (data: number) => resolve(data));
});

snd(p, "test", 123);

console.log(`Ending with: ${await received}`);
kil(p);
