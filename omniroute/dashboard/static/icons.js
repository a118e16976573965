// The shell's icon set: a few strokes each, drawn in the current text colour. A panel whose
// icon is not a name here shows it as text (one emoji, say).

import { h } from "./ui.js";

const PATHS = {
  plug: "M9 2v6M15 2v6M6 8h12v3a6 6 0 0 1-12 0zM12 17v5",
  layers: "M12 3 2 8l10 5 10-5zM2 13l10 5 10-5M2 18l10 5 10-5",
  key: "M15 7a4 4 0 1 1-3.5 6H9v3H6v3H3v-4l7.5-6.5A4 4 0 0 1 15 7z",
  chart: "M3 3v18h18M7 15l4-4 3 3 5-6",
  coins: "M12 4c4.4 0 8 1.3 8 3s-3.6 3-8 3-8-1.3-8-3 3.6-3 8-3zM4 7v5c0 1.7 3.6 3 8 3s8-1.3 8-3V7M4 12v5c0 1.7 3.6 3 8 3s8-1.3 8-3v-5",
  heart: "M12 21s-8-5.3-8-11a4.5 4.5 0 0 1 8-2.8A4.5 4.5 0 0 1 20 10c0 5.7-8 11-8 11z",
  gear: "M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8zM12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1 7 17M17 7l2.1-2.1",
  swap: "M4 7h13l-3-3M20 17H7l3 3",
  terminal: "M4 5h16v14H4zM7 9l3 3-3 3M12 15h5",
  puzzle: "M10 3h4v3a2 2 0 1 0 4 0V3h3v7h-3a2 2 0 1 0 0 4h3v7h-7v-3a2 2 0 1 0-4 0v3H3v-7h3a2 2 0 1 0 0-4H3V3z",
};

export function icon(name) {
  const d = PATHS[name];
  if (!d) return h("span", { class: "icon", "aria-hidden": "true", text: name || "" });
  return h("svg", { class: "icon", viewBox: "0 0 24 24", "aria-hidden": "true", fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round" },
    h("path", { d }));
}
