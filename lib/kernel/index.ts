/** The kernel's public surface (lib/index.ts re-exports it). */
export { NODE, asPort, nodeOf, portIsLocal } from "./ids.ts";
export { type Guard } from "./guard.ts";
export { SELF, SRCNODE, kil, peval, port, psub, rcv, snd } from "./ports.ts";
export type { InferMessage, InvalidMessageAction, MessageSchema, PortOptions, SchemaIssue, SchemaResult } from "./schema.ts";
export type { Callback, KillReason, Message, MessageOf, NormalKill, PortId, Receiver, ReplyOf, RequestOf, RequestRest, MessageDoesNotMatchPort, PortTag, RestOf, SpreadOnly, TagCallback, TagOf, TagReceiver, TypedOnly, UntypedOnly } from "./types.ts";
export { mon, monGuard, portSignal } from "./mon.ts";
export { after, cal } from "./timers.ts";
export { registerInit, spawn } from "./spawn.ts";
