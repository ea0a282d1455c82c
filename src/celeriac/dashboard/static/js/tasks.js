// The live task table: filter by state, name and worker, search by id (or name/args).
import {
  api, badge, fmtCount, fmtDuration, fmtTime, h, on, shortId, STATES,
} from "./core.js";

const LIMIT = 500;
const COLUMNS = ["State", "Task", "UUID", "Args", "Kwargs", "Result", "Received", "Started", "Runtime", "Worker"];

function matches(task, filters) {
  if (filters.state && task.state !== filters.state) return false;
  if (filters.name && task.name !== filters.name) return false;
  if (filters.worker && task.worker !== filters.worker) return false;
  const needle = (filters.search || "").trim().toLowerCase();
  if (!needle) return true;
  if (task.uuid.startsWith(needle)) return true;
  return [task.name, task.args, task.kwargs].some((text) => (text || "").toLowerCase().includes(needle));
}

function row(task) {
  return h("tr", {
    class: "link", dataset: { uuid: task.uuid, state: task.state },
    onclick: () => { location.hash = `#/task/${task.uuid}`; },
  },
  h("td", {}, badge(task.state)),
  h("td", { class: "clip", title: task.name || "" }, task.name || h("span", { class: "faint" }, "unknown")),
  h("td", { class: "id", title: task.uuid }, shortId(task.uuid)),
  h("td", { class: "clip mono", title: task.args || "" }, task.args || ""),
  h("td", { class: "clip mono", title: task.kwargs || "" }, task.kwargs || ""),
  h("td", { class: "clip mono", title: task.result || "" }, task.result || ""),
  h("td", { class: "nowrap muted" }, fmtTime(task.received || task.sent)),
  h("td", { class: "nowrap muted" }, fmtTime(task.started)),
  h("td", { class: "num" }, fmtDuration(task.runtime)),
  h("td", { class: "clip mono" }, task.worker || ""));
}

function select(name, label, options, value) {
  return h("select", { name, "aria-label": label },
    h("option", { value: "" }, label),
    options.map((option) => h("option", { value: option, selected: option === value }, option)));
}

export function mountTasks(view, params) {
  const filters = {
    state: params.get("state") || "",
    name: params.get("name") || "",
    worker: params.get("worker") || "",
    search: params.get("search") || "",
  };
  const count = h("span", { class: "muted", id: "tasks-count" });
  const tbody = h("tbody", {});
  const table = h("table", { id: "tasks-table" },
    h("thead", {}, h("tr", {}, COLUMNS.map((label) => h("th", { class: label === "Runtime" ? "num" : null }, label)))),
    tbody);
  const empty = h("div", { class: "empty hidden" }, "No tasks match.");
  const search = h("input", { type: "search", name: "search", placeholder: "Search id, name or args…", value: filters.search, autocomplete: "off" });
  const pause = h("input", { type: "checkbox", name: "pause" });
  const filterBar = h("form", { class: "filters", id: "task-filters", onsubmit: (e) => e.preventDefault() },
    select("state", "All states", STATES, filters.state),
    select("name", "All tasks", filters.name ? [filters.name] : [], filters.name),
    select("worker", "All workers", filters.worker ? [filters.worker] : [], filters.worker),
    search,
    h("button", { type: "button", class: "btn", onclick: () => { location.hash = "#/tasks"; } }, "Clear"),
    h("span", { class: "spacer" }),
    h("label", { class: "toggle" }, pause, "Pause live updates"));
  view.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Tasks"), count),
    filterBar,
    h("section", { class: "card" }, h("div", { class: "body flush table-scroll" }, table, empty)));

  const rows = new Map();
  let total = 0;
  let pending = 0;

  function showCount() {
    const paused = pending ? ` · ${pending} new while paused` : "";
    count.textContent = `${fmtCount(rows.size)} shown of ${fmtCount(total)}${paused}`;
    empty.classList.toggle("hidden", rows.size > 0);
    table.classList.toggle("hidden", rows.size === 0);
  }

  async function load() {
    const query = new URLSearchParams({ limit: LIMIT });
    for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
    const data = await api(`api/tasks?${query}`);
    rows.clear();
    tbody.replaceChildren(...data.tasks.map((task) => {
      const node = row(task);
      rows.set(task.uuid, node);
      return node;
    }));
    total = data.total;
    pending = 0;
    showCount();
  }

  function apply(tasks) {
    if (pause.checked) { pending += tasks.length; showCount(); return; }
    for (const task of tasks) {
      const old = rows.get(task.uuid);
      if (!matches(task, filters)) {
        if (old) { old.remove(); rows.delete(task.uuid); total -= 1; }
        continue;
      }
      const node = row(task);
      node.classList.add("flash");
      if (old) old.replaceWith(node);
      else { tbody.prepend(node); total += 1; }
      rows.set(task.uuid, node);
    }
    while (rows.size > LIMIT) {
      const last = tbody.lastElementChild;
      rows.delete(last.dataset.uuid);
      last.remove();
    }
    showCount();
  }

  function setFilter(key, value) {
    filters[key] = value;
    const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, "", `#/tasks${query.toString() ? `?${query}` : ""}`);
    load();
  }

  for (const element of filterBar.querySelectorAll("select")) {
    element.addEventListener("change", () => setFilter(element.name, element.value));
  }
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => setFilter("search", search.value), 250);
  });
  pause.addEventListener("change", () => { if (!pause.checked) load(); });

  Promise.all([api("api/task-names"), api("api/workers")]).then(([names, workers]) => {
    const fill = (name, values) => {
      const element = filterBar.querySelector(`select[name=${name}]`);
      const current = element.value;
      element.replaceChildren(element.firstElementChild,
        ...[...new Set([...values, current].filter(Boolean))].sort().map((v) => h("option", { value: v, selected: v === current }, v)));
    };
    fill("name", names.names);
    fill("worker", workers.workers.map((w) => w.hostname));
  }).catch(() => {});
  load().catch((error) => { empty.textContent = error.message; empty.classList.remove("hidden"); });
  const offTasks = on("tasks", apply);
  const offReset = on("reset", () => load());
  return () => { offTasks(); offReset(); clearTimeout(typing); };
}
