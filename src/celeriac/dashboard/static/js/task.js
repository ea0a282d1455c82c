// One task: fields, result or traceback, its events on a timeline, its workflow graph,
// and the actions: retry, revoke, terminate.
import {
  api, badge, dialog, field, fmtDateTime, fmtDuration, fmtTime, h, on, READY, s, shortId, taskLink, toast,
} from "./core.js";

const STATE_COLORS = {
  SUCCESS: "#1e9a53", FAILURE: "#d4403a", STARTED: "#2f6fde", RECEIVED: "#7c8799",
  RETRY: "#d08700", REVOKED: "#8a55d6", REJECTED: "#a0592c", PENDING: "#a9b1be",
};
const EVENT_STATES = {
  "task-sent": "PENDING", "task-received": "RECEIVED", "task-started": "STARTED",
  "task-succeeded": "SUCCESS", "task-failed": "FAILURE", "task-retried": "RETRY",
  "task-revoked": "REVOKED", "task-rejected": "REJECTED",
};
const NODE = { w: 176, h: 46, gapX: 16, gapY: 34 };

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([key, value]) => [h("dt", {}, key), h("dd", {}, value)]));
}

function timeline(events) {
  if (!events.length) return h("div", { class: "empty" }, "No events seen for this task (read from the result backend).");
  const first = events[0].timestamp;
  return h("ol", { class: "timeline" }, events.map((event) => {
    const mark = h("span", { class: "mark" });
    mark.style.background = STATE_COLORS[EVENT_STATES[event.type]] || STATE_COLORS.PENDING;
    const extra = [
      event.hostname, event.runtime !== undefined ? `ran ${fmtDuration(event.runtime)}` : null,
      event.exception || null, event.reason || null,
    ].filter(Boolean).join(" · ");
    return h("li", { dataset: { type: event.type } }, mark,
      h("div", {}, h("span", { class: "what" }, event.type.replace("task-", "")), " ",
        h("span", { class: "when" }, fmtTime(event.timestamp),
          event.timestamp > first ? ` (+${fmtDuration(event.timestamp - first)})` : "")),
      extra ? h("div", { class: "muted mono" }, extra) : null);
  }));
}

/** Nodes by generation: 0 for nodes without a known parent, else the parent's + 1. */
function layers(graph) {
  const ids = new Set(graph.nodes.map((n) => n.id));
  const parentOf = new Map(graph.edges.map(([a, b]) => [b, a]));
  const depth = new Map();
  const depthOf = (id, seen = new Set()) => {
    if (depth.has(id)) return depth.get(id);
    const parent = parentOf.get(id);
    const d = parent && ids.has(parent) && !seen.has(parent) ? depthOf(parent, seen.add(id)) + 1 : 0;
    depth.set(id, d);
    return d;
  };
  const rows = [];
  for (const node of graph.nodes) {
    const d = depthOf(node.id);
    (rows[d] = rows[d] || []).push(node);
  }
  return rows.map((row) => row || []);
}

