// The page of `aemp observe`: renders what the server's event stream says (see
// scripts/observer/server.ts). Everything shown comes from the network, so text is
// only ever set with textContent, never parsed as HTML.
"use strict";

const token = new URLSearchParams(location.search).get("token") ?? "";
const SVG = "http://www.w3.org/2000/svg";
const MAX_LOGS = 1000;

const state = {
  graph: { observer: "", nodes: [], edges: [] },
  db: {},
  logs: [],
  levels: [],
  selected: null,
  positions: new Map(),
  layoutKey: "",
  /** Families the user folded: they stay folded as the view is redrawn. */
  folded: new Set(),
};

// ---- small helpers -------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function bytes(n) {
  if (!Number.isFinite(n)) return "?";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function count(n) {
  if (!Number.isFinite(n)) return "?";
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n * 10) / 10);
}

function duration(s) {
  if (!Number.isFinite(s)) return "?";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${Math.floor(s % 60)}s`;
  return `${s.toFixed(1)}s`;
}

const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
const clock = (t) => new Date(t * 1000).toISOString().slice(11, 23);
const short = (id) => (id.length > 24 ? `${id.slice(0, 23)}…` : id);
const levelName = (n) => state.levels[n] ?? String(n);

// ---- the graph -----------------------------------------------------------------------

/** Global nodes on an inner ring (or the centre), the others around them. */
function layout(nodes) {
  const key = nodes.map((n) => `${n.id}:${n.global}`).join(",");
  if (key === state.layoutKey) return;
  state.layoutKey = key;
  const cx = 320, cy = 205;
  const globals = nodes.filter((n) => n.global);
  const others = nodes.filter((n) => !n.global);
  const ring = (list, r, offset) =>
    list.forEach((n, i) => {
      if (list.length === 1 && r < 100) return state.positions.set(n.id, [cx, cy]);
      const a = offset + (2 * Math.PI * i) / list.length;
      state.positions.set(n.id, [cx + r * Math.cos(a), cy + r * 0.78 * Math.sin(a)]);
    });
  state.positions.clear();
  if (globals.length === 0 || others.length === 0) ring(nodes, 200, -Math.PI / 2);
  else {
    ring(globals, globals.length === 1 ? 0 : 80, -Math.PI / 2);
    ring(others, 215, -Math.PI / 2 + Math.PI / Math.max(others.length, 1));
  }
}

function renderGraph() {
  const box = document.getElementById("graph");
  const { nodes, edges } = state.graph;
  layout(nodes);
  const edgeLayer = svg("g", { class: "links" });
  for (const e of edges) {
    const [a, b] = [state.positions.get(e.a), state.positions.get(e.b)];
    if (a === undefined || b === undefined) continue;
    const g = svg("g", { class: `link${e.rate > 0 ? " busy" : ""}`, "data-a": e.a, "data-b": e.b });
    const width = 1.5 + Math.min(6, Math.log10(1 + e.rate));
    g.append(svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], "stroke-width": width }));
    const label = svg("text", { x: (a[0] + b[0]) / 2, y: (a[1] + b[1]) / 2 - 4, class: "rate" });
    label.textContent = `${count(e.rate)} msg/s`;
    g.append(label);
    const title = svg("title");
    title.textContent = `${e.a} — ${e.b}\n${count(e.rate)} messages/s, ${bytes(e.byteRate)}/s\nframing ${e.framing}${e.tls ? ", TLS" : ""}`;
    g.append(title);
    edgeLayer.append(g);
  }
  const nodeLayer = svg("g", { class: "nodes" });
  for (const n of nodes) {
    const [x, y] = state.positions.get(n.id);
    const classes = ["node", n.up ? "up" : "down"];
    if (n.global) classes.push("global");
    if (n.perl) classes.push("perl");
    if (state.selected === n.id) classes.push("selected");
    const g = svg("g", { class: classes.join(" "), "data-node": n.id, "data-state": n.up ? "up" : "down", transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`, tabindex: 0 });
    if (n.global) g.append(svg("circle", { class: "ring", r: 27 }));
    g.append(svg("circle", { class: "dot", r: 21 }));
    const badge = svg("text", { class: "badge", y: 5 });
    badge.textContent = n.perl ? "pl" : n.global ? "G" : "";
    g.append(badge);
    const label = svg("text", { class: "label", y: 42 });
    label.textContent = short(n.id);
    g.append(label);
    const sub = svg("text", { class: "sub", y: 56 });
    sub.textContent = n.up ? subline(n) : `down: ${n.downReason ?? "?"}`;
    g.append(sub);
    const title = svg("title");
    title.textContent = `${n.id}\n${n.addresses.join(", ") || "no listener"}`;
    g.append(title);
    g.addEventListener("click", () => select(n.id));
    g.addEventListener("keydown", (ev) => ev.key === "Enter" && select(n.id));
    nodeLayer.append(g);
  }
  box.replaceChildren(edgeLayer, nodeLayer);
  const up = nodes.filter((n) => n.up).length;
  document.getElementById("summary").textContent = `${nodes.length} nodes (${up} up) · ${edges.length} links`;
}

