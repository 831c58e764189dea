/**
 * The web server of `aemp observe`: the page (plain HTML, CSS and JS from ./page,
 * nothing from elsewhere) and a server-sent event stream of the network model.
 *
 * Every request must carry the token (`?token=...`), compared in constant time;
 * without it the answer is 403 and nothing else, so another user of the machine who
 * finds the port cannot read the network. The page passes its own token on to the
 * stream and the assets (the server writes it into the page's asset URLs).
 *
 * Routes (GET or HEAD):
 * - `/` the page; `/observer.js`, `/observer.css` its code and style;
 * - `/events` the stream: first `snapshot` (everything known), then `graph` (nodes,
 *   links and rates, after every change), `db` (a family changed) and `log` events,
 *   each `data:` one JSON object; a comment line every 15 s keeps proxies from closing it;
 * - `/state` the snapshot as JSON (for scripts, and `curl`).
 *
 * The page files are found next to this module in the source tree (scripts/observer/page)
 * and in the built package at dist/observer/page, which scripts/build.mjs fills: this
 * module itself is bundled into a chunk under dist/.
 */
import { timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ModelEvent, NetworkModel } from "./model.ts";

/** Seconds between keep-alive comments on an event stream. */
const KEEPALIVE = 15;
/** A page that reads this far behind is dropped (it reconnects and gets a fresh snapshot). */
const MAX_BACKLOG = 8 * 1024 * 1024;

/** Where the page's files are: next to this module, or dist/observer/page in the package. */
export function pageDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, "page"), join(here, "..", "observer", "page")];
  const found = candidates.find((dir) => existsSync(join(dir, "index.html")));
  if (found === undefined) throw new Error(`the observer's page is missing (looked in ${candidates.join(", ")}): a broken install?`);
  return found;
}

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(token: string): Map<string, Asset> {
  const dir = pageDir();
  const read = (name: string): string => readFileSync(join(dir, name), "utf8");
  const html = read("index.html").replaceAll("__TOKEN__", encodeURIComponent(token));
  return new Map([
    ["/", { type: "text/html; charset=utf-8", body: Buffer.from(html) }],
    ["/observer.js", { type: "text/javascript; charset=utf-8", body: Buffer.from(read("observer.js")) }],
    ["/observer.css", { type: "text/css; charset=utf-8", body: Buffer.from(read("observer.css")) }],
  ]);
}

const SECURITY_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

export interface ObserverServer {
  /** `http://HOST:PORT/?token=TOKEN` */
  readonly url: string;
  close(): Promise<void>;
}

function sameToken(given: string | null, token: Buffer): boolean {
  if (given === null) return false;
  const g = Buffer.from(given);
  return g.length === token.length && timingSafeEqual(g, token);
}

/** Serves the page for `model` on `host:port` (port 0: a free one). */
export async function serveObserver(model: NetworkModel, host: string, port: number, token: string): Promise<ObserverServer> {
  const assets = loadAssets(token);
  const secret = Buffer.from(token);
  const streams = new Set<ServerResponse>();

  const stream = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream; charset=utf-8", connection: "keep-alive" });
    const send = (event: string, data: unknown): void => {
      if (res.writableLength > MAX_BACKLOG) {
        res.destroy();
        return;
      }
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send("snapshot", model.snapshot());
    const unsubscribe = model.subscribe((e: ModelEvent) => {
      if (e.type === "graph") send("graph", e.graph);
      else if (e.type === "db") send("db", e.change);
      else send("log", e.log);
    });
    const keepalive = setInterval(() => res.write(": keep-alive\n\n"), KEEPALIVE * 1000);
    streams.add(res);
    const end = (): void => {
      clearInterval(keepalive);
      unsubscribe();
      streams.delete(res);
    };
    req.on("close", end);
    res.on("error", end);
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://observer");
    if (!sameToken(url.searchParams.get("token"), secret)) {
      res.writeHead(403, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" }).end("forbidden: this page needs the token that aemp observe printed\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...SECURITY_HEADERS, allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("method not allowed\n");
      return;
    }
    const path = url.pathname === "/index.html" ? "/" : url.pathname;
    if (path === "/events") return stream(req, res);
    if (path === "/state") {
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "application/json" }).end(JSON.stringify(model.snapshot()));
      return;
    }
    const asset = assets.get(path);
    if (asset === undefined) {
      res.writeHead(404, { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, "content-type": asset.type, "content-length": asset.body.length });
    res.end(req.method === "HEAD" ? undefined : asset.body);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const shown = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${shown}:${bound.port}/?token=${encodeURIComponent(token)}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of streams) res.end();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
