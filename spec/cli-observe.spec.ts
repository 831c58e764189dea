/**
 * `aemp observe`, looked at as a person would: a seed and three nodes (each a child
 * process), the real `aemp observe` command, and its page opened in headless Chromium
 * (Debian's /usr/bin/chromium driven by playwright-core). Where Chromium cannot start,
 * the page tests print a SKIPPED line; the token checks run without a browser.
 *
 * A Perl node is played by a scripted peer (spec/net-helpers.ts FakePeer) that greets as
 * Perl does (`provider=AE-2.01`), registers its address with the seed (`g_slave`) and
 * answers `can` with "" for what Perl does not know, as AnyEvent::MP 2.x does.
 *
 * AEMP_OBSERVER_SCREENSHOT=1 saves the page as docs/observer.png (the README shows it);
 * otherwise the screenshot goes to a temporary directory.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { type Server, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, type Locator, type Page, chromium } from "playwright-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type AempProcess, type TempRc, aemp, aempOk, startAemp, stopAll, tempRc } from "./cli-helpers.ts";
import { freePorts, startDbNode, stopDbNodes } from "./db-helpers.ts";
import { FakePeer, SECRET, type TestNode } from "./net-helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
// Without the background-networking flags Chromium dials out at start, which the
// closed network of the test machines refuses (and it then hangs).
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const root = new URL("..", import.meta.url).pathname;
const profile = mkdtempSync(join(tmpdir(), "aemp-observe-chromium-"));
const shotPath = process.env.AEMP_OBSERVER_SCREENSHOT === "1" ? join(root, "docs", "observer.png") : join(profile, "observer.png");
/** How long the page may take to show something that happened (the "within a second"). */
const LIVE_MS = 1000;

let rc: TempRc;
let seed: TestNode;
let alpha: TestNode;
let beta: TestNode;
let gamma: TestNode;
let observer: AempProcess;
let url = "";
let browser: BrowserContext | undefined;
let page: Page | undefined;
let seedAddress = "";

/**
 * A node that speaks as Perl's AnyEvent::MP: listens, joins through the seed, and
 * answers `["", "can", TAG, reply...]` with "" (it knows none of aemp's requests).
 */
class FakePerlNode {
  readonly id = "perl/observed";
  address = "";
  private server: Server | undefined;
  private readonly peers: FakePeer[] = [];

  async start(): Promise<void> {
    this.server = createServer((socket) => void this.serve(FakePeer.wrap(socket)));
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.address = `127.0.0.1:${(this.server.address() as { port: number }).port}`;
    const seedLink = await FakePeer.connect(seedAddress);
    await this.serve(seedLink);
    await seedLink.sendPacket(["", "g_slave", { "'l": { [this.id]: [this.address] } }]);
  }

  private async serve(peer: FakePeer): Promise<void> {
    this.peers.push(peer);
    peer.onPacket = (p) => {
      if (p[0] !== "" || p[1] !== "can" || typeof p[3] !== "string") return;
      const [replyPort, ...extra] = p.slice(3) as [string, ...unknown[]];
      void peer.sendPacket([replyPort.slice(replyPort.indexOf("#") + 1), ...extra, ""]);
    };
    await peer.handshake({ nodeId: this.id, provider: "AE-2.01" });
  }

  stop(): void {
    for (const p of this.peers) p.close();
    this.server?.close();
  }
}

const perl = new FakePerlNode();

test.before(async () => {
  rc = tempRc();
  const [seedPort] = await freePorts(1);
  seedAddress = `127.0.0.1:${seedPort}`;
  seed = await startDbNode({ binds: [seedAddress], seeds: [seedAddress] }, { name: "seed" });
  [alpha, beta, gamma] = await Promise.all(["alpha", "beta", "gamma"].map((name) => startDbNode({ seeds: [seedAddress] }, { name })));
  await aempOk(rc, ["setsecret", SECRET, "setseeds", seedAddress]);
  await alpha.call("dbSet", { family: "demo", key: "first", value: "one" });
  observer = startAemp(rc, ["observe"]);
  url = (await observer.line(/^observer: (http:\/\/\S+)$/))[1];
  try {
    browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 }, timeout: 20_000 });
    page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(url);
  } catch (err) {
    const why = (err as Error).message.split("\n")[0];
    console.log(`SKIPPED spec/cli-observe.spec.ts: the page tests, since Chromium cannot start here (${why})`);
  }
});

