#!/bin/sh
":" //; exec node --import "$(node -e 'process.stdout.write(require("url").pathToFileURL(require("module").createRequire(require("fs").realpathSync(process.argv[1])).resolve("tsx")).href)' "$0")" "$0" "$@"
/**
 * The `aemp` command line tool (the package's `bin`): edit the rc file, run nodes,
 * look inside a running network. `aemp help` lists the commands; scripts/cli/ holds
 * one module per command (or per small family of commands).
 *
 * The first two lines let this TypeScript file run directly from any directory (as
 * ./scripts/aemp.ts, node_modules/.bin/aemp or `npx aemp`): `sh` reads line 2 and
 * re-runs the file with Node and the tsx loader, found next to this file (not in the
 * current directory). For TypeScript, line 2 is a string and a comment.
 * `tsx scripts/aemp.ts` and `npm run aemp --` work too.
 */
import { main } from "./cli/main.ts";

for (const stream of [process.stdout, process.stderr]) {
  // `aemp db x | head -1`: a closed pipe is not an error.
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

const code = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
// Network commands leave handles behind (timers, sockets being closed): end now, once
// everything written has been handed over.
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
process.exit(code);
