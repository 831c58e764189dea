/**
 * A supervisor for the file-writer server: every port thread should have one. It
 * `mon`s the server, says why it died and starts a fresh one, at most `maxRestarts`
 * times within `period` seconds; past that it gives up and dies itself. It is a library
 * module; `npm start` (demo.ts) shows it at work.
 *
 * The supervisor is a port too. `mon(server, supervisor, "died", server)` turns the
 * server's death into a ["died", server, ...reason] message, so restarts run on the
 * run queue like any other message, never inside the `kil` that killed the server.
 * The server is linked to the supervisor (`mon(supervisor, server)`): if the
 * supervisor is killed abnormally, its current server dies with it.
 *
 * Policy: any death of the current server is restarted, normal kills included (the
 * server never ends on its own; to end it, call `stop()`). Clients hold a server port,
 * so they should ask `supervisor.server` (or listen to `onRestart`) for the current
 * one; requests queued at a server that died are lost with it (sendFile in client.ts
 * notices, since it monitors the server).
 */
import { type Guard, type KillReason, kil, mon, port, rcv } from "aemp";
import { type FileWriter, type FileWriterOptions, reasonText, startFileWriter } from "./server.ts";

/** What the supervisor's port receives: a server's death, as `mon`'s message form sends it. */
type Died = ["died", server: FileWriter, ...reason: KillReason];

export interface SupervisorOptions extends FileWriterOptions {
  /** Restarts allowed within `period` seconds before giving up (default 5). */
  maxRestarts?: number;
  /** The window, in seconds, that `maxRestarts` counts over (default 60). */
  period?: number;
  /** Told why the server died; by default a line on stderr. */
  onDeath?: (server: FileWriter, reason: unknown[]) => void;
  /** Told about each new server after a restart. */
  onRestart?: (server: FileWriter, previous: FileWriter) => void;
  /**
   * Told that the restart limit was reached; the supervisor port then dies with
   * ["restart_limit", text] (if nobody monitors it, the kernel logs that as an error).
   */
  onGiveUp?: (reason: unknown[]) => void;
}

export interface FileWriterSupervisor {
  /** The current server port (after a restart, the new one). */
  readonly server: FileWriter;
  /** The supervisor's own port: `mon` it to learn when it gives up or stops. */
  readonly port: string;
  /** How many times the server has been restarted. */
  readonly restarts: number;
  /** Stops supervising and kills the current server (normally). Idempotent. */
  stop(): void;
}

/** Starts a file-writer server under a supervisor. */
export function superviseFileWriter(options: SupervisorOptions = {}): FileWriterSupervisor {
  const maxRestarts = options.maxRestarts ?? 5;
  const period = options.period ?? 60;
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) throw new TypeError(`superviseFileWriter: 'maxRestarts' must be an integer >= 0, received ${String(maxRestarts)}`);
  if (typeof period !== "number" || !(period > 0)) throw new TypeError(`superviseFileWriter: 'period' must be a positive number of seconds, received ${String(period)}`);
  const onDeath = options.onDeath ?? ((server, reason) => console.error(`file writer ${server} died: ${reasonText(reason)}`));
  const serverOptions: FileWriterOptions = { dataTimeout: options.dataTimeout };

  const self = port<Died>();
  const recent: number[] = []; // times of the restarts within the window, oldest first
  let restarts = 0;
  let link: Guard | undefined;
  let current: FileWriter;
  try {
    current = start();
  } catch (err) {
    kil(self); // e.g. a bad dataTimeout: leave no idle supervisor port behind
    throw err;
  }

  function start(): FileWriter {
    const server = startFileWriter(serverOptions);
    mon(server, self, "died", server);
    link = mon(self, server);
    return server;
  }

  rcv(self, "died", (server, ...reason) => {
    if (server !== current) return;
    link?.cancel();
    onDeath(server, reason);
    const now = performance.now();
    while (recent.length > 0 && now - recent[0] >= period * 1000) recent.shift();
    if (recent.length >= maxRestarts) {
      const why = ["restart_limit", `file writer died ${recent.length + 1} times within ${period} s; last reason: ${reasonText(reason)}`];
      options.onGiveUp?.(why);
      kil(self, ...why);
      return;
    }
    recent.push(now);
    restarts++;
    const previous = current;
    current = start();
    options.onRestart?.(current, previous);
  });

  return {
    get server() {
      return current;
    },
    port: self,
    get restarts() {
      return restarts;
    },
    stop() {
      // The supervisor goes first, so the server's "died" message finds nobody.
      kil(self);
      kil(current);
    },
  };
}
