/**
 * Typed ports: port<M>(), snd, rcv, asPort, schemas. Compiled, never run (see expect.ts).
 */
import * as v from "valibot";
import * as z from "zod";
import { type Callback, type Message, type PortId, after, asPort, kil, mon, port, rcv, sndOn, snd } from "aemp";
import { type Equal, exactly, expect } from "./expect.ts";

type Ping = ["ping", number] | ["stop"];

export function typedSnd(): void {
  const p = port<Ping>();
  expect<Equal<typeof p, PortId<Ping>>>();
  snd(p, "ping", 1);
  snd(p, "stop");
  // @ts-expect-error the payload of "ping" is a number
  snd(p, "ping", "x");
  // @ts-expect-error "pong" is not a message of the port
  snd(p, "pong");
  // @ts-expect-error a message needs a tag
  snd(p);
  // @ts-expect-error "stop" has no payload
  snd(p, "stop", 1);
  // @ts-expect-error "ping" needs its number
  snd(p, "ping");
  const fromCallback = port<Ping>((...msg) => exactly<Ping>()(msg));
  snd(fromCallback, "stop");
  after(1, p, "ping", 2);
  // @ts-expect-error after checks the message like snd
  after(1, p, "ping", "x");
  sndOn("node", p, "ping", 3);
  // @ts-expect-error sndOn checks the message like snd
  sndOn("node", p, "pong");
}

export function plainStrings(anyId: string, args: unknown[]): void {
  const p = port<Ping>();
  // A typed port is a string wherever a string is expected.
  const s: string = p;
  const ids: string[] = [p, port()];
  kil(p);
  mon(p, () => {});
  // An untyped port (a plain string) takes anything, as before.
  const u = port();
  expect<Equal<typeof u, string>>();
  snd(u, "anything", 1, { a: 2 });
  snd(anyId, "x");
  snd(anyId, ...args);
  snd("somenode", "to", "a node port");
  sndOn("node", ...args);
  // A plain string is not a typed port until turned into one explicitly.
  // @ts-expect-error a string is not a PortId<Ping>
  const typed: PortId<Ping> = anyId;
  const turned = asPort<Ping>(anyId);
  snd(turned, "ping", 1);
  // @ts-expect-error once typed, the compiler holds senders to the type
  snd(turned, "pong");
  void [s, ids, typed];
}

export function variance(): void {
  const p = port<Ping>();
  // A port that accepts more stands in for one that accepts less...
  const stopOnly: PortId<["stop"]> = p;
  snd(stopOnly, "stop");
  // @ts-expect-error ...but not the other way round
  const more: PortId<Ping | ["go"]> = p;
  void more;
}

export function typedRcv(): void {
  const p = port<Ping>();
  rcv(p, "ping", (n) => exactly<number>()(n));
  rcv(p, "stop", () => kil(p));
  rcv(p, "ping", (n) => exactly<number>()(n), "stop", () => {});
  rcv(p, "ping", undefined);
  rcv(p, "stop");
  // @ts-expect-error the port has no "pong" messages
  rcv(p, "pong", () => {});
  // @ts-expect-error the payload of "ping" is a number, not a string
  rcv(p, "ping", (n: string) => n);
  // @ts-expect-error "stop" carries nothing
  rcv(p, "stop", (x: number) => x);
  // @ts-expect-error the second pair is checked too
  rcv(p, "ping", () => {}, "pong", () => {});
  // The default receiver gets the union.
  rcv(p, (...msg) => {
    exactly<Ping>()(msg);
    if (msg[0] === "ping") exactly<number>()(msg[1]);
  });
  // rcv returns the port with its type; a callback may refer to the port it configures.
  const q = rcv(port<Ping>(), "stop", () => kil(q));
  expect<Equal<typeof q, PortId<Ping>>>();
}

export function untypedRcv(): void {
  // Every form that compiled before still does, with the parameter types callbacks declare.
  const u = port();
  rcv(u, "test", (value: number) => value);
  rcv(u, "a", (x: number) => x, "b", (y: string) => y, "c", undefined, "d", () => {}, "e", (..._: unknown[]) => {});
  rcv(u, (...msg: unknown[]) => msg);
  rcv(u, (tag: string) => tag);
  const dying = rcv(port(), "x", () => kil(dying, "boom"));
  expect<Equal<typeof dying, string>>();
  const cb: Callback = (n: number, s: string) => n + s.length;
  port(cb);
  // Unannotated parameters are unknown, not any.
  rcv(u, "ping", (n) => exactly<unknown>()(n));
}

export function schemas(): void {
  const zodPing = z.union([z.tuple([z.literal("ping"), z.number()]), z.tuple([z.literal("stop")])]);
  const zp = port(zodPing);
  expect<Equal<typeof zp, PortId<["ping", number] | ["stop"]>>>();
  snd(zp, "ping", 1);
  // @ts-expect-error the schema's type is the port's
  snd(zp, "ping", "1");
  const valibotAdd = v.tuple([v.literal("add"), v.number(), v.number()]);
  const vp = port({ schema: valibotAdd, onInvalid: "kill" }, (...msg) => exactly<["add", number, number]>()(msg));
  rcv(vp, "add", (a, b) => exactly<number>()(a + b));
  // @ts-expect-error only "drop" or "kill"
  port({ schema: valibotAdd, onInvalid: "ignore" });
  // @ts-expect-error a schema must produce a message (an array)
  port(z.object({ tag: z.string() }));
  // @ts-expect-error the callback must take what the schema produces
  port(valibotAdd, (_tag: "add", a: string) => a);
}

export type { Message };
