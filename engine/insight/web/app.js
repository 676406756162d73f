// Tollgate live insight dashboard. Plain script, no dependencies: it polls
// api/stats every second, reads findings from api/findings and follows the
// live feed on api/events (Server-Sent Events). Every value from the proxy is
// written with textContent, never as HTML: principals and paths come from
// clients.
"use strict";

const CLASSES = ["2xx", "3xx", "4xx", "5xx", "other", "1xx"];
const css = getComputedStyle(document.documentElement);
const color = (name) => css.getPropertyValue("--" + name).trim() || "#888";
const $ = (id) => document.getElementById(id);

let windowName = "";
let lastFinding = 0;
let feed = null;
const MAX_FEED_ROWS = 200;
const MAX_FINDING_ROWS = 100;

function fmt(n, digits) {
  if (n === undefined || n === null || Number.isNaN(n)) return "–";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits });
}
function pct(x) { return fmt(100 * x, 1) + "%"; }

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fillTop(id, rows) {
  const tbody = $(id).tBodies[0];
  const frag = document.createDocumentFragment();
  for (const r of rows || []) {
    const tr = document.createElement("tr");
    cell(tr, r.name, "name").title = r.name;
    cell(tr, fmt(r.requests, 0) + (r.overestimate ? " ±" + fmt(r.overestimate, 0) : ""), "num requests");
    cell(tr, fmt(r.errors, 0), "num errors");
    cell(tr, pct(r.error_rate), "num");
    cell(tr, fmt(r.p50_ms, 1), "num");
    cell(tr, fmt(r.p99_ms, 1), "num");
    frag.appendChild(tr);
  }
  tbody.replaceChildren(frag);
}

