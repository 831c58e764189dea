/**
 * The chat server (the tutorial's "resilient chat", part 2): one port that clients join,
 * registered in the database family `chat::servers` so clients can find it.
 *
 * Messages it understands:
 *   ["join", clientPort, nick]  the client joins; it gets ["welcome", serverPort, users]
 *                               and everyone gets "nick (joins)"
 *   ["say", clientPort, text]   everyone gets "nick: text"
 * Everything it relays goes to each client as ["msg", text] (and is printed here as
 * "relaying: text"). The server monitors every client: when one goes away, by quitting
 * or because its node died or lost its link, the others get "nick (quits: reason)".
 *
 * `dbReg` removes the registration when the server port dies, and the global nodes
 * remove it when this whole process goes away, so clients never wait on a dead server
 * for long. If the server port itself dies (a bug), the process exits with status 1: let
 * whatever supervises processes restart it.
 *
 * Run: npx tsx samples/chat/server.ts [SEED]   (seed default 127.0.0.1:4040; start
 *      samples/chat/seed.ts first)
 */
import { configure, dbReg, mon, port, rcv, shutdown, snd } from "aemp";
import { CHAT_SERVERS, DEFAULT_SEED, exitOnSignals, isPortId, reasonText, secret } from "./common.ts";

const seed = process.argv[2] ?? DEFAULT_SEED;
await configure({ nodeid: "chat-server/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret: secret() });

/** Client port -> nick. */
const clients = new Map<string, string>();

function broadcast(text: string): void {
  console.log(`relaying: ${text}`);
  for (const client of clients.keys()) snd(client, "msg", text);
}

// Anything the server does not understand is reported, not fatal: a confused client
// must not bring the chat down.
const server = port((...msg: unknown[]) => console.error(`ignored a message: ${JSON.stringify(msg).slice(0, 200)}`));

rcv(server, "join", (client: unknown, nick: unknown) => {
  if (!isPortId(client) || clients.has(client)) return;
  const name = typeof nick === "string" && nick !== "" ? nick : "anonymous";
  clients.set(client, name);
  mon(client, (...reason: unknown[]) => {
    clients.delete(client);
    broadcast(`${name} (quits${reason.length > 0 ? `: ${reasonText(reason)}` : ""})`);
  });
  snd(client, "welcome", server, clients.size);
  broadcast(`${name} (joins)`);
});

rcv(server, "say", (client: unknown, text: unknown) => {
  const name = typeof client === "string" ? clients.get(client) : undefined;
  if (name !== undefined && typeof text === "string") broadcast(`${name}: ${text}`);
});

mon(server, (...reason: unknown[]) => {
  console.error(`the server port died (${reasonText(reason)}); exiting`);
  process.exit(1);
});

dbReg(CHAT_SERVERS, server);
console.log(`chat server ${server} ready`);
exitOnSignals(shutdown);
