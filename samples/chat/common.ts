/**
 * What the chat samples (samples/chat, samples/chat-spawn) share: the command-line
 * conventions and a few small helpers. Not a program of its own.
 *
 * - The network's shared secret comes from AEMP_SECRET (default "aemp-sample-secret";
 *   every node of one network must use the same).
 * - Every program takes the seed's address as an argument, default 127.0.0.1:4040,
 *   where samples/chat/seed.ts listens by default.
 */
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
export function exitOnSignals(cleanup: () => Promise<void> | void = () => {}): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void Promise.resolve(cleanup()).finally(() => process.exit(0));
    });
  }
}
