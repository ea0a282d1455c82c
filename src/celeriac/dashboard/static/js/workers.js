// Workers: status, pool, load, counters, queues; grow/shrink a pool; set a rate limit.
import {
  api, dialog, field, fmtAgo, fmtCount, h, live, namesList, on, toast,
} from "./core.js";

function replySummary(replies) {
  const nodes = Object.entries(replies || {});
  if (!nodes.length) return "no worker replied";
  return nodes.map(([node, reply]) => {
    if (reply && typeof reply === "object" && "error" in reply) return `${node}: ${reply.error}`;
    if (reply && typeof reply === "object" && "ok" in reply) return `${node}: ${reply.ok}`;
    return `${node}: ${JSON.stringify(reply)}`;
  }).join("; ");
}

async function resize(worker, action) {
  try {
    const result = await api(`api/workers/${encodeURIComponent(worker.hostname)}/pool`, {
      method: "POST", body: { action, n: 1 },
    });
    toast(`Pool ${action} on ${worker.hostname}: ${replySummary(result.replies)}`,
      Object.keys(result.replies).length ? "ok" : "error");
  } catch (error) {
    toast(`Pool ${action} failed: ${error.message}`, "error");
  }
}

export async function openRateLimit(preset = {}) {
  const [{ names }, { workers }] = await Promise.all([api("api/task-names"), api("api/workers")]);
  const name = h("input", { name: "task_name", list: "rate-names", required: true, value: preset.task || "", placeholder: "proj.tasks.add", autocomplete: "off" });
  const rate = h("input", { name: "rate_limit", placeholder: "10/m", value: "" });
  const target = h("select", { name: "worker" }, h("option", { value: "" }, "All workers"),
    workers.map((w) => h("option", { value: w.hostname, selected: w.hostname === preset.worker }, w.hostname)));
  dialog({
    title: "Set a task's rate limit",
    fields: [
      field("Task", name), namesList("rate-names", names),
      h("div", { class: "row" }, field("Rate limit", rate, "10/s, 10/m, 10/h; empty for none"), field("On", target)),
    ],
    submitLabel: "Apply",
    submit: async () => {
      const result = await api("api/rate-limit", {
        method: "POST", body: { task_name: name.value, rate_limit: rate.value, worker: target.value || null },
      });
      toast(`Rate limit of ${result.task_name} set to ${result.rate_limit || "none"}: ${replySummary(result.replies)}`);
    },
  });
}

function loadCell(loadavg) {
  if (!loadavg) return h("td", { class: "num faint" }, "–");
  return h("td", { class: "num" }, loadavg.map((v) => v.toFixed(2)).join("  "));
}

function lastHeard(worker, now) {
  if (worker.heartbeat) return fmtAgo(worker.heartbeat, now);
  return worker.replied ? `replied ${fmtAgo(worker.replied, now)}` : "–";
}

function row(worker, now) {
  const pool = worker.pool || {};
  const canResize = worker.online;
  return h("tr", { dataset: { worker: worker.hostname } },
    h("td", {}, h("span", { class: `status ${worker.online ? "online" : "offline"}` }, worker.online ? "Online" : "Offline")),
    h("td", {}, h("div", { class: "mono" }, worker.hostname),
      h("div", { class: "faint" }, [worker.pid ? `pid ${worker.pid}` : null, worker.software].filter(Boolean).join(" · "))),
    h("td", {}, h("span", { class: "pool" },
      h("button", { class: "btn icon", title: "Shrink the pool by one", "aria-label": `Shrink pool of ${worker.hostname}`, disabled: !canResize, onclick: () => resize(worker, "shrink") }, "−"),
      h("span", { class: "pool-size" }, pool.concurrency ? `${pool.implementation || "pool"} × ${pool.concurrency}` : (pool.implementation || "–")),
      h("button", { class: "btn icon", title: "Grow the pool by one", "aria-label": `Grow pool of ${worker.hostname}`, disabled: !canResize, onclick: () => resize(worker, "grow") }, "+"))),
    h("td", { class: "num" }, fmtCount(worker.active)),
    h("td", { class: "num" }, fmtCount(worker.reserved)),
    h("td", { class: "num" }, fmtCount(worker.processed)),
    loadCell(worker.loadavg),
    h("td", {}, worker.queues.length ? worker.queues.map((q) => h("span", { class: "chip" }, q)) : h("span", { class: "faint" }, "–")),
    h("td", { class: "nowrap muted heard" }, lastHeard(worker, now)),
    h("td", {}, h("button", { class: "btn small", onclick: () => openRateLimit({ worker: worker.hostname }) }, "Rate limit…")));
}

export function mountWorkers(view) {
  const counts = h("span", { class: "muted" });
  const body = h("div", { class: "body flush table-scroll" });
  const refresh = h("button", { class: "btn", id: "workers-refresh" }, "Ask workers now");
  view.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Workers"), counts, h("span", { class: "spacer" }),
      refresh, h("button", { class: "btn", onclick: () => openRateLimit() }, "Rate limit…")),
    h("section", { class: "card" }, body));

  let shown = null;

  // Rebuild the table only when something but the clock changed, so buttons stay put.
  function render(workers) {
    const now = (live.last && live.last.now) || Date.now() / 1000;
    const signature = JSON.stringify(workers.map(({ heartbeat, replied, ...rest }) => rest));
    if (signature === shown) {
      for (const worker of workers) {
        const cell = body.querySelector(`tr[data-worker="${CSS.escape(worker.hostname)}"] .heard`);
        if (cell) cell.textContent = lastHeard(worker, now);
      }
      return;
    }
    shown = signature;
    const online = workers.filter((w) => w.online).length;
    counts.textContent = `${online} online · ${workers.length - online} offline`;
    if (!workers.length) {
      body.replaceChildren(h("div", { class: "empty" },
        "No workers yet. Workers appear here when they send heartbeats (events) or answer remote control."));
      return;
    }
    body.replaceChildren(h("table", { id: "workers-table" },
      h("thead", {}, h("tr", {}, ["Status", "Worker", "Pool", "Active", "Reserved", "Processed", "Load (1m 5m 15m)", "Queues", "Last heard", ""].map(
        (label, i) => h("th", { class: [3, 4, 5, 6].includes(i) ? "num" : null }, label)))),
      h("tbody", {}, workers.map((w) => row(w, now)))));
  }

  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    try { render((await api("api/workers/refresh", { method: "POST", body: {} })).workers); }
    catch (error) { toast(error.message, "error"); }
    finally { refresh.disabled = false; }
  });
  api("api/workers").then((data) => render(data.workers)).catch((error) => toast(error.message, "error"));
  return on("tick", (data) => render(data.worker_rows));
}
