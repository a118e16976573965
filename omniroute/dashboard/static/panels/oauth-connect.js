// Logging in a subscription account (OAuth) through /api/oauth/{provider}/...: the
// authorization URL + pasted code, the device code, or an import of the vendor CLI's
// credential file. A reusable widget: the Providers page mounts it to add an account and, in a
// dialog, to log in again a connection that needs re-auth.

import { copyButton, busy, errorText, field, h, render, useStyles } from "../ui.js";

useStyles(new URL("./oauth-connect.css", import.meta.url).href);

// Where each vendor CLI keeps the file an import reads (by the provider's prefix).
const CREDENTIAL_FILES = {
  cc: "~/.claude/.credentials.json",
  cx: "~/.codex/auth.json",
  gc: "~/.gemini/oauth_creds.json",
};

/** The login steps a catalog entry offers: "authorize", "device-code", "import". */
export function oauthSteps(info) {
  if (!info) return [];
  if (Array.isArray(info.oauthSteps)) return info.oauthSteps;
  const kind = info.authFlow?.kind;
  return kind === "oauth-pkce" ? ["authorize"] : kind === "device-code" ? ["device-code"] : kind === "import" ? ["import"] : [];
}

/** Whether a catalog entry connects by logging in rather than with an API key. */
export const isOAuth = (info) => oauthSteps(info).length > 0;

/**
 * The login widget for `provider` (a /api/provider-catalog entry). `connection`: the
 * connection being logged in again (no name field then). `onConnected(conn)` runs when a
 * login is stored; `onDone()` is the "Done" button after it. Returns {element, destroy}.
 */
