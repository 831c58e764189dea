/**
 * lib/errors.ts against the package's surface and the README: every error class is
 * exported, the internal helpers are not, and the code union is the README's table.
 */
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as errors from "../lib/errors.ts";
import * as api from "../lib/index.ts";

const root = new URL("..", import.meta.url).pathname;

function isErrorClass(value: unknown): boolean {
  return typeof value === "function" && (value === errors.AempError || value.prototype instanceof errors.AempError);
}

test("errors - every error class of lib/errors.ts is exported by the package, under its own name", () => {
  const classes = Object.entries(errors).filter(([, v]) => isErrorClass(v));
  assert.ok(classes.length >= 10, "found the classes");
  for (const [name, cls] of classes) {
    assert.is((api as Record<string, unknown>)[name], cls, `${name} is exported`);
    assert.is((cls as { name: string }).name, name);
  }
});

test("errors - internal helpers are not exported by the package", () => {
  const helpers = Object.keys(errors).filter((k) => !isErrorClass((errors as Record<string, unknown>)[k]));
  assert.ok(helpers.includes("argumentError"), "argumentError is a helper of lib/errors.ts");
  for (const name of helpers) assert.not.ok(name in api, `${name} is not exported`);
});

/** The codes named in a union type of lib/errors.ts, following references to other unions there. */
function unionCodes(source: string, type: string): string[] {
  const body = new RegExp(`export type ${type} =([^;]*);`).exec(source)?.[1];
  if (body === undefined) throw new Error(`no union type ${type} in lib/errors.ts`);
  const codes = [...body.matchAll(/"(ERR_[A-Z_]+)"/g)].map((m) => m[1]!);
  for (const ref of body.matchAll(/\|\s*([A-Z][A-Za-z]+Code)\b/g)) codes.push(...unionCodes(source, ref[1]!));
  return codes;
}

test("errors - AempErrorCode is exactly the codes of the README's Errors table", () => {
  const readme = readFileSync(`${root}README.md`, "utf8");
  const section = readme.slice(readme.indexOf("## Errors"), readme.indexOf("\n## ", readme.indexOf("## Errors") + 1));
  const documented = new Set([...section.matchAll(/^\|([^|]*)\|/gm)].flatMap((m) => [...m[1]!.matchAll(/`(ERR_[A-Z_]+)`/g)].map((c) => c[1]!)));
  const typed = unionCodes(readFileSync(`${root}lib/errors.ts`, "utf8"), "AempErrorCode");
  assert.ok(documented.size >= 20, "found the README's codes");
  assert.equal([...new Set(typed)].sort(), [...documented].sort());
  assert.is(typed.length, new Set(typed).size, "no code listed twice");
});

test.run();
