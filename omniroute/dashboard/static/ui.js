// Small building blocks every panel shares. Elements are built with h(), which only ever
// creates text nodes from strings: nothing a provider or a user typed becomes markup.

/**
 * Build an element. `attrs`: `class`, `text`, `dataset`, `on<event>` handlers, boolean
 * attributes (`true`/`false`), anything else as an attribute. Children: nodes, strings,
 * numbers, arrays of those; null/undefined/false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const svg = SVG_TAGS.has(tag);
  const el = svg ? document.createElementNS(SVG_NS, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    else if (name === "text") el.textContent = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "value" && "value" in el) el.value = value;
    else if (name === "checked" && "checked" in el) el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";
const SVG_TAGS = new Set(["svg", "g", "path", "rect", "line", "polyline", "circle", "text", "title", "tspan"]);

/** Replace an element's content. */
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Load a style sheet once (a shared module's own; a panel's come from its `assets`). */
export function useStyles(href) {
  const url = new URL(href, location.href).href;
  const loaded = [...document.querySelectorAll('link[rel="stylesheet"]')].some((l) => l.href === url);
  if (!loaded) document.head.append(h("link", { rel: "stylesheet", href: url }));
}

// -- feedback -------------------------------------------------------------------------------

/** A message in the corner: kind is "info", "success" or "error". */
export function toast(message, kind = "info", { timeout = kind === "error" ? 8000 : 3500 } = {}) {
  const box = document.getElementById("toasts");
  const item = h("div", { class: ["toast", `toast-${kind}`], role: kind === "error" ? "alert" : "status" },
    h("span", { text: message }),
    h("button", { class: "toast-close", type: "button", "aria-label": "Dismiss", onclick: () => item.remove() }, "×"));
  box.append(item);
  if (timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

/** The text to show for an error (the API's own message, naming the field). */
export function errorText(err) {
  if (!err) return "Something went wrong";
  return err.message || String(err);
}

/**
 * Run `action` for a button: the button shows `pending` and is disabled meanwhile, then a
 * toast says `done` (or the API's error message). Resolves to the action's result, or
 * undefined when it failed.
 */
export async function busy(button, action, { pending = "Saving…", done = "Saved", form = null } = {}) {
  const label = button ? button.textContent : "";
  if (button) {
    button.disabled = true;
    button.textContent = pending;
    button.setAttribute("aria-busy", "true");
  }
  if (form) clearFieldErrors(form);
  try {
    const result = await action();
    if (done) toast(done, "success");
    return result;
  } catch (err) {
    if (form) showFieldError(form, err);
    toast(errorText(err), "error");
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.textContent = label;
      button.removeAttribute("aria-busy");
    }
  }
}

/** Mark the field the API named (`err.param`) in `form`, with the API's message under it. */
export function showFieldError(form, err) {
  const name = err?.param;
  const field = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
  const message = h("p", { class: "field-error", role: "alert", text: errorText(err) });
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.closest("label, .field")?.append(message);
  } else {
    form.append(message);
  }
}

export function clearFieldErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
}

/** Ask before something destructive; resolves to true when the user confirms. */
export function confirmAction(message, { confirmLabel = "Confirm", danger = true } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-label": "Confirm" });
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    render(dialog,
      h("p", { text: message }),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => done(false) }, "Cancel"),
        h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => done(true) }, confirmLabel)));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector(danger ? "button.secondary" : "button.primary").focus();
  });
}

/** A modal with `content`; returns {dialog, close}. Escape closes it. */
export function modal(title, content, { onClose } = {}) {
  const dialog = h("dialog", { class: "modal", "aria-label": title });
  const close = () => { if (dialog.open) dialog.close(); dialog.remove(); onClose?.(); };
  render(dialog,
    h("header", {}, h("h2", { text: title }),
      h("button", { type: "button", class: "icon-button", "aria-label": "Close", onclick: close }, "×")),
    content);
  dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(); });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, close };
}

/** A button that copies `text` to the clipboard and says so. */
export function copyButton(text, label = "Copy") {
  return h("button", {
    type: "button", class: "secondary", onclick: async (event) => {
      const button = event.currentTarget;
      try {
        await navigator.clipboard.writeText(typeof text === "function" ? text() : text);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select and copy";
      }
      setTimeout(() => { button.textContent = label; }, 2000);
    },
  }, label);
}

// -- layout ---------------------------------------------------------------------------------

/** A panel's heading row: title, optional description and actions. */
export function pageHeader(title, description, ...actions) {
  return h("header", { class: "page-header" },
    h("div", {}, h("h1", { tabindex: "-1", text: title }), description ? h("p", { class: "muted", text: description }) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", { text: title }) : null, children);
}

let fieldIds = 0;

/**
 * A labelled form field; `input` is an element with a `name`. The hint describes the input
 * (aria-describedby) without becoming part of its name.
 */
export function field(label, input, hint) {
  if (!input.id) input.id = `field-${++fieldIds}`;
  const note = hint ? h("small", { class: "hint", id: `${input.id}-hint`, text: hint }) : null;
  if (note) input.setAttribute("aria-describedby", note.id);
  return h("div", { class: "field" },
    h("label", { class: "label", for: input.id, text: label }), input, note);
}

/**
 * A table. `columns`: [{label, value: row => node|string, class?}]. Rows are objects.
 * `empty`: the text shown when there are no rows.
 */
export function table(columns, rows, { empty = "Nothing yet.", caption } = {}) {
  if (!rows.length) return h("p", { class: "empty", text: empty });
  return h("div", { class: "table-wrap" }, h("table", {},
    caption ? h("caption", { text: caption }) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class, text: c.label })))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.class, "data-label": c.label }, c.value(row))))))));
}

/** A coloured label for a state: ok, warn, bad or neutral. */
export function badge(text, tone = "neutral") {
  return h("span", { class: ["badge", `badge-${tone}`], text });
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status", text });
}

/** A panel-level error with a retry button. */
export function failure(err, retry) {
  return h("div", { class: "panel-error", role: "alert" },
    h("p", { text: errorText(err) }),
    retry ? h("button", { type: "button", onclick: retry }, "Retry") : null);
}

// -- numbers --------------------------------------------------------------------------------

const integer = new Intl.NumberFormat("en-US");
export const formatInt = (n) => (n === null || n === undefined ? "—" : integer.format(Math.round(n)));
/** USD: cents for sums, every significant digit for one cheap request ($0.000012). */
export function formatCost(n) {
  if (n === null || n === undefined) return "—";
  const v = Number(n);
  if (v === 0) return "$0.00";
  if (Math.abs(v) >= 0.01) return `$${v.toFixed(2)}`;
  return `$${v.toFixed(8).replace(/0+$/, "")}`;
}
export const formatMs = (n) => (n === null || n === undefined ? "—" : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${Math.round(n)} ms`);
export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
export function formatTime(value) {
  if (!value) return "—";
  const date = typeof value === "number" ? new Date(value * (value < 1e12 ? 1000 : 1)) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}
