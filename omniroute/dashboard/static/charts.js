// SVG charts built with h(): readable without hovering (axis labels with units, a legend with
// each series' total as text). No innerHTML, no inline styles: safe under the page's CSP.
//
// API:
//   timeChart({ title, x, series, yLabel, format, formatX, kind, integer, width })  → <figure class="chart">
//     x: bucket start times (Unix seconds); series: [{ name, values: number[], total? }];
//     yLabel: axis title with its unit ("Tokens", "Cost (USD)"); format(n) prints values;
//     formatX(t) prints a time label; kind: "bar" (stacked, default) or "line";
//     integer: true for counts (whole-number ticks); width: the drawing's width in CSS px
//     (pass the container's, so labels render at their real size; default 720).
//   barList({ title, items, format })  → <figure class="chart"> of horizontal bars, each
//     [{ name, value }] with its value printed next to it.
//   colour(i)  → the palette colour of the i-th series.
//   formatUsd(v)  → USD with enough digits for the tiny cost of one request ("$0.00000175").

import { formatCost, h, useStyles } from "./ui.js";

const PALETTE = ["#2456d6", "#d97706", "#059669", "#c026d3", "#dc2626", "#0891b2", "#65a30d", "#6b7280"];

/** The colour of series number `i` (the same in every chart). */
export const colour = (i) => PALETTE[i % PALETTE.length];

const H = 200;
const PAD = { left: 64, right: 12, top: 14, bottom: 34 };

// The charts' style sheet, next to this module, loaded the first time a chart is built.
function ensureStyles() {
  useStyles(new URL("./charts.css", import.meta.url).href);
}

/** A round upper bound for an axis and its tick step. */
function scale(max, integer = false) {
  if (!(max > 0)) return { top: 1, step: integer ? 1 : 0.25 };
  if (integer && max <= 5) return { top: Math.ceil(max), step: 1 };
  const exp = 10 ** Math.floor(Math.log10(max));
  const f = max / exp;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  const top = nice * exp;
  return { top, step: top / (nice === 2 ? 4 : 5) };
}

function legend(series, format) {
  return h("ul", { class: "legend" }, series.map((s, i) =>
    h("li", {},
      h("span", { class: "swatch", "aria-hidden": "true", dataset: { colour: String(i) } }),
      h("span", { class: "legend-name", text: s.name }),
      " ",
      h("strong", { class: "legend-total", text: format(s.total ?? sum(s.values)) }))));
}

const sum = (values) => values.reduce((a, b) => a + (b || 0), 0);

function paintSwatches(figure) {
  figure.querySelectorAll(".swatch[data-colour]").forEach((el) => {
    el.style.background = colour(Number(el.dataset.colour));
  });
}

/** Requests, tokens or cost per time bucket, one colour per series. */
export function timeChart({ title, x, series, yLabel, format = String, formatX = defaultTime, kind = "bar", integer = false, width = 720 }) {
  ensureStyles();
  const W = Math.max(280, Math.round(width));
  const n = x.length;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const stacks = x.map((_, i) => sum(series.map((s) => s.values[i])));
  const peak = kind === "bar" ? Math.max(0, ...stacks) : Math.max(0, ...series.flatMap((s) => s.values));
  const { top, step } = scale(peak, integer);
  const y = (v) => PAD.top + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(n, 1);
  const parts = [];
  for (let v = 0; v <= top + step / 2; v += step) {
    parts.push(h("line", { class: "grid", x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: "#e3e6eb" }));
    parts.push(h("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
  }
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor((W - PAD.left) / 80))));
  for (let i = 0; i < n; i += every) {
    parts.push(h("text", { x: PAD.left + slot * (i + 0.5), y: H - PAD.bottom + 16, "text-anchor": "middle" }, formatX(x[i])));
  }
  parts.push(h("text", { class: "axis-title", x: 12, y: PAD.top + plotH / 2, "text-anchor": "middle",
    transform: `rotate(-90 12 ${PAD.top + plotH / 2})` }, yLabel));
  parts.push(h("line", { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), stroke: "#8a93a3" }));
  if (kind === "bar") {
    const bw = Math.max(1, slot * 0.7);
    x.forEach((_, i) => {
      let base = 0;
      series.forEach((s, j) => {
        const v = s.values[i] || 0;
        if (!v) return;
        parts.push(h("rect", { x: PAD.left + slot * i + (slot - bw) / 2, y: y(base + v), width: bw,
          height: Math.max(1, y(base) - y(base + v)), fill: colour(j) },
          h("title", {}, `${s.name}, ${formatX(x[i])}: ${format(v)}`)));
        base += v;
      });
    });
  } else {
    series.forEach((s, j) => {
      const points = s.values.map((v, i) => `${PAD.left + slot * (i + 0.5)},${y(v || 0)}`).join(" ");
      parts.push(h("polyline", { points, fill: "none", stroke: colour(j), "stroke-width": 2 }));
    });
  }
  const total = sum(series.map((s) => s.total ?? sum(s.values)));
  const label = `${title}: ${format(total)} in total${series.length ? `, ${series.map((s) => `${s.name} ${format(s.total ?? sum(s.values))}`).join(", ")}` : ""}`;
  const figure = h("figure", { class: "chart" },
    h("figcaption", {}, h("span", { class: "chart-title", text: title }), " ",
      h("strong", { class: "chart-total", text: format(total) })),
    h("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, preserveAspectRatio: "xMidYMid meet" }, parts),
    series.length ? legend(series, format) : h("p", { class: "empty", text: "No requests in this range." }));
  paintSwatches(figure);
  return figure;
}

/** Horizontal bars with their values printed: totals per provider, model or key. */
export function barList({ title, items, format = String }) {
  ensureStyles();
  const max = Math.max(0, ...items.map((i) => i.value));
  const figure = h("figure", { class: "chart bar-list" },
    title ? h("figcaption", {}, h("span", { class: "chart-title", text: title })) : null,
    items.length
      ? h("ul", {}, items.map((item, i) => {
        const bar = h("span", { class: "bar", dataset: { colour: String(i) } });
        bar.style.width = `${max > 0 ? Math.max(1, (item.value / max) * 100) : 0}%`;
        bar.style.background = colour(i);
        return h("li", {}, h("span", { class: "bar-name", text: item.name }),
          h("span", { class: "bar-track" }, bar), h("strong", { class: "bar-value", text: format(item.value) }));
      }))
      : h("p", { class: "empty", text: "Nothing yet." }));
  return figure;
}

function defaultTime(t) {
  const d = new Date(t * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** USD with enough digits for the tiny costs of single requests ($0.00000175). */
export const formatUsd = formatCost;
