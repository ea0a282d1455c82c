// Queues: messages waiting in the broker, who consumes them, and the recent trend.
import { sparkline } from "./charts.js";
import { api, fmtCount, h, on, toast } from "./core.js";

const KEEP = 150;

export function mountQueues(view) {
  const body = h("div", { class: "body flush table-scroll" });
  const total = h("span", { class: "muted" });
  view.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Queues"), total),
    h("section", { class: "card" }, body),
    h("p", { class: "faint" }, "Lengths count messages waiting in the broker (ETA tasks included), read every few seconds."));
  const history = new Map();
  let queues = [];

  function render() {
    const top = Math.max(1, ...queues.map((q) => q.length || 0));
    total.textContent = `${fmtCount(queues.reduce((sum, q) => sum + (q.length || 0), 0))} messages waiting`;
    if (!queues.length) {
      body.replaceChildren(h("div", { class: "empty" }, "No queues known yet."));
      return;
    }
    body.replaceChildren(h("table", { id: "queues-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Queue"), h("th", { class: "num" }, "Waiting"), h("th", {}, ""),
        h("th", {}, "Consumers"), h("th", {}, "Last minutes"))),
      h("tbody", {}, queues.map((queue) => {
        const fill = h("i", {});
        fill.style.width = `${((queue.length || 0) / top) * 100}%`;
        return h("tr", { dataset: { queue: queue.name } },
          h("td", { class: "mono" }, queue.name, queue.dead_letter ? h("span", { class: "chip warn" }, "dead letters") : null),
          h("td", { class: "num length" }, queue.length === null ? "?" : fmtCount(queue.length)),
          h("td", {}, h("div", { class: "bar" }, fill)),
          h("td", {}, queue.consumers.length ? queue.consumers.map((c) => h("span", { class: "chip" }, c)) : h("span", { class: "faint" }, "none known")),
          h("td", {}, sparkline(history.get(queue.name) || [])));
      }))));
  }

  api("api/queues").then((data) => {
    queues = data.queues;
    for (const queue of queues) history.set(queue.name, queue.history.map(([, n]) => n));
    render();
  }).catch((error) => toast(error.message, "error"));

  return on("tick", (data) => {
    const lengths = new Map(data.queue_rows.map((q) => [q.name, q.length]));
    const known = new Set(queues.map((q) => q.name));
    for (const q of data.queue_rows) if (!known.has(q.name)) queues.push({ name: q.name, length: q.length, consumers: [], history: [] });
    for (const queue of queues) {
      if (!lengths.has(queue.name)) continue;
      queue.length = lengths.get(queue.name);
      const points = history.get(queue.name) || [];
      if (queue.length !== null) points.push(queue.length);
      history.set(queue.name, points.slice(-KEEP));
    }
    render();
  });
}