test.after(async () => {
  perl.stop();
  await browser?.close().catch(() => {});
  if (observer !== undefined) await observer.signal("SIGTERM").catch(() => {});
  await stopAll();
  await stopDbNodes();
  rc?.cleanup();
  rmSync(profile, { recursive: true, force: true });
});

/** A test that needs the page: skipped (once said so in `before`) without Chromium. */
function pageTest(name: string, fn: (page: Page) => Promise<void>): void {
  test(name, async () => {
    if (page === undefined) return;
    await fn(page);
  });
}

/** Waits until `what` is on the page (or gone, with `state: "detached"`). */
async function shows(what: Locator, ms: number, label: string, state: "attached" | "detached" = "attached"): Promise<void> {
  try {
    await what.waitFor({ state, timeout: ms });
  } catch (err) {
    throw new Error(`the page did not show ${label} within ${ms} ms: ${(err as Error).message.split("\n")[0]}`);
  }
}

const nodeSel = (n: TestNode): string => `#graph .node[data-node="${n.nodeId}"]`;

test("observe - prints exactly one line, the URL with its token; requests without the right token are refused", async () => {
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}$/);
  assert.is(observer.stdout, `observer: ${url}\n`);
  const base = url.slice(0, url.indexOf("?"));
  const token = new URL(url).searchParams.get("token")!;
  for (const path of ["", "observer.js", "events", "state", `state?token=${token.slice(1)}`, `state?token=${token}x`]) {
    const r = await fetch(`${base}${path}`);
    assert.is(r.status, 403, `${path || "/"} without the right token`);
    assert.not.match(await r.text(), /seed|alpha/);
  }
  const ok = await fetch(`${base}state?token=${token}`);
  assert.is(ok.status, 200);
  const state = (await ok.json()) as { graph: { nodes: { id: string }[] } };
  assert.ok(Array.isArray(state.graph.nodes));
});

test("observe - a bad --listen or a stray argument is a usage error: one clear line, exit code 2", async () => {
  for (const [args, message] of [
    [["--listen", "nope"], /^aemp observe: --listen must be HOST:PORT \(port 0 for a free one\), received "nope" \(aemp help observe\)$/],
    [["--listen", "127.0.0.1:70000"], /--listen must be HOST:PORT/],
    [["now"], /^aemp observe: observe takes no arguments, received "now"/],
  ] as const) {
    const r = await aemp(rc, ["observe", ...args]);
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stdout, "");
    assert.match(r.stderr.trimEnd(), message);
    assert.is(r.stderr.trimEnd().split("\n").length, 1);
  }
});

pageTest("observe - the page draws the four nodes (the seed marked global) and their links, with message rates", async (p) => {
  const ids = [seed, alpha, beta, gamma].map((n) => n.nodeId);
  await shows(p.locator("#graph .node[data-state=up]").nth(3), 10_000, "four nodes up");
  assert.is(await p.locator("#graph .node").count(), 4);
  const drawn = await p.$$eval("#graph .node", (els) => els.map((e) => e.getAttribute("data-node")).sort());
  assert.equal(drawn, [...ids].sort(), "the nodes drawn are the network's (the observer itself left out)");
  assert.ok(await p.locator(`${nodeSel(seed)}.global`).count(), "the seed is marked global");
  assert.is(await p.locator("#graph .node.global").count(), 1, "only the seed is global");
  // Every node has a link to the seed.
  await shows(p.locator("#graph .link").nth(2), 10_000, "three links");
  for (const n of [alpha, beta, gamma]) {
    const [a, b] = [n.nodeId, seed.nodeId].sort();
    assert.is(await p.locator(`#graph .link[data-a="${a}"][data-b="${b}"]`).count(), 1, `a link ${n.name} - seed`);
  }
  // Traffic between two nodes: a new link, labelled with its rate (about 200 msg/s).
  await alpha.call("chatter", { node: beta.nodeId, perTick: 20 });
  const [a, b] = [alpha.nodeId, beta.nodeId].sort();
  const link = `#graph .link[data-a="${a}"][data-b="${b}"]`;
  await shows(p.locator(`${link} .rate`).filter({ hasText: /^([5-9]\d|\d{3,})(\.\d)? msg\/s$/ }), 10_000, "the alpha - beta link with a rate of 50 msg/s or more");
  assert.match((await p.locator(`${link} .rate`).textContent())!, /^\d+(\.\d)? msg\/s$/);
  await alpha.call("chatter", { node: beta.nodeId, perTick: 0 });
});

