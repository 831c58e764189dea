/**
 * The types as a user gets them: the declarations built with the package's own
 * tsconfig.build.json (into a temp dir), scanned for `any`, and the type-level specs of
 * spec/types/ compiled against them under the strictest flags a user may have
 * (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess; the consumer spec
 * checks the declarations themselves with skipLibCheck off). `npm test` compiles the same files against the sources with the project's own flags.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";

const root = new URL("..", import.meta.url).pathname;
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const work = mkdtempSync(join(tmpdir(), "aemp-types-"));
const out = join(work, "dist");

function run(args: string[]): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, [tsc, ...args], { cwd: root, encoding: "utf8" });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

function files(dir: string, suffix: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path, suffix);
    return name.endsWith(suffix) ? [path] : [];
  });
}

/** The code of a declaration file without its comments and string literals. */
function codeOnly(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, (m) => (m.startsWith("/") ? " " : '""'));
}

test.before(() => {
  const built = run(["-p", "tsconfig.build.json", "--outDir", out]);
  if (built.code !== 0) throw new Error(`building the declarations failed:\n${built.output}`);
});

test.after(() => {
  rmSync(work, { recursive: true, force: true });
});

test("types - the built declarations contain no 'any'", () => {
  const declarations = files(out, ".d.ts");
  assert.ok(declarations.some((f) => f.endsWith(join("lib", "index.d.ts"))), "index.d.ts was built");
  const hits: string[] = [];
  for (const file of declarations) {
    codeOnly(readFileSync(file, "utf8"))
      .split("\n")
      .forEach((line, i) => {
        if (/\bany\b/.test(line)) hits.push(`${relative(out, file)}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.equal(hits, [], "lines using any");
});

test("types - the scan sees an 'any' outside comments and strings", () => {
  assert.ok(/\bany\b/.test(codeOnly("export type F = (...args: any[]) => void;")));
  assert.not.ok(/\bany\b/.test(codeOnly('/** any */ // any\nexport declare const s: "any";')));
});

test("types - spec/types compiles against the built declarations under the strictest flags", () => {
  const specs = files(join(root, "spec", "types"), ".ts");
  assert.ok(specs.length >= 5, "the type-level specs are there");
  const config = join(work, "tsconfig.json");
  writeFileSync(
    config,
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: "ES2022",
        lib: ["ES2023", "ESNext.Disposable"],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        // The declarations themselves are checked with skipLibCheck off by the consumer
        // spec; checking zod's and valibot's here too would only make this slow.
        skipLibCheck: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        types: ["node"],
        typeRoots: [join(root, "node_modules", "@types")],
        paths: { aemp: [join(out, "lib", "index.d.ts")] },
      },
      files: specs,
    }),
  );
  const r = run(["-p", config]);
  assert.is(r.output, "", "no type errors (and no unused @ts-expect-error)");
  assert.is(r.code, 0);
});

test.run();
