/**
 * The chat client with its supervisor (the tutorial's part 2): finds a server in the
 * database, joins it, prints what the server relays and sends what you type.
 *
 * The supervisor is `connect()`: it waits (dbChanges) until `chat::servers` lists a
 * server not known to be dead, creates a client port, joins, and monitors both sides:
 * - the client port's monitor runs `connect()` again whenever the client port dies;
 * - the server's monitor kills the client port when the server goes away (its port
 *   died, its node died, the link broke), which starts that reconnection.
 * So killing and restarting the server only interrupts the chat: the client finds the
 * new server as soon as it registers.
 *
 * Run: npx tsx samples/chat/client.ts NICK [SEED]   (seed default 127.0.0.1:4040)
 * Type a line and Enter to say it; Ctrl-D (end of input) or Ctrl-C quits. In a terminal
 * it shows a "> " prompt; with piped input it prints plain lines, one per event:
 * "connecting...", "connected to PORT (N users)", "disconnected (REASON)", and each
 * relayed message.
 */
import { configure, dbChanges, kil, mon, port, rcv, shutdown, snd } from "aemp";
import { CHAT_SERVERS, DEFAULT_SEED, chatTerminal, reasonText, secret } from "./common.ts";

const [nick, seed = DEFAULT_SEED] = process.argv.slice(2);
if (nick === undefined || nick === "" || nick.startsWith("-")) {
  console.error("usage: client.ts NICK [SEED]");
  process.exit(2);
}
await configure({ nodeid: "chat-client/%u", binds: ["127.0.0.1:*"], seeds: [seed], secret: secret() });

/** The server and our client port while connected. */
let session: { server: string; client: string } | undefined;
/** Servers seen to die: never tried again (port IDs are not reused). */
const dead = new Set<string>();
let quitting = false;

/** Waits until the database lists a server we have not seen die. */
async function findServer(): Promise<string> {
  for await (const { family } of dbChanges(CHAT_SERVERS)) {
    const server = Object.keys(family).find((s) => !dead.has(s));
    if (server !== undefined) return server; // leaving the loop stops the monitor
  }
  throw new Error("unreachable: dbChanges never ends by itself");
}

/** The supervisor: (re)connects to a server. */
async function connect(): Promise<void> {
  show("connecting...");
  const server = await findServer();
  if (quitting) return;
  const client = port((...msg: unknown[]) => show(`(unexpected message ${JSON.stringify(msg)})`));
  rcv(client, "msg", (text: string) => show(text));
  rcv(client, "welcome", (_server: string, users: number) => show(`connected to ${server} (${users} user${users === 1 ? "" : "s"})`));
  mon(client, (...reason: unknown[]) => {
    session = undefined;
    if (quitting) return;
    show(`disconnected (${reasonText(reason)})`);
    void connect();
  });
  // Whatever happens to the server, even a normal exit, ends this session.
  mon(server, (...reason: unknown[]) => {
    dead.add(server);
    kil(client, "server_gone", ...(reason.length > 0 ? reason : ["normal exit"]));
  });
  session = { server, client };
  snd(server, "join", client, nick);
}

async function quit(): Promise<void> {
  if (quitting) return;
  quitting = true;
  // A normal kill: the server says "NICK (quits)" to the others.
  if (session !== undefined) kil(session.client);
  await shutdown();
  process.exit(0);
}

const { show } = chatTerminal(
  (line) => {
    if (session !== undefined) snd(session.server, "say", session.client, line);
    else show("(not connected; try again in a moment)");
  },
  () => void quit(),
);
void connect();
