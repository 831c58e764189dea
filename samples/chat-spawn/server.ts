/**
 * The chat server, "bridge head" style (the tutorial's part 3): there is no server
 * port. The server node registers itself (its node ID) in the database family
 * `chat::nodes` and registers an init function, `chat::clientConnect`, that clients
 * `spawn` on this node. Each spawned port is the client's bridge head here: it carries
 * that one client's lines to everybody, and it lives exactly as long as its client.
 *
 * Both sides monitor each other:
 * - the bridge head monitors its client port: when the client goes away (quits, its
 *   node dies, the link breaks) the others get "nick (quits...)" and the bridge head
 *   ends itself;
 * - the client monitors the bridge head (samples/chat-spawn/client.ts): when it dies,
 *   or this whole node does, the client reconnects.
 *
 * Messages a bridge head understands: ["say", text]. Clients receive ["welcome",
 * bridgeHead, users] once, then ["msg", text] for everything relayed.
 *
 * Run: npx tsx samples/chat-spawn/server.ts [SEED]   (start samples/chat/seed.ts first)
 */
import { NODE, SELF, configure, dbSet, kil, mon, rcv, registerInit, shutdown, snd } from "aemp";
import { DEFAULT_SEED, exitOnSignals, isPortId, reasonText, secret } from "../chat/common.ts";

/** The family chat-spawn servers register their node ID in. */
export const CHAT_NODES = "chat::nodes";

/** Bridge head port -> its client's port and nick. */
const clients = new Map<string, { client: string; nick: string }>();

function broadcast(text: string): void {
  console.log(`relaying: ${text}`);
  for (const { client } of clients.values()) snd(client, "msg", text);
}

/** Runs in the new port's context: SELF() is the bridge head. */
function clientConnect(client: unknown, nick: unknown): void {
  if (!isPortId(client)) throw new Error("chat::clientConnect: the first argument must be the client's port");
  const self = SELF();
  const name = typeof nick === "string" && nick !== "" ? nick : "anonymous";
  clients.set(self, { client, nick: name });
  mon(client, (...reason: unknown[]) => {
    clients.delete(self);
    broadcast(`${name} (quits${reason.length > 0 ? `: ${reasonText(reason)}` : ""})`);
    kil(self); // a normal end: this bridge head has nothing left to do
  });
  rcv(self, "say", (text: unknown) => {
    if (typeof text === "string") broadcast(`${name}: ${text}`);
  });
  snd(client, "welcome", self, clients.size);
  broadcast(`${name} (joins)`);
}

// Registered before configure: a spawn request can arrive as soon as the node is up.
registerInit("chat::clientConnect", clientConnect);

const seed = process.argv[2] ?? DEFAULT_SEED;
await configure({ nodeid: "chat-spawn-server/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret: secret() });
// The global nodes drop this entry when this node goes away.
dbSet(CHAT_NODES, NODE());
console.log(`chat-spawn server on node ${NODE()} ready`);
exitOnSignals(shutdown);
