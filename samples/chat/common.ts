/**
 * What the chat samples (samples/chat, samples/chat-spawn) share: the command-line
 * conventions and a few small helpers. Not a program of its own.
 *
 * - The network's shared secret comes from AEMP_SECRET (default "aemp-sample-secret";
 *   every node of one network must use the same).
 * - Every program takes the seed's address as an argument, default 127.0.0.1:4040,
 *   where samples/chat/seed.ts listens by default.
 */
import { clearLine, createInterface, cursorTo } from "node:readline";

export const DEFAULT_SEED = "127.0.0.1:4040";

/** The database family chat servers register their port in (samples/chat). */
export const CHAT_SERVERS = "chat::servers";

export function secret(): string {
  return process.env.AEMP_SECRET ?? "aemp-sample-secret";
}

/** A kill reason as one line: "normal", or its parts joined by spaces. */
export function reasonText(reason: unknown[]): string {
  if (reason.length === 0) return "normal";
  return reason.map((r) => (typeof r === "string" ? r : JSON.stringify(r))).join(" ");
}

/** Whether `value` looks like a port ID (node#name). */
export function isPortId(value: unknown): value is string {
  return typeof value === "string" && value.indexOf("#") > 0;
}

/** Exits cleanly on Ctrl-C and `kill`, running `cleanup` first. */
export function exitOnSignals(cleanup: () => unknown = () => {}): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void Promise.resolve(cleanup()).finally(() => process.exit(0));
    });
  }
}

export interface ChatTerminal {
  /** Prints a line without mangling what the user is typing. */
  show(line: string): void;
}

/**
 * The terminal side of a chat client: reads lines from stdin and hands each non-empty
 * one to `onLine`; calls `onQuit` on end of input, Ctrl-C or SIGTERM. In a terminal it
 * keeps a "> " prompt below the output; with piped input it prints plain lines.
 */
export function chatTerminal(onLine: (line: string) => void, onQuit: () => void): ChatTerminal {
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const input = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, prompt: "> " });
  input.on("line", (line) => {
    if (line !== "") onLine(line);
    if (tty) input.prompt();
  });
  input.on("close", onQuit);
  input.on("SIGINT", onQuit); // Ctrl-C in a terminal (readline takes it)
  process.once("SIGINT", onQuit);
  process.once("SIGTERM", onQuit);
  if (tty) input.prompt();
  return {
    show(line) {
      if (!tty) {
        console.log(line);
        return;
      }
      clearLine(process.stdout, 0);
      cursorTo(process.stdout, 0);
      console.log(line);
      input.prompt(true);
    },
  };
}
