/** The async-port layer's public surface (lib/index.ts re-exports it). */
export { type AsyncPortFn, get, getCond, mailboxOf, messages, pevalAsync, portAsync, rcvAsync } from "./ports.ts";
export type { Falsy, Inbox, MessageIterator, OrTimeout, SwitchCase, SwitchResult, Wait, WaitOptions } from "./inbox.ts";
export { syncal } from "./syncal.ts";
