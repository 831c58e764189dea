/** The async-port layer's public surface (lib/index.ts re-exports it). */
export { type AsyncPortFn, type WaitOptions, get, getCond, mailboxOf, messages, pevalAsync, portAsync, rcvAsync } from "./ports.ts";
export { syncal } from "./syncal.ts";
