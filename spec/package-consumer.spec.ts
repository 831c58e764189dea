/**
 * The package as a user gets it: `npm pack` (which builds dist/ through `prepack`), the
 * tarball installed into a fresh project outside the checkout, and everything run by
 * plain `node` there: no tsx, no TypeScript sources. The consumer's type check uses the
 * checkout's TypeScript and @types/node (a user has their own), so the consumer project
 * itself holds only what `npm install aemp` brings.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SpecTimeoutError, waitFor } from "./helpers.ts";

const root = new URL("..", import.meta.url).pathname;
const fixtures = join(root, "spec", "fixtures", "consumer");
const work = mkdtempSync(join(tmpdir(), "aemp-consumer-"));
const project = join(work, "project");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ReturnType<typeof spawn>>();

/** Runs a command to its end, within `ms`. */
function run(command: string, args: string[], options: { cwd?: string; env?: Record<string, string>; ms?: number } = {}): Promise<Run> {
  const child = spawn(command, args, {
    cwd: options.cwd ?? project,
    env: { ...process.env, NO_COLOR: "1", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return waitFor(done, options.ms ?? 30_000, `${command} ${args.join(" ")}`).catch((err: unknown) => {
    child.kill("SIGKILL");
    if (err instanceof SpecTimeoutError) err.message += `\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}`;
    throw err;
  });
}

async function ok(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(command, args, options);
  if (r.code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.code}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  return r.stdout;
}

const node = (args: string[], options: Parameters<typeof run>[2] = {}) => run(process.execPath, args, options);
const npm = (args: string[], options: Parameters<typeof run>[2] = {}) => ok("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { ms: 120_000, ...options });

test.before(async () => {
  const packed = JSON.parse(await npm(["pack", "--json", "--pack-destination", work], { cwd: root })) as { filename: string }[];
  const tarball = join(work, packed[0]!.filename);
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }));
  // The design's dependencies are in npm's cache after the checkout's own `npm ci`.
  await npm(["install", "--prefer-offline", tarball]);
  for (const f of readdirSync(fixtures)) copyFileSync(join(fixtures, f), join(project, f));
});

test.after(() => {
  for (const child of running) child.kill("SIGKILL");
  for (const pid of groups) process.kill(-pid, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

test("package - the tarball ships compiled JS, declarations and the license, no sources or specs", async () => {
  const files = (JSON.parse(await npm(["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root })) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  const page = ["index.html", "observer.js", "observer.css"].map((f) => `dist/observer/page/${f}`);
  for (const must of ["LICENSE", "README.md", "CHANGELOG.md", "package.json", "dist/lib/index.js", "dist/lib/index.d.ts", "dist/scripts/aemp.js", ...page]) {
    assert.ok(files.includes(must), `${must} is in the tarball`);
  }
  assert.equal(files.filter((f) => /\.ts$/.test(f) && !f.endsWith(".d.ts")), [], "no TypeScript sources");
  assert.equal(files.filter((f) => /^(spec|samples|scripts)\//.test(f)), [], "no specs, samples or dev scripts");
});

test("package - plain node runs a two-process program: rcv, snd from another process, a monitor; both end by themselves", async () => {
  const server = spawn(process.execPath, ["server.mjs"], { cwd: project, stdio: ["ignore", "pipe", "pipe"] });
  running.add(server);
  let out = "";
  let err = "";
  server.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const first = new Promise<string>((resolve) =>
    server.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")));
    }),
  );
  const serverExit = new Promise<number | null>((resolve) => server.on("close", resolve));
  const { address, port } = JSON.parse(await waitFor(first, 15_000, "the server's first line")) as { address: string; port: string };
  assert.match(address, /^127\.0\.0\.1:\d+$/);
  const client = await node(["client.mjs", address, port]);
  assert.is(client.code, 0, client.stderr);
  assert.match(client.stdout, /^reply: \["pong",42\]$/m);
  assert.match(client.stdout, /^server gone: \[\]$/m);
  assert.is(await waitFor(serverExit, 15_000, "the server to exit by itself"), 0, err);
});

for (const resolution of ["nodenext", "bundler"] as const) {
  test(`package - a consumer type-checks with tsc --strict, moduleResolution ${resolution}, the strictest optional flags, skipLibCheck off`, async () => {
    const config = `tsconfig.${resolution}.json`;
    writeFileSync(
      join(project, config),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: "ES2022",
          module: resolution === "bundler" ? "ESNext" : "NodeNext",
          moduleResolution: resolution === "bundler" ? "Bundler" : "NodeNext",
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
          types: ["node"],
          typeRoots: [join(root, "node_modules", "@types")],
        },
        files: ["app.ts"],
      }),
    );
    const r = await node([join(root, "node_modules", "typescript", "bin", "tsc"), "-p", config], { ms: 60_000 });
    assert.is(r.stdout + r.stderr, "", "no type errors");
    assert.is(r.code, 0);
  });
}

test("package - require('aemp') from CommonJS works", async () => {
  const r = await node(["require.cjs"]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, "required: function true\n");
});

test("package - npx aemp --version and aemp help run under plain node, also through the bin link from elsewhere", async () => {
  assert.is(await ok("npx", ["--no-install", "aemp", "--version"]), `aemp ${pkg.version}\n`);
  assert.match(await ok("npx", ["--no-install", "aemp", "help"]), /^Usage: aemp /m);
  const elsewhere = join(work, "elsewhere");
  mkdirSync(elsewhere);
  symlinkSync(join(project, "node_modules", ".bin", "aemp"), join(elsewhere, "aemp"));
  assert.is(await ok(join(elsewhere, "aemp"), ["--version"], { cwd: elsewhere }), `aemp ${pkg.version}\n`);
});

/** Process groups of long-running commands (npx runs node as its child): killed whole in `after`. */
const groups = new Set<number>();

/** Starts a long-running command; resolves with the first stdout line matching `pattern`. */
async function startUntil(command: string, args: string[], pattern: RegExp, env: Record<string, string>): Promise<RegExpMatchArray> {
  const child = spawn(command, args, { cwd: project, env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  groups.add(child.pid!);
  child.on("close", () => groups.delete(child.pid!));
  let out = "";
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const found = new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      const m = out.split("\n").map((l) => pattern.exec(l)).find((x) => x !== null);
      if (m) resolve(m);
    });
    child.on("close", (code) => reject(new Error(`${command} ${args.join(" ")} exited ${code} before printing ${pattern}\n${out}\n${err}`)));
  });
  return waitFor(found, 30_000, `${pattern} from ${args.join(" ")}`);
}

test("package - npx aemp observe runs under plain node and serves its page from the package", async () => {
  const rc = join(work, "observe-rc.json");
  const env = { AEMP_RC: rc };
  await ok("npx", ["--no-install", "aemp", "setsecret", "consumer spec", "profile", "seed", "setbinds", "127.0.0.1:*"], { env });
  const [, , seedAddress] = await startUntil("npx", ["--no-install", "aemp", "run", "profile", "seed"], /^(\S+) listening on (\S+) \(profile seed\)$/, env);
  await ok("npx", ["--no-install", "aemp", "setseeds", seedAddress!], { env });
  const [, url] = await startUntil("npx", ["--no-install", "aemp", "observe"], /^observer: (http:\/\/\S+)$/, env);
  const page = await fetch(url!);
  assert.is(page.status, 200);
  assert.match(await page.text(), /<title>aemp observer<\/title>/);
  const token = new URL(url!).searchParams.get("token")!;
  for (const asset of ["observer.js", "observer.css"]) assert.is((await fetch(new URL(`${asset}?token=${token}`, url))).status, 200, asset);
  assert.is((await fetch(new URL("/", url))).status, 403, "refused without the token");
});

test("package - the runtime dependencies hold no tsx, esbuild or typescript, and no ioredis unless asked for", async () => {
  const tree = await npm(["ls", "--omit=dev", "--all", "--parseable"]);
  for (const name of ["tsx", "esbuild", "typescript", "ioredis"]) {
    assert.not.match(tree, new RegExp(`node_modules/${name}(\\n|$)`), `${name} is not installed`);
  }
});

test("package - a redis:// database without ioredis installed is a ConfigError that says to install it", async () => {
  const r = await node([
    "--input-type=module",
    "-e",
    'import { configure } from "aemp"; await configure({ db: "redis://127.0.0.1:1", binds: ["127.0.0.1:*"] }).then(() => console.log("resolved"), (e) => console.log(e.name, e.code, e.message)); process.exit(0);',
  ]);
  assert.match(r.stdout, /^ConfigError ERR_CONFIG .*npm install ioredis/);
});

test("package - a second copy of aemp in one process throws at import, naming both files", async () => {
  // The checkout's dist/ (built by the pack above) stands for a second install.
  const second = join(root, "dist", "lib", "index.js");
  const r = await node(["--input-type=module", "-e", `await import("aemp"); await import(${JSON.stringify(second)}).catch((e) => console.log(e.name, e.code, e.message));`]);
  assert.match(r.stdout, /^DuplicateInstanceError ERR_DUPLICATE_INSTANCE /);
  assert.ok(r.stdout.includes(join(project, "node_modules", "aemp")), "names the first copy");
  assert.ok(r.stdout.includes(join(root, "dist")), "names the second copy");
});

test("package - another install's aemp command run inside the project hands over to the project's own copy", async () => {
  // A service module that imports the project's aemp: loaded by the checkout's CLI it
  // would be a second kernel; the CLI runs the project's copy instead.
  writeFileSync(join(project, "service.mjs"), 'import { NODE } from "aemp";\nconsole.log(`service on ${NODE()}`);\nprocess.kill(process.pid, "SIGTERM");\n');
  const rc = join(work, "rc.json");
  const r = await node([join(root, "dist", "scripts", "aemp.js"), "run", "nodeid", "handover", "binds", "127.0.0.1:*", "module_roots", ".", "services", "./service.mjs"], {
    env: { AEMP_RC: rc },
  });
  assert.match(r.stdout, /^service on handover$/m, r.stderr);
  assert.not.match(r.stderr, /DuplicateInstance/);
});

test.run();