export function oauthConnect({ api, provider, connection = null, signal = null, onConnected, onDone }) {
  const steps = oauthSteps(provider);
  const base = `/api/oauth/${encodeURIComponent(provider.id)}`;
  const timers = new Set();
  let destroyed = false;
  const later = (ms, fn) => {
    const t = setTimeout(() => { timers.delete(t); if (!destroyed) fn(); }, ms);
    timers.add(t);
    return t;
  };
  const stopTimers = () => { for (const t of timers) clearTimeout(t); timers.clear(); };
  const destroy = () => { destroyed = true; stopTimers(); };
  signal?.addEventListener("abort", destroy);

  const nameInput = connection ? null : h("input", { name: "name", type: "text", autocomplete: "off", placeholder: "the account's email" });
  const name = () => nameInput?.value.trim() || undefined;
  const status = h("div", { class: "oauth-status", role: "status", "aria-live": "polite" });
  const element = h("section", { class: "oauth-connect", "aria-label": connection ? `Log in again to ${connection.name}` : `Log in to ${provider.name}` });

  async function finished(conn) {
    destroy();
    render(element,
      h("p", { class: "oauth-done", role: "status" },
        h("span", { class: "badge badge-ok", text: "Connected" }), " ",
        h("span", { text: `Connected as ${conn?.name || provider.name}` })),
      onDone ? h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => onDone(conn) }, "Done")) : null);
    element.querySelector("button")?.focus();
    await onConnected?.(conn);
  }

  const say = (text, tone = "muted") => render(status, text ? h("p", { class: tone, text }) : null);
  const sections = [];
  if (steps.includes("authorize")) sections.push(authorizeStep());
  if (steps.includes("device-code")) sections.push(deviceStep());
  if (steps.includes("import")) sections.push(importStep(sections.length > 0));
  render(element,
    h("p", { class: "muted", text: connection
      ? `The stored login of "${connection.name}" no longer works. Log in to the same ${provider.name} account again; the connection keeps its settings.`
      : `${provider.name} is a subscription: you log in to your account instead of pasting an API key. Tokens are stored encrypted and never shown.` }),
    nameInput ? h("div", { class: "form-grid" }, field("Name", nameInput, "Optional. Defaults to the account's email or login.")) : null,
    sections.length ? sections : h("p", { class: "notice", text: `No login step of ${provider.name} is installed.` }),
    status);

  // -- authorization URL, then the pasted code --------------------------------------------------

  function authorizeStep() {
    let session = null;
    const linkSlot = h("div", { class: "oauth-link" });
    const start = h("button", { type: "button", class: "primary" }, "Get login link");
    const code = h("input", { name: "code", type: "text", autocomplete: "off", spellcheck: "false", required: true, placeholder: "code#state or http://localhost:…/callback?code=…" });
    const submit = h("button", { type: "submit", class: "primary" }, "Connect");
    const form = h("form", { class: "oauth-paste", "aria-label": `Paste the ${provider.name} code`, novalidate: true, hidden: true },
      field("Authorization code", code, "After you approve, the page shows a code (code#state), or your browser lands on an address that does not load: paste either here."),
      h("div", { class: "actions" }, submit));
    start.addEventListener("click", async () => {
      // A new link starts a new login: the old link and its code no longer count.
      session = null;
      render(linkSlot);
      form.hidden = true;
      say("Asking for a login link…");
      const got = await busy(start, () => api.get(`${base}/authorize`), { pending: "Getting link…", done: null });
      if (!got) { say("Could not get a login link; see the message.", "field-error"); return; }
      session = got.session;
      const link = h("a", { href: got.url, target: "_blank", rel: "noopener noreferrer", class: "button-link" }, `Open the ${provider.name} login page ↗`);
      const shown = h("input", { name: "authorizeUrl", type: "text", readonly: true, value: got.url, class: "mono", spellcheck: "false" });
      const address = field("Login address (to open on another machine)", shown);
      address.classList.add("copy-row");
      address.append(copyButton(got.url, "Copy link"));
      render(linkSlot, h("p", {}, link), address);
      start.textContent = "Get a new link";
      form.hidden = false;
      say("Step 2 of 2: approve in the login page, then paste its code into \"Authorization code\" and press Connect.");
      link.focus();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!code.value.trim()) { code.focus(); say("Paste the code the login page showed.", "field-error"); return; }
      say("Exchanging the code…");
      const conn = await busy(submit, () => api.post(`${base}/exchange`, { session, code: code.value.trim(), name: name() }),
        { form, pending: "Connecting…", done: null });
      if (conn) { code.value = ""; await finished(conn); } else say("Not connected: see the message above the button, or get a new link.", "field-error");
    });
    return h("div", { class: "oauth-step" },
      h("h3", { text: "Log in in your browser" }),
      h("p", { class: "muted small", text: "Step 1 of 2: get a login link and approve OmniRoute there." }),
      h("div", { class: "actions" }, start),
      linkSlot,
      form);
  }

  // -- device code ------------------------------------------------------------------------------

  function deviceStep() {
    const start = h("button", { type: "button", class: "primary" }, "Get a device code");
    const slot = h("div", { class: "oauth-device" });
    let login = null; // {session, expiresAt, interval, nextAt}

    const progress = h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-label": "Time left to approve" }, h("span"));
    const countdown = h("p", { class: "muted small countdown", "aria-live": "off" });

    function tick() {
      if (!login) return;
      const now = Date.now();
      const left = Math.max(0, login.expiresAt - now);
      const fraction = login.total ? left / login.total : 0;
      progress.firstChild.style.width = `${Math.round(fraction * 100)}%`;
      progress.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
      const next = Math.max(0, Math.ceil((login.nextAt - now) / 1000));
      countdown.textContent = `Waiting for approval · checking again in ${next} s · code expires in ${Math.ceil(left / 1000)} s`;
      later(1000, tick);
    }

    function stop(message, tone = "muted") {
      login = null;
      stopTimers();
      render(slot);
      start.hidden = false;
      start.textContent = "Get a new device code";
      say(message, tone);
      start.focus();
    }

    async function poll() {
      if (!login) return;
      const current = login;
      try {
        const answer = await api.post(`${base}/poll`, { session: current.session });
        if (login !== current) return;
        if (answer?.status === "pending") {
          current.interval = Number(answer.interval) || current.interval;
          schedule();
          return;
        }
        login = null;
        await finished(answer);
      } catch (err) {
        if (login !== current) return;
        stop(`Not connected: ${errorText(err)}`, "field-error");
      }
    }

    function schedule() {
      login.nextAt = Date.now() + login.interval * 1000 + 250;
      later(login.interval * 1000 + 250, poll);
    }

    start.addEventListener("click", async () => {
      say("Asking for a device code…");
      const got = await busy(start, () => api.post(`${base}/device-code`, name() ? { name: name() } : {}), { pending: "Getting code…", done: null });
      if (!got) { say("Could not start the login; see the message.", "field-error"); return; }
      const expiresIn = Math.max(1, Number(got.expiresIn) || 900);
      login = { session: got.session, interval: Math.max(1, Number(got.interval) || 5), expiresAt: Date.now() + expiresIn * 1000, total: expiresIn * 1000, nextAt: 0 };
      const verify = got.verificationUriComplete || got.verificationUri;
      const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
      cancel.addEventListener("click", () => stop("Login cancelled. The code was not used."));
      render(slot,
        h("p", {}, "Enter this code at ", h("a", { href: verify, target: "_blank", rel: "noopener noreferrer" }, got.verificationUri), ":"),
        h("div", { class: "user-code-row" },
          h("output", { class: "user-code", "aria-label": "Your code", text: got.userCode }),
          copyButton(got.userCode, "Copy code")),
        progress, countdown,
        h("div", { class: "actions" }, cancel));
      start.hidden = true;
      say(`Step 2 of 2: open ${got.verificationUri}, enter the code and approve. This page notices by itself.`);
      schedule();
      tick();
      cancel.focus();
    });
    return h("div", { class: "oauth-step" },
      h("h3", { text: "Log in with a device code" }),
      h("p", { class: "muted small", text: "Step 1 of 2: get a code, then enter it on the provider's page (any device)." }),
      h("div", { class: "actions" }, start),
      slot);
  }

  // -- import of the CLI's credential file ------------------------------------------------------

  function importStep(secondary) {
    const file = CREDENTIAL_FILES[provider.prefix];
    const content = h("textarea", { name: "content", rows: "5", required: true, spellcheck: "false", autocomplete: "off", class: "mono" });
    const submit = h("button", { type: "submit", class: secondary ? "secondary" : "primary" }, "Import");
    const form = h("form", { class: "oauth-import", "aria-label": `Import ${provider.name} credentials`, novalidate: true },
      field("Credentials JSON", content, file ? `The content of ${file} from a machine where the CLI is logged in.` : "The content of the CLI's credentials file."),
      h("div", { class: "actions" }, submit));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!content.value.trim()) { content.focus(); say("Paste the credentials file's content first.", "field-error"); return; }
      say("Importing…");
      const conn = await busy(submit, () => api.post(`${base}/import`, { content: content.value, name: name() }),
        { form, pending: "Importing…", done: null });
      if (conn) { content.value = ""; await finished(conn); } else say("Not imported: see the message under the field.", "field-error");
    });
    const body = [h("p", { class: "muted small", text: "Already logged in with the vendor's CLI? Paste its credentials instead." }), form];
    return secondary
      ? h("details", { class: "oauth-step" }, h("summary", {}, "Or import the CLI's credentials"), body)
      : h("div", { class: "oauth-step" }, h("h3", { text: "Import the CLI's credentials" }), body);
  }

  return { element, destroy };
}