// Charts are drawn on canvases sized to their device pixels.
function prepare(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

function axis(ctx, w, h, max, label) {
  ctx.strokeStyle = color("line");
  ctx.fillStyle = color("muted");
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  for (const f of [0, 0.5, 1]) {
    const y = Math.round(h - 14 - f * (h - 24)) + 0.5;
    ctx.beginPath(); ctx.moveTo(40, y); ctx.lineTo(w, y); ctx.stroke();
    ctx.fillText(label(max * f), 2, y + 4);
  }
}

function lineChart(canvas, values, max, label, stroke) {
  const { ctx, w, h } = prepare(canvas);
  axis(ctx, w, h, max, label);
  const n = values.length, x0 = 40, pw = w - x0, ph = h - 24;
  ctx.strokeStyle = stroke;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = x0 + (n <= 1 ? 0 : (i * pw) / (n - 1));
    const y = h - 14 - (max > 0 ? (v / max) * ph : 0);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function drawCharts(s) {
  const sr = s.series, n = sr.requests.length;
  const maxReq = niceMax(Math.max(0, ...sr.requests));
  lineChart($("rps-chart"), sr.requests, maxReq, (v) => fmt(v, 0), color("c3xx"));

  // Stacked bars by status class.
  const canvas = $("status-chart");
  const { ctx, w, h } = prepare(canvas);
  axis(ctx, w, h, maxReq, (v) => fmt(v, 0));
  const x0 = 40, bw = (w - x0) / n, ph = h - 24;
  let drawn = 0;
  for (let i = 0; i < n; i++) {
    let y = h - 14;
    for (const c of CLASSES) {
      const v = sr.classes[c][i];
      if (!v) continue;
      const bh = (v / maxReq) * ph;
      ctx.fillStyle = color("c" + c);
      ctx.fillRect(x0 + i * bw, y - bh, Math.max(bw - 0.5, 1), bh);
      y -= bh;
      drawn++;
    }
  }
  canvas.dataset.bars = String(drawn);
  for (const c of ["2xx", "3xx", "4xx", "5xx", "other"]) {
    $("status-" + c).textContent = fmt(s.totals.classes[c], 0);
  }

  const rate = sr.requests.map((r, i) => (r > 0 ? sr.failures[i] / r : 0));
  lineChart($("failure-chart"), rate, 1, (v) => fmt(100 * v, 0) + "%", color("c5xx"));
}

function render(s) {
  const t = s.totals;
  $("kpi-rps").textContent = fmt(t.rps, 1);
  $("kpi-requests").textContent = fmt(t.requests, 0);
  $("kpi-error-rate").textContent = pct(t.error_rate);
  $("kpi-failure-rate").textContent = pct(t.failure_rate);
  $("kpi-latency").textContent = fmt(t.p50_ms, 1) + " / " + fmt(t.p99_ms, 1) + " ms";
  const byDet = s.findings.by_detector || {};
  $("kpi-findings").textContent = fmt(Object.values(byDet).reduce((a, b) => a + b, 0), 0);
  fillTop("top-endpoints", s.top.endpoints);
  fillTop("top-principals", s.top.principals);
  fillTop("top-ips", s.top.ips);
  drawCharts(s);
  const sel = $("window");
  if (sel.options.length !== s.windows.length) {
    sel.replaceChildren(...s.windows.map((w) => new Option(w, w, w === s.window, w === s.window)));
  }
  $("updated").textContent = "updated " + new Date(s.now).toLocaleTimeString() + " · " + fmt(s.observed, 0) + " requests observed";
  if (s.findings.last_id > lastFinding) loadFindings();
}

function addFinding(f) {
  if (f.id <= lastFinding) return;
  lastFinding = f.id;
  const tbody = $("findings").tBodies[0];
  const tr = document.createElement("tr");
  tr.dataset.detector = f.detector;
  cell(tr, new Date(f.time).toLocaleTimeString());
  cell(tr, f.detector, "detector");
  cell(tr, f.who, "who").title = f.subject;
  cell(tr, f.route || "");
  const what = cell(tr, f.message, "what");
  what.title = JSON.stringify(f.evidence);
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.rows.length > MAX_FINDING_ROWS) tbody.deleteRow(-1);
}

let findingsBusy = false;
async function loadFindings() {
  if (findingsBusy) return;
  findingsBusy = true;
  try {
    const r = await fetch("api/findings?after=" + lastFinding, { cache: "no-store" });
    if (r.ok) for (const f of (await r.json()).findings) addFinding(f);
  } finally {
    findingsBusy = false;
  }
}

async function poll() {
  try {
    const q = windowName ? "?window=" + encodeURIComponent(windowName) : "";
    const r = await fetch("api/stats" + q, { cache: "no-store" });
    if (!r.ok) throw new Error(r.status + " " + (await r.text()));
    render(await r.json());
  } catch (e) {
    $("updated").textContent = "cannot load statistics: " + e.message;
  }
}

function addEvent(ev) {
  const tbody = $("feed").tBodies[0];
  const tr = document.createElement("tr");
  if (ev.status >= 500 || ev.decision === "upstream_error" || ev.decision === "failed") tr.className = "fail";
  else if (ev.status >= 400 || ev.decision !== "allowed") tr.className = "err";
  cell(tr, new Date(ev.time).toLocaleTimeString());
  cell(tr, ev.principal + (ev.unverified ? " (unverified)" : ""));
  cell(tr, ev.client_ip);
  cell(tr, ev.method);
  cell(tr, ev.path ? ev.route + " " + ev.path : ev.route).title = ev.path || ev.route;
  cell(tr, String(ev.status), "status num");
  cell(tr, ev.decision + (ev.reason ? " · " + ev.reason : ""));
  cell(tr, fmt(ev.latency_ms, 2), "num");
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.rows.length > MAX_FEED_ROWS) tbody.deleteRow(-1);
}

let skipped = 0;
function follow() {
  if (feed) feed.close();
  const params = new URLSearchParams();
  for (const k of ["principal", "route", "status"]) {
    const v = $("filter-" + k).value.trim();
    if (v) params.set(k, v);
  }
  $("feed").tBodies[0].replaceChildren();
  skipped = 0;
  $("feed-skipped").textContent = "";
  feed = new EventSource("api/events?" + params.toString());
  feed.addEventListener("access", (m) => addEvent(JSON.parse(m.data)));
  feed.addEventListener("finding", (m) => addFinding(JSON.parse(m.data)));
  feed.addEventListener("skipped", (m) => {
    skipped += JSON.parse(m.data).skipped;
    $("feed-skipped").textContent = "· " + fmt(skipped, 0) + " events not shown (sampled)";
  });
  feed.onerror = () => { $("feed-skipped").textContent = "· feed reconnecting…"; };
}

