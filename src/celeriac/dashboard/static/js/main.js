// Boot: the hash router, the header (live state, counters, go-to-id, send task).
import {
  $, api, connect, dialog, field, fmtCount, h, namesList, on, shortId, toast,
} from "./core.js";
import { mountOverview } from "./overview.js";
import { mountQueues } from "./queues.js";
import { mountTask } from "./task.js";
import { mountTasks } from "./tasks.js";
import { mountWorkers } from "./workers.js";

const ROUTES = [
  { pattern: /^\/?$/, nav: "overview", title: "Overview", mount: mountOverview },
  { pattern: /^\/workers$/, nav: "workers", title: "Workers", mount: mountWorkers },
  { pattern: /^\/tasks$/, nav: "tasks", title: "Tasks", mount: mountTasks },
  { pattern: /^\/task\/(.+)$/, nav: "tasks", title: "Task", mount: mountTask },
  { pattern: /^\/queues$/, nav: "queues", title: "Queues", mount: mountQueues },
];

let unmount = null;

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const found = ROUTES.find((r) => r.pattern.test(path)) || ROUTES[0];
  const match = path.match(found.pattern);
  if (unmount) unmount();
  const view = $("#view");
  view.replaceChildren();
  const id = match && match[1] ? decodeURIComponent(match[1]) : undefined;
  unmount = found.mount(view, params, id) || null;
  document.title = `${id ? `${shortId(id)} · ` : ""}${found.title} · celeriac`;
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.nav === found.nav);
  }
}

async function openSend() {
  const { names } = await api("api/task-names");
  const name = h("input", { name: "name", list: "send-names", required: true, placeholder: "proj.tasks.add", autocomplete: "off", spellcheck: "false" });
  const args = h("textarea", { name: "args", rows: 2, spellcheck: "false" }, "[]");
  const kwargs = h("textarea", { name: "kwargs", rows: 2, spellcheck: "false" }, "{}");
  const queue = h("input", { name: "queue", placeholder: "routed as usual" });
  const countdown = h("input", { name: "countdown", type: "number", min: "0", step: "any", placeholder: "0" });
  const parse = (text, what, kind) => {
    let value;
    try { value = JSON.parse(text || (kind === "array" ? "[]" : "{}")); } catch (error) {
      throw new Error(`${what}: ${error.message}`);
    }
    if (kind === "array" ? !Array.isArray(value) : (typeof value !== "object" || value === null || Array.isArray(value))) {
      throw new Error(`${what} must be a JSON ${kind === "array" ? "list" : "object"}`);
    }
    return value;
  };
  dialog({
    title: "Send a task",
    fields: [
      field("Task name", name), namesList("send-names", names),
      field("Args", args, "JSON list"),
      field("Kwargs", kwargs, "JSON object"),
      h("div", { class: "row" }, field("Queue", queue, "optional"), field("Countdown", countdown, "seconds")),
    ],
    submitLabel: "Send",
    submit: async () => {
      const result = await api("api/tasks/send", {
        method: "POST",
        body: {
          name: name.value,
          args: parse(args.value, "Args", "array"),
          kwargs: parse(kwargs.value, "Kwargs", "object"),
          queue: queue.value || null,
          countdown: countdown.value || null,
        },
      });
      toast(`Sent ${result.name} as ${shortId(result.task_id)}`);
      location.hash = `#/task/${result.task_id}`;
    },
  });
}

function header() {
  const indicator = $("#live");
  on("status", (connected) => {
    indicator.classList.toggle("on", connected);
    indicator.classList.toggle("off", !connected);
    indicator.textContent = connected ? "live" : "reconnecting";
  });
  on("tick", (data) => {
    $("#nav-workers").textContent = data.workers.total ? `${data.workers.online}` : "";
    $("#nav-queued").textContent = data.queued ? fmtCount(data.queued) : "";
  });
  $("#goto").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("#goto-id").value.trim();
    if (id) location.hash = `#/task/${encodeURIComponent(id)}`;
    $("#goto-id").value = "";
  });
  $("#send-open").addEventListener("click", () => openSend().catch((error) => toast(error.message, "error")));
}

header();
window.addEventListener("hashchange", route);
route();
connect();
