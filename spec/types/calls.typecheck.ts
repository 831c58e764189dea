/**
 * cal and syncal with reply types; mon with typed kill reasons. Compiled, never run
 * (see expect.ts).
 */
import { type KillReason, type Message, type PortId, PortKilledError, cal, mon, port, rcv, snd, syncal } from "aemp";
import { exactly } from "./expect.ts";

type Pong = ["pong", number];
type Time = ["time", number];
type Server = ["ping", number, PortId<Pong>] | ["time", PortId<Time>] | ["stop"];

export function server(): PortId<Server> {
  const s = port<Server>();
  rcv(s, "ping", (n, reply) => snd(reply, "pong", n + 1));
  // @ts-expect-error the reply port takes only its own reply
  rcv(s, "time", (reply) => snd(reply, "pong", 1));
  return s;
}

export async function typedCalls(s: PortId<Server>): Promise<void> {
  exactly<Pong | undefined>()(await syncal(5, s, "ping", 1));
  exactly<Time | undefined>()(await syncal(undefined, s, "time"));
  // @ts-expect-error the request's payload is a number
  await syncal(5, s, "ping", "1");
  // @ts-expect-error "stop" is not a request (it takes no reply port)
  await syncal(5, s, "stop");
  // @ts-expect-error "ping" needs its number
  await syncal(5, s, "ping");
  cal(s, "ping", 1, (...reply) => exactly<Pong | []>()(reply));
  cal(s, "time", (...reply) => exactly<Time | []>()(reply), 5);
  // @ts-expect-error the request is checked
  cal(s, "ping", "x", () => {});
  // @ts-expect-error the callback takes the reply (or nothing on a timeout)
  cal(s, "time", (tag: "pong") => tag, 5);
}

export async function untypedCalls(target: string, args: unknown[]): Promise<void> {
  // As before: anything goes, and the reply is a message of unknown shape...
  exactly<Message | undefined>()(await syncal(5, target, "ping", 1));
  cal(target, "add", 1, 2, (...reply: unknown[]) => reply);
  cal(target, "add", 1, 2, (sum: number) => sum, 5);
  cal(target, ...args);
  // ...unless the caller names the reply type.
  exactly<Pong | undefined>()(await syncal<Pong>(5, target, "ping", 1));
  cal<Pong>(target, "ping", 1, (...reply) => exactly<Pong | []>()(reply), 5);
}

export function monitorReasons(p: string): void {
  mon(p, (...reason) => {
    exactly<KillReason>()(reason);
    // Any other reason may start with the same tag, so only a closed union narrows.
    if (reason[0] === "transport_error") exactly<unknown>()(reason[1]);
  });
  // With the port's own reasons named, the union is closed and narrows by tag.
  mon<["failure", string]>(p, (...reason) => {
    if (reason[0] === "die") exactly<string>()(reason[1]);
    if (reason[0] === "transport_error") exactly<string>()(reason[2]);
    if (reason.length === 0) exactly<[]>()(reason);
    if (reason[0] === "failure") exactly<string>()(reason[1]);
  });
  mon(p, (...reason: unknown[]) => reason);
  mon(p, () => {});
  // @ts-expect-error a reason is not always two strings
  mon(p, (type: string, text: string) => type + text);
  const err = new PortKilledError(p, ["die", "x"]);
  exactly<KillReason>()(err.reason);
}
