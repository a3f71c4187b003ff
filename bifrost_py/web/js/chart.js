// Charts drawn as inline SVG by hand: no library, nothing fetched, and every bar is a focusable
// element with a text equivalent (its <title> and aria-label), plus a table behind a <details>.

import { h, svg } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 200;
const PAD = { top: 12, right: 12, bottom: 28, left: 64 };

/** A vertical bar chart of `points` [{label, value, title}]; `format` renders values. */
export function barChart(points, { format = String, label = "Chart", tickLabel = (p) => p.label } = {}) {
  const { max, ticks } = axis(Math.max(0, ...points.map((p) => p.value)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const step = points.length ? plotW / points.length : plotW;
  const barW = Math.max(1, Math.min(48, step * 0.7));
  const y = (v) => PAD.top + plotH - (max ? (v / max) * plotH : 0);

  const grid = ticks.map((value) => {
    return svg("g", {},
      svg("line", { class: "grid-line", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) }),
      svg("text", { class: "axis", x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end" }, format(value)));
  });
  const every = Math.max(1, Math.ceil(points.length / 8));
  const bars = points.map((p, i) => {
    const x = PAD.left + i * step + (step - barW) / 2;
    const text = `${p.title || p.label}: ${format(p.value)}`;
    return svg("g", {},
      svg("rect", {
        class: "bar-rect", x, y: y(p.value), width: barW, height: Math.max(0, PAD.top + plotH - y(p.value)),
        rx: 2, tabindex: p.value > 0 ? 0 : -1, role: "img", "aria-label": text,
      }, svg("title", {}, text)),
      i % every === 0 ? svg("text", { class: "axis", x: x + barW / 2, y: HEIGHT - 8, "text-anchor": "middle" }, tickLabel(p)) : null);
  });
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "group", "aria-label": label, preserveAspectRatio: "xMidYMid meet" }, grid, bars);
  return h("figure", { class: "chart" }, chart, dataTable(points, format, label));
}

function dataTable(points, format, label) {
  return h("details", {}, h("summary", {}, "Show as a table"),
    h("div", { class: "table-wrap" }, h("table", {}, h("caption", { class: "visually-hidden" }, label),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Period"), h("th", { scope: "col", class: "num" }, "Value"))),
      h("tbody", {}, points.map((p) => h("tr", {}, h("td", {}, p.title || p.label), h("td", { class: "num" }, format(p.value))))))));
}

/** Axis ticks on round values (1, 2, 2.5 or 5 x 10^n apart), about four of them, from 0 to a
 * maximum at or above `value`. */
export function axis(value) {
  if (!(value > 0)) return { max: 0, ticks: [0] };
  const rough = value / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const count = Math.ceil(value / step - 1e-9);
  return { max: step * count, ticks: Array.from({ length: count + 1 }, (_, i) => i * step) };
}

/** Horizontal bars for a ranking (spend by team, key, model): name, bar, amount. */
export function rankBars(rows, { value, format, href, label, none = "(none)" }) {
  const max = Math.max(0, ...rows.map(value));
  return h("div", { class: "hbars", role: "list", "aria-label": label }, rows.map((row) => {
    const share = max ? (value(row) / max) * 100 : 0;
    const name = row.name || none;
    const fill = h("span", { class: "fill" });
    fill.style.width = `${share.toFixed(1)}%`;
    return h("div", { role: "listitem", class: "hbar-row", "aria-label": `${name}: ${format(row)}` },
      h("span", { class: "name", title: name }, href && row.name ? h("a", { href: href(row) }, name) : name),
      h("span", { class: "track", "aria-hidden": "true" }, fill),
      h("span", { class: "amount" }, format(row)));
  }));
}
