/** The version the code reports (`aemp --version`, the greeting's provider) is package.json's. */
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PROVIDER } from "../lib/transport/handshake.ts";
import { VERSION } from "../lib/version.ts";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

test("version - lib/version.ts matches package.json", () => {
  assert.is(VERSION, pkg.version);
  assert.is(PROVIDER, `aemp-ts/${pkg.version}`);
});

test.run();
