// The overview: headline numbers, live charts, task types and recent failures.
import { LineChart } from "./charts.js";
import { api, badge, fmtAgo, fmtCount, fmtDuration, h, on, shortId } from "./core.js";

const THROUGHPUT = [
  { key: "succeeded", label: "succeeded/s", color: "#1e9a53" },
  { key: "failed", label: "failed/s", color: "#d4403a" },
  { key: "received", label: "received/s", color: "#2f6fde", dash: "4 3" },
];
const RUNTIME = [
  { key: "p50", label: "p50", color: "#2f6fde" },
  { key: "p90", label: "p90", color: "#8a55d6" },
  { key: "p99", label: "p99", color: "#d4403a" },
];
const KEEP_POINTS = 150;
const REFRESH_MS = 5000;

function kpi(id, label, href, color) {
  const dot = h("i", { class: "dot" });
  if (color) dot.style.background = color;
  return h("a", { class: "card kpi", href, id: `kpi-${id}` },
    h("div", { class: "label" }, color ? dot : null, label),
    h("div", { class: "value" }, "–"),
    h("div", { class: "sub" }, "\u00a0"));
}

function setKpi(id, value, sub) {
  const card = document.getElementById(`kpi-${id}`);
  if (!card) return;
  card.querySelector(".value").textContent = value;
  card.querySelector(".sub").textContent = sub || "\u00a0";
}

function recentRate(points) {
  const recent = points.slice(-30);
  if (!recent.length) return 0;
  return recent.reduce((total, p) => total + p.succeeded + p.failed, 0) / recent.length;
}

function showSummary(data, series) {
  const tasks = data.tasks || {};
  const totals = data.totals || {};
  setKpi("workers", fmtCount(data.workers.online), `of ${data.workers.total} known`);
  setKpi("active", fmtCount(tasks.STARTED || 0), `${fmtCount(tasks.RECEIVED || 0)} received, waiting`);
  setKpi("queued", fmtCount(data.queued), "messages in the broker");
  setKpi("succeeded", fmtCount(totals.succeeded), "since the dashboard started");
  setKpi("failed", fmtCount(totals.failed), `${fmtCount(totals.retried)} retried`);
  setKpi("rate", recentRate(series).toFixed(2), "tasks/s over the last minute");
}

function typesTable(rows) {
  if (!rows.length) return h("div", { class: "empty" }, "No tasks seen yet.");
  return h("table", {},
    h("thead", {}, h("tr", {}, ["Task", "Received", "Succeeded", "Failed", "Retried", "p50", "p95"].map(
      (label, i) => h("th", { class: i ? "num" : null }, label)))),
    h("tbody", {}, rows.map((row) => h("tr", {},
      h("td", { class: "clip" }, h("a", { href: `#/tasks?name=${encodeURIComponent(row.name)}` }, row.name)),
      h("td", { class: "num" }, fmtCount(row.received)),
      h("td", { class: "num" }, fmtCount(row.succeeded)),
      h("td", { class: "num" }, row.failed ? h("a", { href: `#/tasks?state=FAILURE&name=${encodeURIComponent(row.name)}` }, fmtCount(row.failed)) : "0"),
      h("td", { class: "num" }, fmtCount(row.retried)),
      h("td", { class: "num" }, fmtDuration(row.p50)),
      h("td", { class: "num" }, fmtDuration(row.p95))))));
}

function failuresList(rows) {
  if (!rows.length) return h("div", { class: "empty" }, "No failures.");
  return h("table", {}, h("tbody", {}, rows.map((row) => h("tr", {
    class: "link", onclick: () => { location.hash = `#/task/${row.uuid}`; },
  },
  h("td", { class: "shrink" }, badge(row.state)),
  h("td", { class: "clip" }, h("div", {}, row.name || "?"), h("div", { class: "muted mono" }, row.result || "")),
  h("td", { class: "id" }, shortId(row.uuid)),
  h("td", { class: "num muted" }, fmtAgo(row.timestamp))))));
}

export function mountOverview(view) {
  const throughput = h("div", { class: "body" });
  const runtime = h("div", { class: "body" });
  const types = h("div", { class: "body flush table-scroll" });
  const failures = h("div", { class: "body flush" });
  view.replaceChildren(
    h("div", { class: "kpis" },
      kpi("workers", "Workers online", "#/workers", "#1e9a53"),
      kpi("active", "Running now", "#/tasks?state=STARTED", "#2f6fde"),
      kpi("queued", "Queued", "#/queues"),
      kpi("succeeded", "Succeeded", "#/tasks?state=SUCCESS", "#1e9a53"),
      kpi("failed", "Failed", "#/tasks?state=FAILURE", "#d4403a"),
      kpi("rate", "Throughput", "#/tasks")),
    h("div", { class: "grid cols-2" },
      h("section", { class: "card", id: "chart-throughput" }, h("header", {}, h("h2", {}, "Throughput")), throughput),
      h("section", { class: "card", id: "chart-runtime" }, h("header", {}, h("h2", {}, "Runtime percentiles")), runtime),
      h("section", { class: "card", id: "task-types" }, h("header", {}, h("h2", {}, "Task types")), types),
      h("section", { class: "card", id: "recent-failures" }, h("header", {}, h("h2", {}, "Recent failures"),
        h("span", { class: "spacer" }), h("a", { href: "#/tasks?state=FAILURE" }, "all failures")), failures)));
  const rates = new LineChart(throughput, { series: THROUGHPUT, format: (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1)) });
  const times = new LineChart(runtime, { series: RUNTIME, format: fmtDuration });
  let series = [];

  function merge(tail) {
    const byTime = new Map(series.map((p) => [p.t, p]));
    for (const point of tail) byTime.set(point.t, point);
    series = [...byTime.values()].sort((a, b) => a.t - b.t).slice(-KEEP_POINTS);
    rates.update(series);
    times.update(series);
  }

  async function load() {
    const data = await api("api/overview");
    series = [];
    merge(data.series);
    showSummary(data, series);
    types.replaceChildren(typesTable(data.types));
    failures.replaceChildren(failuresList(data.failures));
  }

  load().catch((error) => failures.replaceChildren(h("div", { class: "empty" }, error.message)));
  const timer = setInterval(() => load().catch(() => {}), REFRESH_MS);
  const off = on("tick", (data) => { merge(data.series); showSummary(data, series); });
  return () => { clearInterval(timer); off(); rates.destroy(); times.destroy(); };
}
