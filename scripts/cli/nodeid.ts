/** `setnodeid ID`, `delnodeid`: the node ID (default: PROFILE/ + random). */
import { valueFromArgument } from "../../lib/config/rc.ts";
import type { Command } from "./command.ts";

export const setnodeid: Command = {
  name: "setnodeid",
  aliases: ["nodeid"],
  usage: "ID",
  summary: "set the node ID (%n: host name, %u: random, trailing /: random)",
  group: "config",
  arity: 1,
  run(ctx, [id]) {
    ctx.set("nodeid", valueFromArgument("nodeid", id));
  },
};

export const delnodeid: Command = {
  name: "delnodeid",
  usage: "",
  summary: "back to the default node ID (PROFILE/random)",
  group: "config",
  arity: 0,
  run(ctx) {
    ctx.del("nodeid");
  },
};

export default [setnodeid, delnodeid];