function subline(n) {
  const parts = [];
  if (n.perl) parts.push("Perl");
  if (n.global) parts.push("global");
  if (n.info) parts.push(`${n.info.ports} ports`);
  else if (n.introspection === "no") parts.push("no aemp_info");
  return parts.join(" · ");
}

// ---- the node panel ------------------------------------------------------------------

function select(id) {
  state.selected = id;
  renderGraph();
  renderPanel();
}

function table(headers, rows) {
  const t = el("table");
  t.append(el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))));
  const body = el("tbody");
  for (const r of rows) body.append(el("tr", {}, ...r.map((c) => el("td", { text: String(c) }))));
  t.append(body);
  return t;
}

function facts(pairs) {
  const dl = el("dl");
  for (const [k, v] of pairs) dl.append(el("dt", { text: k }), el("dd", { text: v }));
  return dl;
}

function renderPanel() {
  const body = document.getElementById("panel-body");
  const title = document.getElementById("panel-title");
  const n = state.graph.nodes.find((x) => x.id === state.selected);
  if (n === undefined) {
    title.textContent = "Node";
    body.replaceChildren(el("p", { class: "hint", text: state.selected ? `${state.selected} is gone.` : "Click a node to see its details." }));
    return;
  }
  title.textContent = n.id;
  const parts = [];
  const status = n.up ? "up" : `down since ${clock(n.downSince)}: ${n.downReason}`;
  const pairs = [["state", status], ["addresses", n.addresses.join(", ") || "no listener"], ["global node", n.global ? "yes" : "no"]];
  if (n.provider) pairs.push(["provider", n.provider]);
  const i = n.info;
  if (i) {
    const db = i.db ?? {};
    pairs.push(
      ["version", `${i.version} on Node ${i.runtime}, pid ${i.pid}`],
      ["uptime", duration(i.uptime)],
      ["memory", `RSS ${bytes(i.rss)}, heap ${bytes(i.heapUsed)} of ${bytes(i.heapTotal)}`],
      ["event-loop lag", `mean ${ms(i.eventLoopLag.mean)}, p99 ${ms(i.eventLoopLag.p99)}, max ${ms(i.eventLoopLag.max)}`],
      ["ports", `${i.ports} (${i.asyncPorts} async, ${i.mailboxMessages} messages waiting)`],
      ["run queue", String(i.runQueue)],
    );
    if (db.master !== undefined) pairs.push(["master", db.global ? "itself (global)" : db.master ?? "none yet"]);
    if (Array.isArray(db.families)) pairs.push(["owns entries in", db.families.join(", ") || "no family"]);
  } else if (n.introspection === "no") {
    pairs.push(["details", n.perl ? "a Perl node: it does not answer aemp_info; its links are those its peers report" : "it does not answer aemp_info"]);
  } else if (n.problem) pairs.push(["details", n.problem]);
  parts.push(facts(pairs));
  if (i) {
    parts.push(el("h3", { text: "Busiest mailboxes" }));
    parts.push(i.mailboxes.length > 0 ? table(["port", "messages"], i.mailboxes.map((m) => [m.port, m.messages])) : el("p", { class: "hint", text: "No messages waiting in any mailbox." }));
    parts.push(el("h3", { text: `Links (${i.links.length})` }));
    const rows = i.links.map((l) => {
      const r = n.rates?.[l.peer] ?? { out: 0, in: 0 };
      return [
        l.peer,
        `${l.framingOut === l.framingIn ? l.framingOut : `${l.framingOut}/${l.framingIn}`}${l.tls ? ", TLS" : ""}`,
        `${count(l.packetsOut)} / ${count(l.packetsIn)}`,
        `${bytes(l.bytesOut)} / ${bytes(l.bytesIn)}`,
        `${count(r.out)} / ${count(r.in)}`,
      ];
    });
    parts.push(table(["peer", "framing", "msgs out / in", "bytes out / in", "msg/s out / in"], rows));
  } else {
    const peers = state.graph.edges.filter((e) => e.a === n.id || e.b === n.id).map((e) => (e.a === n.id ? e.b : e.a));
    parts.push(el("h3", { text: "Links reported by peers" }), el("p", { text: peers.join(", ") || "none" }));
  }
  body.replaceChildren(...parts);
}

