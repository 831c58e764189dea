/** Every `aemp` command, and finding one by name (aliases and setKEY/delKEY forms included). */
import binds from "./binds.ts";
import cal from "./cal.ts";
import cert from "./cert.ts";
import type { Command } from "./command.ts";
import db from "./db.ts";
import dbmon from "./dbmon.ts";
import { helpCommand } from "./help.ts";
import keys from "./keys.ts";
import logs from "./logs.ts";
import mon from "./mon.ts";
import nodeid from "./nodeid.ts";
import nodes from "./nodes.ts";
import observe from "./observe.ts";
import ping from "./ping.ts";
import profile from "./profile.ts";
import run from "./run.ts";
import secret from "./secret.ts";
import seeds from "./seeds.ts";
import services from "./services.ts";
import showconfig from "./showconfig.ts";
import snd from "./snd.ts";
import trace from "./trace.ts";

let rcFile = "";

export const commands: Command[] = [
  ...secret,
  ...cert,
  ...nodeid,
  ...seeds,
  ...binds,
  ...services,
  ...profile,
  ...showconfig,
  ...keys,
  ...run,
  ...snd,
  ...cal,
  ...mon,
  ...nodes,
  ...db,
  ...dbmon,
  ...logs,
  ...trace,
  ...ping,
  ...observe,
];

const byName = new Map<string, Command>();

export function findCommand(name: string): Command | undefined {
  return byName.get(name);
}

commands.push(helpCommand(() => commands, findCommand, () => rcFile));
for (const c of commands) {
  for (const n of [c.name, ...(c.aliases ?? [])]) {
    if (byName.has(n)) throw new Error(`aemp: two commands are named '${n}'`);
    byName.set(n, c);
  }
}

/** The rc file shown in the help text. */
export function setHelpRcFile(path: string): void {
  rcFile = path;
}