pageTest("observe - a Perl node is marked as one, shown with what the database and its peers know", async (p) => {
  await perl.start();
  const perlNode = `#graph .node[data-node="${perl.id}"]`;
  await shows(p.locator(`${perlNode}.perl[data-state=up]`), 10_000, "the Perl node, marked");
  assert.match((await p.locator(`${perlNode} .sub`).textContent())!, /Perl/);
  // Its link to the seed is drawn from the seed's own report.
  const [a, b] = [perl.id, seed.nodeId].sort();
  await shows(p.locator(`#graph .link[data-a="${a}"][data-b="${b}"]`), 10_000, "the Perl node's link to the seed");
  await p.click(perlNode);
  await shows(p.locator("#panel-body").filter({ hasText: "does not answer aemp_info" }), 5000, "the Perl node's panel");
  const panel = (await p.locator("#panel-body").textContent())!;
  for (const want of ["AE-2.01", perl.address, seed.nodeId]) assert.ok(panel.includes(want), `the panel shows ${want}: ${panel}`);
});

pageTest("observe - a dbSet on one node is visible on the page within a second", async (p) => {
  await shows(p.locator('#db details[data-family="demo"] tr[data-key="first"]'), 5000, "the family demo");
  assert.is(await p.locator('#db details[data-family="demo"] tr[data-key="first"] td.value').textContent(), '"one"');
  await beta.call("dbSet", { family: "demo", key: "second", value: { n: 2 } });
  const started = performance.now();
  await shows(p.locator('#db details[data-family="demo"] tr[data-key="second"] td.value').filter({ hasText: /^\{"n":2\}$/ }), LIVE_MS, "beta's dbSet");
  const ms = performance.now() - started;
  assert.ok(ms < LIVE_MS, `shown after ${ms.toFixed(0)} ms`);
  // A delete goes as fast.
  await alpha.call("unset", { family: "demo", key: "first" });
  await shows(p.locator('#db details[data-family="demo"] tr[data-key="first"]'), LIVE_MS, "alpha's entry deleted", "detached");
});

pageTest("observe - a log line from a node appears in the log view; the level and node filters hide it", async (p) => {
  const text = "observer spec: a warning from gamma";
  await gamma.call("log", { level: "warn", text });
  const line = `#logs li[data-node="${gamma.nodeId}"]`;
  await shows(p.locator(line).filter({ hasText: text }), 5000, "gamma's log line");
  await p.selectOption("#log-node", alpha.nodeId);
  assert.is(await p.locator(line).count(), 0, "hidden when only alpha's lines are shown");
  await p.selectOption("#log-node", "");
  await p.selectOption("#log-level", "1");
  assert.is(await p.locator(line).filter({ hasText: text }).count(), 0, "hidden at level 1 (fatal only)");
  await p.selectOption("#log-level", "9");
  assert.is(await p.locator(line).filter({ hasText: text }).count(), 1, "shown again");
});

pageTest("observe - clicking a node opens its panel: provider, memory, ports, links with counters", async (p) => {
  await p.click(nodeSel(alpha));
  await shows(p.locator("#panel-body table").first(), 5000, "alpha's panel");
  assert.is(await p.locator("#panel-title").textContent(), alpha.nodeId);
  const panel = (await p.locator("#panel-body").textContent())!;
  for (const want of ["aemp-ts/", "RSS", "event-loop lag", "ports", "Busiest mailboxes", "demo", seed.nodeId]) assert.ok(panel.includes(want), `the panel shows ${want}: ${panel}`);
  assert.ok(await p.locator("#panel-body table tr").filter({ hasText: beta.nodeId }).count(), "the link to beta is listed");
});

pageTest("observe - a node killed with SIGKILL is shown down at once; the screenshot", async (p) => {
  await p.click(nodeSel(gamma));
  const started = performance.now();
  gamma.child.kill("SIGKILL");
  await shows(p.locator(`${nodeSel(gamma)}[data-state=down]`), 3000, "gamma down");
  const ms = performance.now() - started;
  assert.ok(ms < 2000, `shown down after ${ms.toFixed(0)} ms`);
  assert.match((await p.locator(`${nodeSel(gamma)} .sub`).textContent())!, /^down: /);
  assert.match((await p.locator("#panel-body").textContent())!, /down since/);
  assert.is(await p.locator(`#graph .link[data-a="${gamma.nodeId}"], #graph .link[data-b="${gamma.nodeId}"]`).count(), 0, "its links are gone");
  await p.click(nodeSel(alpha));
  await p.screenshot({ path: shotPath, fullPage: true });
  assert.ok(statSync(shotPath).size > 10_000, "a screenshot was saved");
});

test.run();
