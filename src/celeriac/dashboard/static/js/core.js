// Shared by every page: DOM building, the JSON API, the live stream, formatting, dialogs.
// All text goes into the page through textContent: nothing from the server is parsed as HTML.

export const $ = (selector, root = document) => root.querySelector(selector);

const SVG_NS = "http://www.w3.org/2000/svg";

function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: h("td", {class: "num"}, "12"). */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
/** An SVG element. */
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

/** Call the JSON API (paths are relative, so the dashboard works under a proxy prefix). */
export async function api(path, { method = "GET", body } = {}) {
  const options = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = new Error((data && data.error) || text || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

// -- the live stream ---------------------------------------------------------------------

const listeners = new Map();
export const live = { last: null, connected: false };

/** Listen to "tasks", "tick", "reset" or "status"; returns the function that stops listening. */
export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

function emit(type, data) {
  for (const fn of listeners.get(type) || []) {
    try { fn(data); } catch (error) { console.error(error); }
  }
}

/** Open the live stream; after a reconnection the pages reload ("reset"), as changes were missed. */
export function connect() {
  const source = new EventSource("api/stream");
  let dropped = false;
  source.onopen = () => {
    live.connected = true;
    emit("status", true);
    if (dropped) emit("reset", null);
    dropped = false;
  };
  source.onerror = () => {
    live.connected = false;
    dropped = true;
    emit("status", false);
  };
  source.addEventListener("tasks", (event) => {
    emit("tasks", JSON.parse(event.data).tasks);
  });
  source.addEventListener("reset", () => emit("reset", null));
  source.addEventListener("tick", (event) => {
    live.last = JSON.parse(event.data);
    emit("tick", live.last);
  });
  return source;
}

// -- formatting --------------------------------------------------------------------------

const pad = (n, width = 2) => String(n).padStart(width, "0");

export function fmtTime(ts) {
  if (ts === null || ts === undefined) return "";
  const d = new Date(ts * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function fmtDateTime(ts) {
  if (ts === null || ts === undefined) return "";
  const d = new Date(ts * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(ts)}`;
}

export function fmtAgo(ts, now = Date.now() / 1000) {
  if (!ts) return "never";
  const sec = Math.max(0, now - ts);
  if (sec < 1) return "just now";
  if (sec < 60) return `${Math.floor(sec)}s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ago`;
  return `${Math.floor(sec / 86400)}d ago`;
}

export function fmtDuration(sec) {
  if (sec === null || sec === undefined || Number.isNaN(sec)) return "";
  if (sec < 0.001) return `${(sec * 1e6).toFixed(0)} µs`;
  if (sec < 1) return `${(sec * 1000).toFixed(sec < 0.01 ? 2 : 1)} ms`;
  if (sec < 60) return `${sec.toFixed(2)} s`;
  const minutes = Math.floor(sec / 60);
  if (minutes < 60) return `${minutes}m ${Math.round(sec % 60)}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

export function fmtCount(n) {
  if (n === null || n === undefined) return "–";
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(2);
}

export const shortId = (id) => (id ? id.slice(0, 8) : "");
export const badge = (state) => h("span", { class: `badge ${state || "PENDING"}` }, state || "PENDING");
export const taskLink = (id, text) => h("a", { href: `#/task/${encodeURIComponent(id)}`, class: "mono" }, text || id);
export const READY = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
export const STATES = ["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "REJECTED"];

// -- toasts and dialogs ------------------------------------------------------------------

export function toast(message, kind = "ok") {
  const node = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 8000 : 4000);
}

/**
 * Show a form dialog. `fields` builds the inputs; `submit(form)` returns a promise; its error
 * message is shown in the dialog and the dialog stays open.
 */
export function dialog({ title, fields, submitLabel = "OK", danger = false, submit }) {
  const modal = $("#modal");
  const error = h("div", { class: "error", role: "alert" });
  const confirm = h("button", { class: `btn ${danger ? "danger" : "primary"}`, type: "submit" }, submitLabel);
  const form = h("form", { method: "dialog", novalidate: true },
    h("h3", {}, title), ...fields, error,
    h("div", { class: "actions" },
      h("button", { class: "btn", type: "button", onclick: () => modal.close() }, "Cancel"),
      confirm));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    confirm.disabled = true;
    error.textContent = "";
    try {
      await submit(form);
      modal.close();
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      confirm.disabled = false;
    }
  });
  modal.replaceChildren(form);
  modal.showModal();
  const first = form.querySelector("input, textarea, select");
  if (first) first.focus();
  return modal;
}

/** A labelled input for dialogs. */
export function field(label, input, hint) {
  return h("label", {}, h("span", {}, label, hint ? h("small", {}, ` ${hint}`) : null), input);
}

/** A <datalist> of task names, for name inputs. */
export function namesList(id, names) {
  return h("datalist", { id }, names.map((name) => h("option", { value: name })));
}
