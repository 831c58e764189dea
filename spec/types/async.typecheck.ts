/**
 * Typed async ports: the inbox's get, getCond (type guards, the switch form) and
 * messages; the untyped free functions as before. Compiled, never run (see expect.ts).
 */
import * as z from "zod";
import { type Message, type PortId, get, getCond, messages, port, portAsync, rcvAsync, snd } from "aemp";
import { type Equal, exactly, expect } from "./expect.ts";

type Reply = ["thanks", string, string];
type Hello = ["hello", PortId<Reply>, string];
type Data = ["data", PortId<Reply>, string];
type Close = ["close"];
type Server = Hello | Data | Close;

export function typedGet(): void {
  const server = portAsync<Server>(async (self, { get }) => {
    exactly<PortId<Server>>()(self);
    const [client, name] = await get("hello");
    exactly<PortId<Reply>>()(client);
    exactly<string>()(name);
    exactly<[]>()(await get("close"));
    // With a timeout the message may not come.
    const data = await get("data", 5);
    exactly<[PortId<Reply>, string] | undefined>()(data);
    exactly<[] | undefined>()(await get("close", { timeout: 1 }));
    // @ts-expect-error the port has no "bye" messages
    await get("bye");
    // @ts-expect-error a timeout is seconds or { timeout, signal }
    await get("hello", "5");
    if (data !== undefined) snd(data[0], "thanks", name, data[1]);
    // @ts-expect-error the reply port is typed too
    snd(client, "thanks", name);
  });
  expect<Equal<typeof server, PortId<Server>>>();
  snd(server, "close");
}

export function typedGetCond(): void {
  portAsync<Server>(async (_self, { getCond }) => {
    // The README's example: no casts, no `!`.
    const [, client, name] = await getCond((m): m is Hello => m[0] === "hello");
    const msg = await getCond((m): m is Data => m[0] === "data" && m[1] === client, 5);
    if (msg === undefined) throw new Error(`timeout waiting for data from ${client}`);
    snd(client, "thanks", name, msg[2]);
    // A predicate TypeScript itself infers as a type guard narrows as well.
    exactly<Close>()(await getCond((m) => m[0] === "close"));
    // A plain predicate (or none) gives the union.
    exactly<Server>()(await getCond((m) => m.length > 1));
    exactly<Server>()(await getCond());
    exactly<Server | undefined>()(await getCond(undefined, 0));
    // The switch form types its result: the union of what the returned functions return.
    const more = await getCond((m) => {
      if (m[0] === "data") return ([, , chunk]: Server) => chunk?.length ?? 0;
      if (m[0] === "close") return () => false;
      return undefined;
    }, 5);
    exactly<number | boolean | undefined>()(more);
    // A case may declare the message type its predicate made sure of.
    exactly<string>()(await getCond((m) => m[0] === "data" && (([, , chunk]: Data) => chunk)));
    const asynchronous = await getCond((m) => (m[0] === "close" ? async () => "closed" as const : null));
    exactly<"closed">()(asynchronous);
    // @ts-expect-error the predicate sees the port's messages
    await getCond((m: ["other"]) => m[0] === "other");
  });
}

export function typedMessages(): void {
  portAsync<Server>(async (_self, { messages }) => {
    for await (const msg of messages()) exactly<Server>()(msg);
    for await (const rest of messages("data")) exactly<[PortId<Reply>, string]>()(rest);
    // @ts-expect-error not a tag of the port
    messages("bye");
  });
}

export function withSchemaAndRcvAsync(): void {
  const schema = z.union([z.tuple([z.literal("job"), z.number()]), z.tuple([z.literal("quit")])]);
  const worker = portAsync({ schema, onInvalid: "kill" }, async (self, { get }) => {
    exactly<PortId<["job", number] | ["quit"]>>()(self);
    const [n] = await get("job");
    exactly<number>()(n);
  });
  snd(worker, "job", 1);
  // @ts-expect-error the schema's messages only
  snd(worker, "job", "1");
  const p = rcvAsync(port<Close>(), async (_self, { get }) => {
    exactly<[]>()(await get("close"));
  });
  expect<Equal<typeof p, PortId<Close>>>();
}

export function untypedAsSbefore(): void {
  // The free functions are the untyped view: what compiled before compiles.
  const p = portAsync(async (self) => {
    exactly<string>()(self);
    const [reply, text] = (await get("echo"))!;
    snd(reply as string, "echoed", text);
    const maybe = await get("x", 1);
    exactly<Message | undefined>()(maybe);
    exactly<Message>()(await getCond());
    const m = await getCond((msg) => msg[0] === "hello", 5);
    if (!m) throw new Error("timeout");
    exactly<Message>()(m);
    const n = await getCond<number>((msg) => (msg[0] === "n" ? ([, x]: unknown[]) => x as number : undefined), 5);
    exactly<number | undefined>()(n);
    for await (const msg of messages()) exactly<Message>()(msg);
  });
  expect<Equal<typeof p, string>>();
}
