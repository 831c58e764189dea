/**
 * One kernel per process. The first copy of aemp to load puts its version and file on
 * `globalThis` under a registered symbol; a second copy (another install of the
 * package) finds it there and throws at import, naming both files, instead of running
 * a second, unconfigured node beside the first. The same copy imported twice is one
 * module instance and never gets here twice.
 */
import { fileURLToPath } from "node:url";
import { DuplicateInstanceError } from "../errors.ts";
import { VERSION } from "../version.ts";

interface Instance {
  version: string;
  file: string;
}

const KEY = Symbol.for("aemp.kernel");
const slot = globalThis as { [KEY]?: Instance };
const file = fileURLToPath(import.meta.url);
const first = slot[KEY];

if (first !== undefined && first.file !== file) {
  throw new DuplicateInstanceError(
    first.file,
    file,
    `aemp ${VERSION} (${file}) was loaded into a process already running aemp ${first.version} (${first.file}); ` +
      "a process has one node: make both import the same copy (npm dedupe, or run the project's own npx aemp)",
  );
}
slot[KEY] = { version: VERSION, file };
