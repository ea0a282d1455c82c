// Small SVG charts: a time-series line chart with a hover read-out, and sparklines.
import { fmtTime, h, s } from "./core.js";

const MARGIN = { top: 10, right: 12, bottom: 22, left: 52 };

/** A round upper bound and step for an axis reaching `max`, about `ticks` steps. */
export function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { max: 1, step: 0.25 };
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((c) => c >= raw);
  return { max: step * Math.ceil(max / step), step };
}

function pathOf(points, key, x, y) {
  let d = "";
  let open = false;
  for (const point of points) {
    const value = point[key];
    if (value === null || value === undefined) { open = false; continue; }
    d += `${open ? "L" : "M"}${x(point.t).toFixed(1)},${y(value).toFixed(1)}`;
    open = true;
  }
  return d;
}

/**
 * A line chart of `points` ([{t, key: value}]) for the `series` ([{key, label, color, dash}]).
 * `format` writes a y value. Call `update(points)` with new points; it redraws.
 */
export class LineChart {
  constructor(container, { series, format }) {
    this.series = series;
    this.format = format;
    this.points = [];
    this.legend = h("div", { class: "chart-legend" }, series.map((item) =>
      h("span", {}, h("i", { class: "swatch", dataset: { key: item.key } }), item.label)));
    for (const swatch of this.legend.querySelectorAll("i")) {
      swatch.style.background = series.find((item) => item.key === swatch.dataset.key).color;
    }
    this.box = h("div", { class: "chart" });
    this.tip = h("div", { class: "tip hidden" });
    container.replaceChildren(this.legend, this.box);
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.box);
  }

  destroy() { this.resize.disconnect(); }

  update(points) {
    this.points = points;
    this.draw();
  }

  draw() {
    const width = this.box.clientWidth;
    const height = this.box.clientHeight;
    if (!width || !height) return;
    const points = this.points;
    const inner = { w: width - MARGIN.left - MARGIN.right, h: height - MARGIN.top - MARGIN.bottom };
    const t0 = points.length ? points[0].t : 0;
    const t1 = points.length ? points[points.length - 1].t : 1;
    let top = 0;
    for (const point of points) for (const { key } of this.series) top = Math.max(top, point[key] || 0);
    const scale = niceScale(top);
    const x = (t) => MARGIN.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * inner.w : 0);
    const y = (v) => MARGIN.top + inner.h - (v / scale.max) * inner.h;
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
    for (let v = 0; v <= scale.max + scale.step / 2; v += scale.step) {
      svg.append(
        s("line", { class: "grid-line", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) }),
        s("text", { class: "axis", x: MARGIN.left - 6, y: y(v) + 3, "text-anchor": "end" }, v === 0 ? "0" : this.format(v)));
    }
    const span = t1 - t0;
    const every = span > 600 ? 120 : span > 240 ? 60 : 30;
    for (let ago = 0; ago <= span; ago += every) {
      const label = ago === 0 ? "now" : `-${ago >= 60 ? `${ago / 60}m` : `${ago}s`}`;
      svg.append(s("text", { class: "axis", x: x(t1 - ago), y: height - 6, "text-anchor": ago === 0 ? "end" : "middle" }, label));
    }
    for (const item of this.series) {
      points.forEach((point, i) => {
        const lonely = (j) => j < 0 || j >= points.length || points[j][item.key] === null || points[j][item.key] === undefined;
        if (point[item.key] !== null && point[item.key] !== undefined && lonely(i - 1) && lonely(i + 1)) {
          svg.append(s("circle", { cx: x(point.t), cy: y(point[item.key]), r: 2.5, fill: item.color }));
        }
      });
      const d = pathOf(points, item.key, x, y);
      if (d) {
        svg.append(s("path", {
          d, fill: "none", stroke: item.color, "stroke-width": 1.8, "stroke-linejoin": "round",
          "stroke-dasharray": item.dash || null, class: `line line-${item.key}`,
        }));
      }
    }
    const cursor = s("line", { class: "cursor hidden", y1: MARGIN.top, y2: MARGIN.top + inner.h });
    const overlay = s("rect", { x: MARGIN.left, y: MARGIN.top, width: inner.w, height: inner.h, fill: "transparent" });
    overlay.addEventListener("mousemove", (event) => this.hover(event, cursor, x));
    overlay.addEventListener("mouseleave", () => { cursor.classList.add("hidden"); this.tip.classList.add("hidden"); });
    svg.append(cursor, overlay);
    this.box.replaceChildren(svg, this.tip);
  }

  hover(event, cursor, x) {
    const points = this.points;
    if (!points.length) return;
    const bounds = this.box.getBoundingClientRect();
    const px = event.clientX - bounds.left;
    let best = points[0];
    for (const point of points) if (Math.abs(x(point.t) - px) < Math.abs(x(best.t) - px)) best = point;
    const at = x(best.t);
    cursor.setAttribute("x1", at);
    cursor.setAttribute("x2", at);
    cursor.classList.remove("hidden");
    this.tip.replaceChildren(h("div", { class: "muted" }, fmtTime(best.t)), ...this.series.map((item) =>
      h("div", {}, `${item.label}: `, h("b", {}, best[item.key] === null ? "–" : this.format(best[item.key])))));
    this.tip.classList.remove("hidden");
    this.tip.style.left = `${Math.min(at + 10, bounds.width - 150)}px`;
    this.tip.style.top = "8px";
  }
}

/** A small trend line of `values` (numbers), no axes. */
export function sparkline(values) {
  const width = 160;
  const height = 26;
  const svg = s("svg", { class: "spark", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
  if (values.length < 2) return svg;
  const top = Math.max(1, ...values);
  const step = width / (values.length - 1);
  const d = values.map((v, i) => `${i ? "L" : "M"}${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`).join("");
  svg.append(s("path", { d, class: "spark-line" }));
  return svg;
}
