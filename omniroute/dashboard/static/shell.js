// The dashboard shell: login, the navigation built from registered panels, and one panel at a
// time in the main area. A panel that fails to load shows its error in place; the others work.

import { api, LOGGED_OUT } from "./api.js";
import * as ui from "./ui.js";
import { icon } from "./icons.js";

const { h, render } = ui;
const app = document.getElementById("app");

const state = {
  session: null, // {authenticated, admitted, user, loginRequired}
  panels: [],
  current: null, // {id, cleanup, controller}
};

async function start() {
  window.addEventListener(LOGGED_OUT, () => showLogin("Your session ended: log in again."));
  window.addEventListener("hashchange", () => route());
  try {
    state.session = await api.get("/api/auth/status");
  } catch (err) {
    render(app, ui.failure(err, start));
    return;
  }
  if (!state.session.admitted) showLogin();
  else await showDashboard();
}

// -- login ------------------------------------------------------------------------------------

function showLogin(notice) {
  unmountCurrent();
  document.title = "Log in · OmniRoute";
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, autofocus: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h("form", { class: "login-form", "aria-label": "Log in" },
    h("h1", {}, "OmniRoute"),
    notice ? h("p", { class: "notice", text: notice }) : null,
    ui.field("Password", password, "The dashboard password: INITIAL_PASSWORD, or the one printed when the gateway first started."),
    submit,
    h("p", { class: "muted api-hint" }, "Coding tools connect to ",
      h("code", { text: `${location.origin}/v1` }), " (OpenAI, Anthropic, Responses) and ",
      h("code", { text: `${location.origin}/v1beta` }), " (Gemini)."));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ok = await ui.busy(submit, () => api.post("/api/auth/login", { password: password.value }),
      { pending: "Logging in…", done: null, form });
    if (ok) {
      state.session = await api.get("/api/auth/status");
      await showDashboard();
    } else {
      password.select();
    }
  });
  render(app, h("main", { class: "login" }, form));
  password.focus();
}

async function logout() {
  try {
    await api.post("/api/auth/logout");
  } finally {
    state.session = { authenticated: false, admitted: false };
    showLogin("You are logged out.");
  }
}

// -- the dashboard ----------------------------------------------------------------------------

async function showDashboard() {
  try {
    state.panels = await api.get("/api/dashboard/panels");
  } catch (err) {
    render(app, ui.failure(err, showDashboard));
    return;
  }
  const pages = state.panels.filter((p) => p.slot === "page");
  const who = state.session.authenticated
    ? `Signed in as ${state.session.user || "admin"}`
    : "No login required from this address";
  const menu = h("button", { type: "button", class: "menu-toggle", "aria-expanded": "false", "aria-controls": "nav" }, "Menu");
  const nav = h("nav", { id: "nav", class: "nav", "aria-label": "Dashboard" },
    h("ul", {}, pages.map((p) =>
      h("li", {}, h("a", { href: `#/${p.id}`, dataset: { panel: p.id } }, icon(p.icon), h("span", { text: p.title }))))));
  menu.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    menu.setAttribute("aria-expanded", String(open));
  });
  nav.addEventListener("click", (event) => {
    if (event.target.closest("a")) {
      nav.classList.remove("open");
      menu.setAttribute("aria-expanded", "false");
    }
  });
  render(app,
    h("a", { class: "skip-link", href: "#main" }, "Skip to content"),
    h("header", { class: "topbar" },
      menu,
      h("a", { class: "brand", href: "#/" }, "OmniRoute"),
      h("span", { class: "who", text: who }),
      state.session.authenticated ? h("button", { type: "button", class: "secondary", onclick: logout }, "Log out") : null),
    h("div", { class: "layout" }, nav, h("main", { id: "main", class: "main", tabindex: "-1" })));
  await route();
}

function currentId() {
  const id = decodeURIComponent(location.hash.replace(/^#\/?/, "").split("/")[0] || "");
  const pages = state.panels.filter((p) => p.slot === "page");
  return pages.some((p) => p.id === id) ? id : pages[0]?.id;
}

async function route() {
  const main = document.getElementById("main");
  if (!main) return;
  const id = currentId();
  if (state.current?.id === id) return;
  unmountCurrent();
  document.querySelectorAll("nav a[data-panel]").forEach((a) => {
    if (a.dataset.panel === id) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  const panel = state.panels.find((p) => p.id === id);
  if (!panel) {
    render(main, ui.pageHeader("No panels", "No plugin registers a dashboard page."));
    return;
  }
  document.title = `${panel.title} · OmniRoute`;
  const current = { id, cleanup: [], controller: new AbortController() };
  state.current = current;
  const root = h("div", { class: "panel", dataset: { panel: id } });
  render(main, root);
  render(root, ui.loading(`Loading ${panel.title}…`));
  try {
    const module = await loadPanel(panel);
    if (state.current !== current) return; // the user moved on meanwhile
    root.replaceChildren();
    const cleanup = await module.mount(root, context(panel, current));
    if (typeof cleanup === "function") current.cleanup.push(cleanup);
    root.querySelector("h1")?.focus({ preventScroll: true });
  } catch (err) {
    if (state.current !== current) return;
    console.error(`panel ${panel.id}`, err);
    render(root, panelFailed(panel, err));
  }
}

/** Import a panel's module (and its styles) and return what it exports as default. */
export async function loadPanel(panel) {
  for (const href of panel.styles) ui.useStyles(href);
  const module = await import(panel.module);
  const entry = module.default;
  if (!entry || typeof entry.mount !== "function") {
    throw new Error(`${panel.module} has no default export with mount(root, ctx)`);
  }
  return entry;
}

function panelFailed(panel, err) {
  return h("div", { class: "panel-error", role: "alert" },
    h("h1", { tabindex: "-1" }, `${panel.title} could not be loaded`),
    h("p", { text: ui.errorText(err) }),
    h("p", { class: "muted", text: `Module ${panel.module} from plugin ${panel.plugin || "unknown"}.` }),
    panel.apiRoutes.length ? h("p", { class: "muted", text: `It uses: ${panel.apiRoutes.join(", ")}.` }) : null,
    h("button", { type: "button", onclick: () => { state.current = null; route(); } }, "Retry"));
}

/** What a panel's mount() receives. */
function context(panel, current) {
  return {
    api,
    ui,
    panel,
    panels: state.panels,
    session: state.session,
    /** Aborted when the user leaves the panel: pass to fetches and event sources. */
    signal: current.controller.signal,
    /** Run `fn` when the user leaves the panel (timers, event sources). */
    onLeave: (fn) => current.cleanup.push(fn),
    /** setInterval that stops when the user leaves the panel. */
    every: (ms, fn) => {
      const timer = setInterval(fn, ms);
      current.cleanup.push(() => clearInterval(timer));
      return timer;
    },
    navigate: (id) => { location.hash = `#/${id}`; },
    /** Mount a "connect:<provider>" panel into `root`, if a plugin registered one. */
    connectForm: async (providerId, root, extra = {}) => {
      const form = state.panels.find((p) => p.slot === `connect:${providerId}`);
      if (!form) return false;
      const module = await loadPanel(form);
      const cleanup = await module.mount(root, { ...context(form, current), ...extra });
      if (typeof cleanup === "function") current.cleanup.push(cleanup);
      return true;
    },
  };
}

function unmountCurrent() {
  const current = state.current;
  state.current = null;
  if (!current) return;
  current.controller.abort();
  for (const fn of current.cleanup.splice(0)) {
    try { fn(); } catch (err) { console.error(err); }
  }
}

start();
