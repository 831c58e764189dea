/**
 * The chat client for the "bridge head" server (samples/chat-spawn/server.ts): instead
 * of joining a server port, it spawns its own port on the server's node, running the
 * server's `chat::clientConnect` with our client port and nick, and talks to that.
 *
 * The supervisor `connect()` waits until `chat::nodes` lists a server node, creates
 * the client port, spawns the bridge head there and monitors it; the bridge head
 * monitors the client in turn. When the bridge head dies (the server node went away,
 * or its init failed) the client port is killed, and its monitor runs `connect()`
 * again, which waits for a server node to show up.
 *
 * Run: npx tsx samples/chat-spawn/client.ts NICK [SEED]   (seed default 127.0.0.1:4040)
 * Same terminal behaviour as samples/chat/client.ts.
 */
import { configure, dbChanges, kil, mon, port, rcv, shutdown, snd, spawn } from "aemp";
import { DEFAULT_SEED, chatTerminal, reasonText, secret } from "../chat/common.ts";

const CHAT_NODES = "chat::nodes"; // as in server.ts (importing it would start a server)

const [nick, seed = DEFAULT_SEED] = process.argv.slice(2);
if (nick === undefined || nick === "" || nick.startsWith("-")) {
  console.error("usage: client.ts NICK [SEED]");
  process.exit(2);
}
await configure({ nodeid: "chat-spawn-client/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret: secret() });

/** Our bridge head on the server node and our client port, while connected. */
let session: { bridge: string; client: string } | undefined;
/** Server nodes whose bridge head died: not tried again (a restarted node has a new ID). */
const dead = new Set<string>();
let quitting = false;

async function findServerNode(): Promise<string> {
  for await (const { family } of dbChanges(CHAT_NODES)) {
    const node = Object.keys(family).find((n) => !dead.has(n));
    if (node !== undefined) return node;
  }
  throw new Error("unreachable: dbChanges never ends by itself");
}

async function connect(): Promise<void> {
  show("connecting...");
  const node = await findServerNode();
  if (quitting) return;
  const client = port((...msg: unknown[]) => show(`(unexpected message ${JSON.stringify(msg)})`));
  rcv(client, "msg", (text: string) => show(text));
  rcv(client, "welcome", (bridge: string, users: number) => show(`connected via ${bridge} (${users} user${users === 1 ? "" : "s"})`));
  mon(client, (...reason: unknown[]) => {
    session = undefined;
    if (quitting) return;
    show(`disconnected (${reasonText(reason)})`);
    void connect();
  });
  // spawn returns the new port's ID at once; messages and monitors may follow at once.
  const bridge = spawn(node, "chat::clientConnect", client, nick);
  mon(bridge, (...reason: unknown[]) => {
    dead.add(node);
    kil(client, "server_gone", ...(reason.length > 0 ? reason : ["normal exit"]));
  });
  session = { bridge, client };
}

async function quit(): Promise<void> {
  if (quitting) return;
  quitting = true;
  if (session !== undefined) kil(session.client); // the bridge head sees it and ends too
  await shutdown();
  process.exit(0);
}

const { show } = chatTerminal(
  (line) => {
    if (session !== undefined) snd(session.bridge, "say", line);
    else show("(not connected; try again in a moment)");
  },
  () => void quit(),
);
void connect();
