/**
 * Services: what a node starts at the end of `configure`, named by the `services` key
 * (so a deployment can decide what runs on a node: `aemp profile web addservice
 * web::frontend::`). An entry is a name, or, as in Perl, a list `[name, ...args]`
 * whose arguments the function gets (`[["mymod::start", 1, 2]]`).
 *
 * Each name is looked up in this order:
 * 1. a function registered with `registerService(name, fn)`: `fn(...args)` is called
 *    (and awaited if it returns a promise), outside any port;
 * 2. an init function registered with `registerInit(name, fn)`: it is spawned on this
 *    node with the arguments, so it runs in a fresh port's context with `SELF()` set,
 *    as a spawn from another node would run it;
 * 3. a module: a name ending in `::` (AEMP's form: `mymod::service::` is the module
 *    `mymod/service`) or a relative file path (`mymod/service.ts`). It is loaded only
 *    from one of the directories in `module_roots` (relative to the working directory;
 *    none by default, so no file is ever loaded unless the configuration allows it),
 *    trying the extensions .ts, .mts, .js, .mjs and an index file. Loading it starts it:
 *    its top-level code may create ports, register init functions, set database entries.
 *    A module takes no arguments.
 *
 * Services start one after the other, in the listed order. The first that cannot be
 * found or throws stops the rest with a `ServiceError`, which `configure` rejects with.
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { ServiceError, argumentError } from "../errors.ts";
import { NODE } from "../kernel/ids.ts";
import { findInit, spawn } from "../kernel/spawn.ts";
import type { Callback } from "../kernel/types.ts";
import { info } from "../log.ts";
import { type ServiceSpec, isServiceSpec } from "./rc.ts";

export { type ServiceSpec, isServiceSpec };

/** What a `services` entry looks like, for error messages. */
export const SERVICE_EXPECTED = "a list of service names or [name, ...args] lists";

const registered = new Map<string, Callback>();

/**
 * Names a function that the `services` configuration key may start on this node,
 * e.g. `registerService("chat::server", (port) => startChatServer(port))`; a
 * `[name, ...args]` entry passes its arguments. Registering a name again replaces it.
 * Register before calling `configure`.
 */
export function registerService(name: string, fn: Callback): void {
  if (typeof name !== "string" || name === "") throw argumentError("registerService", "name", "a non-empty string", name);
  if (typeof fn !== "function") throw argumentError("registerService", "fn", "a function", fn);
  registered.set(name, fn);
}

const EXTENSIONS = ["", ".ts", ".mts", ".js", ".mjs", "/index.ts", "/index.js", "/index.mjs"];

/** The module path a service name stands for, or undefined if it is not a module name. */
export function moduleName(service: string): string | undefined {
  if (service.endsWith("::")) {
    const parts = service.slice(0, -2).split("::");
    return parts.every((p) => /^[A-Za-z0-9_.-]+$/.test(p) && p !== "." && p !== "..") ? parts.join("/") : undefined;
  }
  if (service.includes("/") || /\.(?:[cm]?js|[cm]?ts)$/.test(service)) return service;
  return undefined;
}

/** Finds a service module inside the allowed roots (never outside them, symlinks included). */
export function findModule(service: string, roots: readonly string[]): string | undefined {
  const name = moduleName(service);
  if (name === undefined) return undefined;
  for (const rootSpec of roots) {
    let root: string;
    try {
      root = realpathSync(resolve(rootSpec));
    } catch {
      continue;
    }
    for (const ext of EXTENSIONS) {
      const candidate = resolve(root, name + ext);
      if (!existsSync(candidate) || !statSync(candidate).isFile()) continue;
      const real = realpathSync(candidate);
      const rel = relative(root, real);
      if (rel === "" || rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel)) continue;
      return real;
    }
  }
  return undefined;
}

/** Starts the services in order (see the module comment). */
export async function startServices(services: readonly ServiceSpec[], roots: readonly string[]): Promise<void> {
  for (const spec of services) {
    const [name, ...args] = typeof spec === "string" ? [spec] : spec;
    await startService(name, args, roots);
  }
}

async function startService(name: string, args: unknown[], roots: readonly string[]): Promise<void> {
  const fn = registered.get(name);
  if (fn !== undefined) {
    info(`starting service ${name}`);
    try {
      await fn(...args);
    } catch (err) {
      throw new ServiceError(name, `service '${name}' failed to start: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    return;
  }
  if (findInit(name) !== undefined) {
    const port = spawn(NODE(), name, ...args);
    info(`started service ${name} as ${port}`);
    return;
  }
  const module = moduleName(name);
  if (module === undefined) {
    throw new ServiceError(name, `service '${name}' is not registered (registerService or registerInit) and is not a module name (NAME:: or a file path)`);
  }
  if (args.length > 0) throw new ServiceError(name, `service '${name}' is a module: it takes no arguments (a registered function or init function does)`);
  if (roots.length === 0) {
    throw new ServiceError(name, `service '${name}' is a module, but no module_roots are configured to load it from`);
  }
  const file = findModule(name, roots);
  if (file === undefined) {
    throw new ServiceError(name, `service '${name}': no module ${module}(.ts|.js|...) under the module_roots ${roots.map((r) => resolve(r)).join(", ")}`);
  }
  info(`starting service ${name} from ${file}`);
  try {
    await import(pathToFileURL(file).href);
  } catch (err) {
    throw new ServiceError(name, `service '${name}' (${file}) failed to load: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