// ---- the database --------------------------------------------------------------------

function renderDb(changed = null) {
  const box = document.getElementById("db");
  const families = Object.keys(state.db).sort();
  if (families.length === 0) {
    box.replaceChildren(el("p", { class: "hint", text: "No families yet." }));
    return;
  }
  const parts = [];
  for (const family of families) {
    const content = state.db[family];
    const keys = Object.keys(content).sort();
    const d = el("details", { "data-family": family });
    d.open = !state.folded.has(family);
    d.addEventListener("toggle", () => (d.open ? state.folded.delete(family) : state.folded.add(family)));
    d.append(el("summary", {}, el("span", { class: "family", text: family }), el("span", { class: "count", text: ` ${keys.length} key${keys.length === 1 ? "" : "s"}` })));
    const t = el("table");
    const body = el("tbody");
    for (const k of keys) {
      const row = el("tr", { "data-key": k }, el("td", { class: "key", text: k }), el("td", { class: "value", text: content[k] }));
      if (changed !== null && changed.family === family && k in changed.set) row.className = "changed";
      body.append(row);
    }
    if (keys.length === 0) body.append(el("tr", {}, el("td", { class: "hint", text: "(empty)", colspan: "2" })));
    t.append(body);
    d.append(t);
    parts.push(d);
  }
  box.replaceChildren(...parts);
}

// ---- the logs --------------------------------------------------------------------------

function logVisible(r) {
  const level = Number(document.getElementById("log-level").value || 9);
  const node = document.getElementById("log-node").value;
  return r.level <= level && (node === "" || r.node === node);
}

function logItem(r) {
  return el(
    "li",
    { class: `lvl-${r.level}`, "data-node": r.node, "data-level": String(r.level) },
    el("time", { text: clock(r.time) }),
    el("span", { class: "node", text: r.node }),
    el("span", { class: "level", text: levelName(r.level) }),
    el("span", { class: "text", text: r.text }),
  );
}

function noteLogNode(node) {
  const select = document.getElementById("log-node");
  if ([...select.options].some((o) => o.value === node)) return;
  select.append(el("option", { value: node, text: node }));
}

function renderLogs() {
  const list = document.getElementById("logs");
  list.replaceChildren(...state.logs.filter(logVisible).map(logItem));
  list.scrollTop = list.scrollHeight;
}

function addLog(r) {
  state.logs.push(r);
  if (state.logs.length > MAX_LOGS) state.logs.splice(0, state.logs.length - MAX_LOGS);
  noteLogNode(r.node);
  if (!logVisible(r)) return;
  const list = document.getElementById("logs");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 30;
  list.append(logItem(r));
  while (list.children.length > MAX_LOGS) list.firstChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function setupLevels(levels, level) {
  state.levels = levels;
  const select = document.getElementById("log-level");
  select.replaceChildren(...levels.slice(1).map((name, i) => el("option", { value: String(i + 1), text: `up to ${i + 1} ${name}` })));
  select.value = String(level);
}

// ---- the stream ------------------------------------------------------------------------

function setStatus(text, cls) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = `status ${cls}`;
}

function connect() {
  const events = new EventSource(`events?token=${encodeURIComponent(token)}`);
  events.onopen = () => setStatus("live", "live");
  events.onerror = () => setStatus("reconnecting…", "connecting");
  events.addEventListener("snapshot", (ev) => {
    const s = JSON.parse(ev.data);
    setupLevels(s.levels, s.logLevel);
    state.graph = s.graph;
    state.db = s.db;
    state.logs = s.logs;
    for (const r of s.logs) noteLogNode(r.node);
    renderGraph();
    renderPanel();
    renderDb();
    renderLogs();
  });
  events.addEventListener("graph", (ev) => {
    state.graph = JSON.parse(ev.data);
    renderGraph();
    renderPanel();
  });
  events.addEventListener("db", (ev) => {
    const change = JSON.parse(ev.data);
    const content = (state.db[change.family] ??= {});
    Object.assign(content, change.set);
    for (const k of change.deleted) delete content[k];
    renderDb(change);
  });
  events.addEventListener("log", (ev) => addLog(JSON.parse(ev.data)));
}

document.getElementById("log-level").addEventListener("change", renderLogs);
document.getElementById("log-node").addEventListener("change", renderLogs);
connect();
