/** The kernel's public surface (lib/index.ts re-exports it). */
export { NODE, nodeOf, portIsLocal } from "./ids.ts";
export { type Guard } from "./guard.ts";
export { type Callback, type Message, SELF, SRCNODE, kil, peval, port, psub, rcv, snd } from "./ports.ts";
export { mon, monGuard, portSignal } from "./mon.ts";
export { after, cal } from "./timers.ts";
export { registerInit, spawn } from "./spawn.ts";
