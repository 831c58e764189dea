/**
 * `run [KEY VALUE...]`: runs a node until SIGINT or SIGTERM, configured like
 * `configure()` with the pairs as arguments (`aemp run profile seed nodeid "$(hostname)"`):
 * the rc file's top level and profile chain win over them unless `force 1`; `norc 1`
 * ignores the file. The node starts the configured `services`, then prints
 *
 *     NODEID listening on ADDRESS ADDRESS... (profile NAME)
 *
 * on stdout. On SIGINT/SIGTERM it shuts down cleanly (links and listeners closed, so
 * peers see the links end and fire their monitors) and exits 0; a second signal ends
 * it at once. A profile named on the command line must exist in the file.
 */
import { info } from "../../lib/log.ts";
import { type Command } from "./command.ts";
import { parseConfigureArgs } from "./config-args.ts";
import { interrupted, leave } from "./network.ts";

export const run: Command = {
  name: "run",
  usage: "[KEY VALUE...]",
  summary: "run a node (e.g. aemp run profile seed) until Ctrl-C",
  help: `KEY VALUE pairs are configure() arguments: profile NAME, nodeid ID, binds LIST,
seeds LIST, services LIST, norc 1 (ignore the rc file), force 1 (arguments win over
the file), or any key of 'aemp set'. Prints "NODEID listening on ADDRESS..." when up.`,
  group: "run",
  arity: "rest",
  async run(ctx, args) {
    const options = parseConfigureArgs(args);
    if (options.profile !== undefined && !options.norc) ctx.existingProfile(options.profile);
    const stop = interrupted();
    const { configure, resolveConfig, shutdown } = await import("../../lib/config/configure.ts");
    // A node answers log catchers (`aemp logs`, Perl's LogCatcher) as a library node does:
    // the handler comes with the module.
    await import("../../lib/log-catcher.ts");
    const planned = resolveConfig(options, options.norc ? null : { data: ctx.rc(), path: ctx.path }).values;
    if (planned.secret === undefined && planned.cert === undefined) {
      ctx.io.err("aemp run: warning: no secret and no certificate are configured, so no other node can connect (aemp gensecret)\n");
    }
    let result;
    try {
      result = await configure(options);
    } catch (err) {
      // A service that failed to start: leave the network before reporting it.
      await shutdown();
      throw err;
    }
    const { nodeId, addresses, profile } = result;
    ctx.io.out(`${nodeId} listening on ${addresses.length > 0 ? addresses.join(" ") : "nothing (no binds)"} (profile ${profile})\n`);
    const signal = await stop;
    info(`${signal}: shutting down`);
    return leave(0);
  },
};

export default [run];