// The cluster view (api/cluster) is there only when this instance ships
// its audit log to PostgreSQL: a 404 keeps the panel hidden, a 503 shows
// why the database cannot be read. It is polled every 2 s, the server's
// cache interval.
function fillRows(id, rows, cols) {
  const frag = document.createDocumentFragment();
  for (const r of rows || []) {
    const tr = document.createElement("tr");
    for (const [cls, v] of cols(r)) cell(tr, v, cls);
    frag.appendChild(tr);
  }
  $(id).tBodies[0].replaceChildren(frag);
}

function ago(seconds) {
  if (seconds < 60) return fmt(seconds, 1) + " s";
  if (seconds < 3600) return fmt(seconds / 60, 1) + " min";
  return fmt(seconds / 3600, 1) + " h";
}

function renderCluster(c) {
  const t = c.totals;
  $("cluster-instances").textContent = fmt(c.origins.length, 0);
  $("cluster-requests").textContent = fmt(t.requests, 0);
  $("cluster-error-rate").textContent = pct(t.error_rate);
  $("cluster-failure-rate").textContent = pct(t.failure_rate);
  $("cluster-denied").textContent = fmt(t.denied, 0);
  $("cluster-limited").textContent = fmt(t.limited, 0);
  fillRows("cluster-origins", c.origins, (o) => [
    ["origin", o.origin], ["num requests", fmt(o.requests, 0)], ["num c2xx", fmt(o.classes["2xx"], 0)],
    ["num c4xx", fmt(o.classes["4xx"], 0)], ["num c5xx", fmt(o.classes["5xx"], 0)],
    ["num failure-rate", pct(o.failure_rate)], ["last-time", new Date(o.last_time).toLocaleTimeString()],
    ["num lag", ago(o.lag_seconds)], ["num last-index", fmt(o.last_index, 0)],
  ]);
  const top = (r) => [["name", r.name], ["num requests", fmt(r.requests, 0)], ["num errors", fmt(r.errors, 0)]];
  fillRows("cluster-endpoints", c.top.endpoints, top);
  fillRows("cluster-principals", c.top.principals, top);
  fillRows("cluster-statuses", c.statuses, (s) => [["status", String(s.status)], ["num requests", fmt(s.requests, 0)]]);
  $("cluster-updated").textContent = "as of " + new Date(c.now).toLocaleTimeString();
}

async function pollCluster() {
  const panel = $("cluster");
  try {
    const r = await fetch("api/cluster?window=" + encodeURIComponent($("cluster-window").value), { cache: "no-store" });
    if (r.status === 404) {
      panel.hidden = true;
      panel.dataset.state = "not-configured";
      return;
    }
    panel.hidden = false;
    if (!r.ok) {
      const p = await r.json().catch(() => ({}));
      throw new Error((p.title || r.status) + (p.detail ? ": " + p.detail : ""));
    }
    renderCluster(await r.json());
    $("cluster-error").hidden = true;
    $("cluster-body").hidden = false;
    panel.dataset.state = "ok";
  } catch (e) {
    panel.hidden = false;
    panel.dataset.state = "error";
    $("cluster-error").textContent = "cluster view unavailable: " + e.message;
    $("cluster-error").hidden = false;
    $("cluster-body").hidden = true;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("cluster-window").addEventListener("change", pollCluster);
  pollCluster();
  setInterval(pollCluster, 2000);
  $("window").addEventListener("change", (e) => { windowName = e.target.value; poll(); });
  $("feed-filter").addEventListener("submit", (e) => { e.preventDefault(); follow(); });
  poll();
  loadFindings();
  follow();
  setInterval(poll, 1000);
});
