/**
 * `observe [--listen HOST:PORT] [--open] [--level N]`: joins the network as the other
 * network commands do and serves a live web page of it (scripts/observer/): the nodes
 * and links with message rates, a panel per node (its `aemp_info`), the database and
 * the log stream. Prints one line on stdout,
 *
 *     observer: http://127.0.0.1:40123/?token=3q2-...
 *
 * and runs until Ctrl-C. The default listen address is 127.0.0.1 with a free port; the
 * token is random per run and every request needs it.
 */
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { parseHostPort } from "../../lib/transport/tcp.ts";
import { CliError, type Command, UsageError, parseOptions, secondsOption } from "./command.ts";
import { DEFAULT_LOG_LEVEL, levelOption } from "./logs.ts";
import { DEFAULT_TIMEOUT, NETWORK_OPTIONS, TIMEOUT_HELP, interrupted, joinNetwork, leave } from "./network.ts";

/** Where the page is served unless told otherwise: loopback, any free port. */
export const DEFAULT_LISTEN = "127.0.0.1:0";

function listenOption(value: string | undefined): { host: string; port: number } {
  const spec = value ?? DEFAULT_LISTEN;
  let parsed: { host: string; port: string };
  try {
    parsed = parseHostPort(spec, "--listen");
  } catch {
    throw new UsageError(`--listen must be HOST:PORT (port 0 for a free one), received ${JSON.stringify(spec)} (aemp help observe)`);
  }
  const port = parsed.port === "*" ? 0 : Number(parsed.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535 || !spec.includes(":")) {
    throw new UsageError(`--listen must be HOST:PORT (port 0 for a free one), received ${JSON.stringify(spec)} (aemp help observe)`);
  }
  return { host: parsed.host === "*" ? "0.0.0.0" : parsed.host, port };
}

/** Opens `url` in the desktop's browser; says so on stderr when that fails. */
function openBrowser(url: string, err: (text: string) => void): void {
  const [command, args] =
    process.platform === "darwin" ? ["open", [url]] : process.platform === "win32" ? ["cmd", ["/c", "start", "", url]] : ["xdg-open", [url]];
  const child = spawn(command, args, { stdio: "ignore", detached: true });
  child.on("error", (e) => err(`could not open a browser (${command}: ${e.message}); open the URL above yourself\n`));
  child.unref();
}

export const observe: Command = {
  name: "observe",
  usage: "[--listen HOST:PORT] [--open]",
  summary: "serve a live web page of the network: nodes, links, database, logs",
  help: `Prints 'observer: URL' and runs until Ctrl-C. The URL holds a random token that every
request needs, so other users of the machine cannot read the network.
  --listen HOST:PORT      where to serve the page (default 127.0.0.1 and a free port)
  --open                  also open the page in the desktop's browser
  -l, --level N           log records to collect, at or under level N (1..9, default ${DEFAULT_LOG_LEVEL} info)
  ${TIMEOUT_HELP.replace("give up after this long", "limit for joining the network")}`,
  group: "network",
  arity: "rest",
  async run(ctx, args) {
    const { flags, values, positional } = parseOptions("observe", args, {
      flags: ["open"],
      values: ["listen", "level", ...(NETWORK_OPTIONS.values ?? [])],
      short: { ...NETWORK_OPTIONS.short, l: "level" },
      anywhere: true,
    });
    if (positional.length > 0) throw new UsageError(`observe takes no arguments, received ${JSON.stringify(positional[0])} (aemp help observe)`);
    const listen = listenOption(values.get("listen"));
    const level = levelOption(values.get("level"));
    const timeout = secondsOption("observe", values.get("timeout"), DEFAULT_TIMEOUT);
    const stop = interrupted();
    if ((await Promise.race([joinNetwork(ctx, timeout), stop])) !== undefined) return leave(0);
    const [{ NetworkModel }, { serveObserver }] = await Promise.all([import("../observer/model.ts"), import("../observer/server.ts")]);
    const model = new NetworkModel(level);
    model.start();
    let server;
    try {
      server = await serveObserver(model, listen.host, listen.port, randomBytes(24).toString("base64url"));
    } catch (err) {
      model.stop();
      throw new CliError(`cannot serve the page on ${values.get("listen") ?? DEFAULT_LISTEN}: ${(err as Error).message}`);
    }
    ctx.io.out(`observer: ${server.url}\n`);
    if (flags.has("open")) openBrowser(server.url, ctx.io.err);
    await stop;
    model.stop();
    await server.close();
    return leave(0);
  },
};

export default [observe];