function graphView(graph) {
  if (graph.nodes.length <= 1 && !graph.edges.length) {
    return h("div", { class: "empty" }, "Not part of a workflow: no parent or children known.");
  }
  // Top-down: one row per generation, so chains run down the narrow column and groups
  // spread across it; a wide graph is scaled to fit.
  const rows = layers(graph);
  const widest = Math.max(...rows.map((r) => r.length));
  const width = widest * (NODE.w + NODE.gapX) - NODE.gapX + 8;
  const height = rows.length * (NODE.h + NODE.gapY) - NODE.gapY + 8;
  const place = new Map();
  rows.forEach((row, ri) => {
    const offset = ((widest - row.length) * (NODE.w + NODE.gapX)) / 2;
    row.forEach((node, ci) => place.set(node.id, { x: 4 + offset + ci * (NODE.w + NODE.gapX), y: 4 + ri * (NODE.h + NODE.gapY) }));
  });
  const svg = s("svg", { width: "100%", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "workflow graph" },
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))));
  svg.style.maxWidth = `${width}px`;
  for (const [from, to] of graph.edges) {
    const a = place.get(from);
    const b = place.get(to);
    if (!a || !b) continue;
    const x1 = a.x + NODE.w / 2;
    const y1 = a.y + NODE.h;
    const x2 = b.x + NODE.w / 2;
    const y2 = b.y;
    const mid = (y1 + y2) / 2;
    svg.append(s("path", { class: "edge", d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2 - 2}`, "marker-end": "url(#arrow)" }));
  }
  for (const node of graph.nodes) {
    const at = place.get(node.id);
    const color = STATE_COLORS[node.state] || STATE_COLORS.PENDING;
    const name = node.name || "unknown";
    const group = s("g", { class: `node${node.current ? " current" : ""}`, transform: `translate(${at.x},${at.y})`, dataset: { id: node.id } },
      s("title", {}, `${name}\n${node.id}\n${node.state || "?"}`),
      s("rect", { class: "box", width: NODE.w, height: NODE.h, rx: 6 }),
      s("rect", { x: 1.5, y: 1.5, width: 4, height: NODE.h - 3, rx: 2, fill: color, class: "state-bar" }),
      s("text", { class: "name", x: 14, y: 19 }, name.length > 22 ? `…${name.slice(-21)}` : name),
      s("text", { class: "sub", x: 14, y: 35 }, `${shortId(node.id)} · ${node.state || "?"}`));
    group.addEventListener("click", () => { location.hash = `#/task/${node.id}`; });
    svg.append(group);
  }
  return h("div", { class: "graph" }, svg);
}

async function act(task, action, body) {
  const result = await api(`api/tasks/${encodeURIComponent(task.uuid)}/${action}`, { method: "POST", body });
  return result;
}

function actions(task, reload) {
  const ready = READY.has(task.state);
  const retry = h("button", { class: "btn", id: "task-retry", disabled: !task.name || !(ready || task.state === "RETRY" || task.state === "REJECTED") }, "Retry");
  const revoke = h("button", { class: "btn", id: "task-revoke", disabled: ready }, "Revoke");
  const terminate = h("button", { class: "btn danger", id: "task-terminate", disabled: ready }, "Terminate");
  retry.addEventListener("click", async () => {
    retry.disabled = true;
    try {
      const result = await act(task, "retry", {});
      toast(`Sent ${result.name} again as ${shortId(result.task_id)}`);
      location.hash = `#/task/${result.task_id}`;
    } catch (error) {
      toast(`Retry failed: ${error.message}`, "error");
      retry.disabled = false;
    }
  });
  const confirmRevoke = (terminating) => {
    const signal = h("select", { name: "signal" }, ["SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT"].map((v) => h("option", { value: v }, v)));
    dialog({
      title: terminating ? "Terminate this task?" : "Revoke this task?",
      fields: [
        h("p", { class: "muted" }, terminating
          ? "Workers refuse it from now on, and the process running it is sent a signal."
          : "Workers refuse it from now on (also after restarts); a running task goes on."),
        h("p", { class: "mono" }, `${task.name || "unknown task"} ${task.uuid}`),
        terminating ? field("Signal", signal) : null,
      ],
      submitLabel: terminating ? "Terminate" : "Revoke",
      danger: true,
      submit: async () => {
        const result = await act(task, "revoke", { terminate: terminating, signal: signal.value });
        const replied = Object.keys(result.replies).length;
        toast(`${terminating ? "Terminated" : "Revoked"} ${shortId(task.uuid)} (${replied} worker${replied === 1 ? "" : "s"} replied)`);
        reload();
      },
    });
  };
  revoke.addEventListener("click", () => confirmRevoke(false));
  terminate.addEventListener("click", () => confirmRevoke(true));
  return h("div", { class: "task-actions" }, retry, " ", revoke, " ", terminate);
}

function render(view, task, reload) {
  const failed = task.exception || task.traceback;
  const children = task.children || [];
  view.replaceChildren(
    h("div", { class: "page-head" },
      h("div", { class: "task-title" },
        h("a", { href: "#/tasks" }, "← Tasks"),
        h("h1", { id: "task-name" }, task.name || "Unknown task"),
        h("span", { id: "task-state" }, badge(task.state)),
        h("span", { class: "uuid mono" }, task.uuid),
        h("span", { class: "sources" }, (task.sources || []).map((src) =>
          h("span", { class: "chip", title: src === "events" ? "seen live" : "read from the result backend" }, src === "events" ? "live" : "result backend")))),
      h("span", { class: "spacer" }),
      actions(task, reload)),
    h("div", { class: "grid detail" },
      h("div", { class: "stack" },
        h("section", { class: "card", id: "task-fields" }, h("header", {}, h("h2", {}, "Details")), h("div", { class: "body" }, kv([
          ["Task id", h("span", { class: "mono" }, task.uuid)],
          ["Args", task.args ? h("span", { class: "mono" }, task.args) : null],
          ["Kwargs", task.kwargs ? h("span", { class: "mono" }, task.kwargs) : null],
          ["Worker", task.worker],
          ["Queue", task.queue || task.routing_key],
          ["Retries", task.retries],
          ["ETA", task.eta],
          ["Expires", task.expires],
          ["Sent", fmtDateTime(task.sent)],
          ["Received", fmtDateTime(task.received)],
          ["Started", fmtDateTime(task.started)],
          ["Finished", fmtDateTime(task.succeeded || task.failed || task.revoked || task.date_done)],
          ["Runtime", fmtDuration(task.runtime)],
          ["Parent", task.parent_id ? taskLink(task.parent_id) : null],
          ["Root", task.root_id && task.root_id !== task.uuid ? taskLink(task.root_id) : null],
          ["Group", task.group_id ? h("span", { class: "mono" }, task.group_id) : null],
          ["Children", children.length ? h("span", {}, children.map((id, i) => [i ? ", " : "", taskLink(id, shortId(id))])) : null],
        ]))),
        failed
          ? h("section", { class: "card", id: "task-error" }, h("header", {}, h("h2", {}, "Exception")),
            h("div", { class: "body stack" },
              task.exception ? h("pre", { class: "block error" }, task.exception) : null,
              task.traceback ? h("pre", { class: "block", id: "task-traceback" }, task.traceback) : null))
          : h("section", { class: "card", id: "task-result" }, h("header", {}, h("h2", {}, "Result")),
            h("div", { class: "body" }, task.result !== undefined && task.result !== null
              ? h("pre", { class: "block" }, task.result)
              : h("span", { class: "muted" }, READY.has(task.state) ? "No result stored." : "Not finished yet.")))),
      h("div", { class: "stack" },
        h("section", { class: "card", id: "task-timeline" }, h("header", {}, h("h2", {}, "Timeline")), h("div", { class: "body" }, timeline(task.events || []))),
        h("section", { class: "card", id: "task-graph" }, h("header", {}, h("h2", {}, "Workflow")), h("div", { class: "body" }, graphView(task.graph || { nodes: [], edges: [] }))))));
}

const POLL_MS = 3000;

export function mountTask(view, params, id) {
  let shown = null;
  let finished = false;
  async function load() {
    try {
      const task = await api(`api/tasks/${encodeURIComponent(id)}`);
      finished = READY.has(task.state);
      const signature = JSON.stringify(task);
      if (signature !== shown) { shown = signature; render(view, task, load); }
    } catch (error) {
      view.replaceChildren(h("div", { class: "page-head" }, h("a", { href: "#/tasks" }, "← Tasks")),
        h("section", { class: "card" }, h("div", { class: "empty", id: "task-missing" },
          error.status === 404 ? `No task ${id} in events or in the result backend.` : error.message)));
    }
  }
  view.replaceChildren(h("div", { class: "empty" }, "Loading…"));
  load();
  let timer = null;
  const off = on("tasks", (tasks) => {
    if (tasks.some((t) => t.uuid === id || t.parent_id === id || t.root_id === id)) {
      clearTimeout(timer);
      timer = setTimeout(load, 200);
    }
  });
  // Workers that send no events still store results: look again until the task is done.
  const poll = setInterval(() => { if (!finished) load(); }, POLL_MS);
  return () => { off(); clearTimeout(timer); clearInterval(poll); };
}
