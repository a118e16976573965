// Providers: connections (accounts) grouped by provider, with their state, limits and rest,
// and the forms to add, test, enable/disable, edit and delete them.

import { isOAuth, oauthConnect } from "./oauth-connect.js";

const LIMIT_FIELDS = [
  ["requestsPerMinute", "Requests per minute", "rpm"],
  ["maxConcurrent", "Max concurrent", "concurrent"],
  ["minIntervalMs", "Min interval (ms)", "ms apart"],
  ["maxWaitMs", "Max wait (ms)", "ms wait"],
];

export default {
  async mount(root, ctx) {
    const { api, ui } = ctx;
    const { h, render } = ui;
    const state = {
      catalog: [], // GET /api/provider-catalog
      connections: [],
      limits: {}, // connection id → its connectionLimits override
      lockouts: new Map(), // connection id → lockout row
      tests: new Map(), // connection id → last test result (kept across re-renders)
    };
    const restCells = new Map(); // connection id → the cell showing its rest
    let login = null; // the OAuth login widget in the add form (its timers stop with it)
    ctx.onLeave(() => login?.destroy());

    const addButton = h("button", { type: "button", class: "primary", onclick: () => openAdd() }, "Add provider");
    const addCard = h("section", { class: "card provider-add", hidden: true, "aria-label": "Add a provider" });
    const list = h("div", { class: "provider-groups" }, ui.loading("Loading providers…"));
    render(root,
      ui.pageHeader("Providers", "Your accounts at AI providers. Requests try a provider's accounts in priority order (lower first).", addButton),
      addCard,
      list);

    const providerInfo = (id) => state.catalog.find((p) => p.id === id);
    const providerName = (id) => providerInfo(id)?.name || id;

    // -- loading --------------------------------------------------------------------------------

    async function load() {
      try {
        const [catalog, conns, resilience] = await Promise.all([
          api.get("/api/provider-catalog", { signal: ctx.signal }),
          api.get("/api/providers", { signal: ctx.signal }),
          api.get("/api/resilience", { signal: ctx.signal }),
        ]);
        state.catalog = catalog;
        state.connections = conns;
        state.limits = resilience.settings?.connectionLimits || {};
        setLockouts(resilience.lockouts || []);
        renderList();
      } catch (err) {
        if (err.name === "AbortError") return;
        render(list, ui.failure(err, load));
      }
    }

    function setLockouts(rows) {
      state.lockouts = new Map(rows.filter((r) => r.type === "connection").map((r) => [r.id, r]));
    }

    // Rests count down: refresh only the rest cells, so focus and open forms are untouched.
    ctx.every(5000, async () => {
      if (document.hidden || !state.connections.length) return;
      try {
        const { lockouts } = await api.get("/api/resilience/lockouts", { signal: ctx.signal });
        setLockouts(lockouts);
        for (const [id, cell] of restCells) render(cell, restView(id));
      } catch { /* the next tick tries again */ }
    });

    // -- the list -------------------------------------------------------------------------------

    function renderList() {
      restCells.clear();
      if (!state.connections.length) {
        render(list, h("section", { class: "card empty-state" },
          h("h2", {}, "No providers yet: add one"),
          h("p", { class: "muted" }, "Pick a provider (OpenAI, Anthropic, Gemini, DeepSeek, …), paste its API key, and coding tools can reach its models through this gateway."),
          h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => openAdd() }, "Add your first provider"))));
        return;
      }
      const groups = new Map();
      for (const conn of state.connections) {
        if (!groups.has(conn.provider)) groups.set(conn.provider, []);
        groups.get(conn.provider).push(conn);
      }
      render(list, [...groups].map(([providerId, conns]) => groupView(providerId, conns)));
    }

    function groupView(providerId, conns) {
      const info = providerInfo(providerId);
      const facts = info
        ? [`prefix ${info.prefix}/`, `${info.format} format`, info.billing !== "metered" ? info.billing : null, info.node ? "provider node" : null].filter(Boolean).join(" · ")
        : "not installed: its plugin is missing";
      const withQuota = conns.some((c) => c.quota?.length || c.quotaError);
      const columns = [
        { label: "Name", value: (c) => h("div", {}, h("strong", { text: c.name }), h("div", { class: "muted mono", text: c.apiKey || "" }), c.baseUrl ? h("div", { class: "muted small", text: c.baseUrl }) : null) },
        { label: "Status", value: statusView },
        { label: "Priority", class: "num", value: (c) => String(c.priority) },
        { label: "Limits", value: (c) => limitsView(c.id) },
        { label: "Rest", value: (c) => { const cell = h("div", { class: "rest" }, restView(c.id)); restCells.set(c.id, cell); return cell; } },
        withQuota ? { label: "Quota", value: quotaView } : null,
        { label: "Actions", value: actionsView },
      ].filter(Boolean);
      const table = ui.table(columns, conns, { caption: `${providerName(providerId)} connections` });
      table.querySelector("table")?.classList.add("stack");
      return h("section", { class: "card provider-group", dataset: { provider: providerId } },
        h("header", { class: "group-header" },
          h("div", {},
            h("h2", { text: providerName(providerId) }),
            h("p", { class: "muted", text: facts })),
          info?.blocked ? ui.badge("blocked in security settings", "bad") : null,
          h("button", { type: "button", class: "secondary", onclick: () => openAdd(providerId) }, `Add ${providerName(providerId)} account`)),
        table);
    }

    function statusView(conn) {
      const reauth = conn.needsReauth || conn.status === "needs_reauth";
      return h("div", { class: "status" },
        conn.isActive ? ui.badge("active", "ok") : ui.badge("disabled", "neutral"),
        reauth ? ui.badge("needs re-auth", "bad") : null);
    }

    function limitsView(id) {
      const override = state.limits[id];
      const parts = override
        ? LIMIT_FIELDS.filter(([key]) => key in override).map(([key, , unit]) =>
          override[key] === null ? `no ${unit} limit` : `${ui.formatInt(override[key])} ${unit}`)
        : [];
      return parts.length ? h("span", { text: parts.join(" · ") }) : h("span", { class: "muted", text: "defaults" });
    }

    function restView(id) {
      const lockout = state.lockouts.get(id);
      // A connection waiting for a new login is not resting: its status says what to do.
      if (!lockout || lockout.reason === "needs_reauth") return h("span", { class: "muted", text: "—" });
      const reason = String(lockout.reason || "resting").replaceAll("_", " ");
      return [
        ui.badge(`resting · ${ui.formatSeconds(Math.round(lockout.secondsLeft))}`, "warn"),
        h("div", { class: "muted small", text: reason }),
        h("button", {
          type: "button", class: "link", onclick: async (event) => {
            const ok = await ui.busy(event.currentTarget, () => api.del(`/api/resilience/lockouts/${encodeURIComponent(id)}`),
              { pending: "Ending…", done: "Rest ended: the connection is tried again" });
            if (ok) { state.lockouts.delete(id); const cell = restCells.get(id); if (cell) render(cell, restView(id)); }
          },
        }, "End rest"),
      ];
    }

    /** Quota windows of a subscription account (`quota` in /api/providers), each as a bar. */
    function quotaView(conn) {
      const windows = Array.isArray(conn.quota) ? conn.quota : [];
      if (!windows.length && !conn.quotaError) return "";
      return h("div", { class: "quota" },
        windows.map((w) => {
          const label = w.model ? `${w.name} (${w.model})` : w.name;
          const used = Math.min(100, Math.max(0, Number(w.usedPercent) || 0));
          const bar = h("div", {
            class: ["progress", used >= 95 ? "bad" : used >= 80 ? "warn" : null], role: "progressbar",
            "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(used)), "aria-label": label,
          }, h("span"));
          bar.firstChild.style.width = `${used}%`;
          return h("div", { class: "quota-window" },
            h("div", {}, h("span", { class: "label", text: label }), ` ${Math.round(used)}% used`),
            bar,
            w.resetsAt ? h("div", { class: "muted small", text: `resets ${ui.formatTime(w.resetsAt)}` }) : null);
        }),
        conn.quotaError ? h("div", { class: "muted small", text: `last check failed: ${conn.quotaError}` }) : null);
    }

    function actionsView(conn) {
      const result = h("div", { class: "test-result", role: "status", "aria-live": "polite" }, testView(state.tests.get(conn.id)));
      const testButton = h("button", {
        type: "button", class: "secondary", "aria-label": `Test ${conn.name}`, onclick: async () => {
          render(result, h("span", { class: "muted", text: "Calling the provider…" }));
          const outcome = await ui.busy(testButton,
            () => api.post(`/api/providers/${encodeURIComponent(conn.id)}/test`).catch((err) => ({ ok: false, error: ui.errorText(err) })),
            { pending: "Testing…", done: null });
          state.tests.set(conn.id, outcome);
          render(result, testView(state.tests.get(conn.id)));
        },
      }, "Test");
      const toggle = h("button", {
        type: "button", class: "secondary", "aria-label": `${conn.isActive ? "Disable" : "Enable"} ${conn.name}`, onclick: async () => {
          const updated = await ui.busy(toggle, () => api.put(`/api/providers/${encodeURIComponent(conn.id)}`, { isActive: !conn.isActive }),
            { pending: conn.isActive ? "Disabling…" : "Enabling…", done: `${conn.name} ${conn.isActive ? "disabled" : "enabled"}` });
          if (updated) await load();
        },
      }, conn.isActive ? "Disable" : "Enable");
      const remove = h("button", {
        type: "button", class: "danger", "aria-label": `Delete ${conn.name}`, onclick: async () => {
          const sure = await ui.confirmAction(`Delete the ${providerName(conn.provider)} connection "${conn.name}"? Requests stop using it and its key is removed.`, { confirmLabel: "Delete" });
          if (!sure) return;
          const done = await ui.busy(remove, async () => {
            // A limits override naming a deleted connection would make later resilience
            // changes fail validation, so it goes first.
            if (state.limits[conn.id]) await api.patch("/api/resilience", { connectionLimits: { [conn.id]: null } });
            return api.del(`/api/providers/${encodeURIComponent(conn.id)}`);
          }, { pending: "Deleting…", done: `${conn.name} deleted` });
          if (done) { state.tests.delete(conn.id); await load(); }
        },
      }, "Delete");
      const reauth = (conn.needsReauth || conn.status === "needs_reauth") && isOAuth(providerInfo(conn.provider));
      return h("div", {},
        h("div", { class: "actions" },
          reauth ? h("button", { type: "button", class: "primary", "aria-label": `Log in again to ${conn.name}`, onclick: () => openRelogin(conn) }, "Log in again") : null,
          testButton, toggle,
          h("button", { type: "button", class: "secondary", "aria-label": `Edit ${conn.name}`, onclick: () => openEdit(conn) }, "Edit"),
          remove),
        result);
    }

    function testView(outcome) {
      if (!outcome) return null;
      if (outcome.ok) {
        const models = Array.isArray(outcome.models) ? outcome.models.length : null;
        return [ui.badge("OK", "ok"), ` ${ui.formatMs(outcome.latencyMs)}`, models !== null ? h("span", { class: "muted", text: ` · ${models} models` }) : null];
      }
      return [ui.badge(outcome.status ? `Failed (${outcome.status})` : "Failed", "bad"), " ", h("span", { class: "test-error", text: outcome.error || "no answer" })];
    }

    // -- adding ---------------------------------------------------------------------------------

    function openAdd(providerId = "") {
      const installed = state.catalog.filter((p) => !p.blocked);
      const search = h("input", { type: "search", name: "providerSearch", placeholder: "Type to filter: openai, groq, ds…", autocomplete: "off" });
      const select = h("select", { name: "provider", required: true, "aria-label": "Provider" },
        h("option", { value: "" }, "Choose a provider…"),
        installed.map((p) => h("option", { value: p.id }, `${p.name} (${p.prefix})`)));
      const slot = h("div", { class: "connect-slot" });
      search.addEventListener("input", () => {
        const needle = search.value.trim().toLowerCase();
        let firstMatch = null;
        for (const option of select.options) {
          if (!option.value) continue;
          const p = providerInfo(option.value);
          const hit = !needle || [p.id, p.name, p.prefix, ...(p.aliases || [])].some((s) => s.toLowerCase().includes(needle));
          option.hidden = !hit;
          option.disabled = !hit;
          if (hit && !firstMatch) firstMatch = option;
        }
        if (needle && firstMatch && (select.selectedOptions[0]?.disabled || !select.value)) {
          select.value = firstMatch.value;
          showForm(select.value, slot);
        }
      });
      select.addEventListener("change", () => showForm(select.value, slot));
      render(addCard,
        h("header", { class: "group-header" }, h("h2", {}, "Add a provider"),
          h("button", { type: "button", class: "secondary", onclick: closeAdd }, "Cancel")),
        h("div", { class: "form-grid" },
          ui.field("Search providers", search, `${installed.length} installed; filters the list below.`),
          ui.field("Provider", select)),
        slot);
      addCard.hidden = false;
      if (providerId) { select.value = providerId; showForm(providerId, slot); }
      (providerId ? select : search).focus();
    }

    function closeAdd() {
      login?.destroy();
      addCard.hidden = true;
      render(addCard);
      addButton.focus();
    }

    async function showForm(providerId, slot) {
      login?.destroy();
      render(slot);
      const info = providerInfo(providerId);
      if (!info) return;
      // A plugin's own connect form (OAuth URL, device code, import) replaces the generic one.
      if (ctx.panels.some((p) => p.slot === `connect:${providerId}`)) {
        const host = h("div", { class: "connect-plugin" });
        render(slot, host);
        try {
          await ctx.connectForm(providerId, host, { provider: info, onConnected: connected });
        } catch (err) {
          render(slot, ui.failure(err));
        }
        return;
      }
      const flow = info.authFlow;
      if (isOAuth(info)) {
        login = oauthConnect({ api, provider: info, signal: ctx.signal,
          onConnected: async (conn) => { ui.toast(`Connected as ${conn?.name || info.name}`, "success"); await load(); },
          onDone: closeAdd });
        render(slot, login.element);
        return;
      }
      if (flow.kind !== "api-key") {
        render(slot, h("p", { class: "notice", role: "status" },
          `${info.name} connects through its "${flow.title}" flow (${flow.kind || "not installed"}), and no installed plugin adds a form for it here.`));
        return;
      }
      render(slot, genericForm(info));
    }

    function genericForm(info) {
      const flowInputs = info.authFlow.fields.map((f) => ui.field(f.label,
        h("input", { name: f.name, type: f.secret ? "password" : "text", required: f.required, autocomplete: f.secret ? "new-password" : "off", spellcheck: "false" }),
        f.secret ? "Stored encrypted; shown only masked from now on." : null));
      const submit = h("button", { type: "submit", class: "primary" }, `Add ${info.name}`);
      const form = h("form", { class: "provider-form", "aria-label": `Add ${info.name}`, novalidate: true },
        h("div", { class: "form-grid" },
          ui.field("Name", h("input", { name: "name", type: "text", placeholder: info.id, autocomplete: "off" }), "To tell accounts apart (work, spare…)."),
          flowInputs,
          ui.field("Base URL", h("input", { name: "baseUrl", type: "url", placeholder: info.baseUrl, autocomplete: "off" }), "Leave empty for the provider's own; set it for a proxy or self-hosted endpoint."),
          ui.field("Priority", h("input", { name: "priority", type: "number", min: "0", step: "1", value: "0" }), "Lower is tried first.")),
        h("div", { class: "actions" }, submit));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = { provider: info.id };
        const data = new FormData(form);
        for (const [key, value] of data) {
          const text = String(value).trim();
          if (key === "priority") { if (text !== "") body.priority = Number(text); } else if (key === "name" || key === "baseUrl") { if (text) body[key] = text; } else body[key] = String(value);
        }
        const created = await ui.busy(submit, () => api.post("/api/providers", body), { form, pending: "Adding…", done: null });
        if (created) {
          form.reset();
          await connected(created);
        }
      });
      return form;
    }

    async function connected(created) {
      ui.toast(`${created?.name || "Connection"} added${created?.apiKey ? ` (key ${created.apiKey})` : ""}`, "success");
      closeAdd();
      await load();
    }

    // A connection whose login stopped working logs in again through the same widget.
    function openRelogin(conn) {
      const info = providerInfo(conn.provider);
      let close = () => {};
      const widget = oauthConnect({ api, provider: info, connection: conn, signal: ctx.signal,
        onConnected: async (updated) => { ui.toast(`Connected as ${updated?.name || conn.name}`, "success"); await load(); },
        onDone: () => close() });
      ({ close } = ui.modal(`Log in again: ${conn.name}`, widget.element, { onClose: widget.destroy }));
      widget.element.querySelector("button, input")?.focus();
    }

    // -- editing --------------------------------------------------------------------------------

    function openEdit(conn) {
      const override = state.limits[conn.id] || {};
      const info = providerInfo(conn.provider);
      const limitInput = ([key, label]) => ui.field(label,
        h("input", { name: `connectionLimits.${conn.id}.${key}`, type: "number", min: key === "maxWaitMs" ? "0" : "1", step: "1", value: override[key] ?? "", placeholder: "inherit" }));
      const submit = h("button", { type: "submit", class: "primary" }, "Save");
      const form = h("form", { class: "provider-form", "aria-label": `Edit ${conn.name}`, novalidate: true },
        h("div", { class: "form-grid" },
          ui.field("Name", h("input", { name: "name", type: "text", value: conn.name, required: true })),
          ui.field("Priority", h("input", { name: "priority", type: "number", min: "0", step: "1", value: String(conn.priority) }), "Lower is tried first."),
          ui.field("Base URL", h("input", { name: "baseUrl", type: "url", value: conn.baseUrl || "", placeholder: info?.baseUrl || "" }), "Empty: the provider's own."),
          ui.field("Default model", h("input", { name: "defaultModel", type: "text", value: conn.defaultModel || "" })),
          ui.field("New API key", h("input", { name: "apiKey", type: "password", autocomplete: "new-password", placeholder: conn.apiKey || "" }), "Leave empty to keep the current key.")),
        h("fieldset", { class: "limits" },
          h("legend", {}, "Limits for this connection"),
          h("p", { class: "muted small" }, "Empty fields inherit the provider's or the global limits (Settings → resilience)."),
          h("div", { class: "form-grid" }, LIMIT_FIELDS.map(limitInput))),
        h("div", { class: "actions" }, submit));
      const { close } = ui.modal(`Edit ${conn.name}`, form);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const value = (name) => form.elements[name].value.trim();
        const changes = {};
        if (value("name") !== conn.name) changes.name = value("name");
        if (value("priority") !== String(conn.priority)) changes.priority = value("priority") === "" ? null : Number(value("priority"));
        if (value("baseUrl") !== (conn.baseUrl || "")) changes.baseUrl = value("baseUrl") || null;
        if (value("defaultModel") !== (conn.defaultModel || "")) changes.defaultModel = value("defaultModel") || null;
        if (form.elements.apiKey.value) changes.apiKey = form.elements.apiKey.value;
        // Empty inherits; a limit lifted elsewhere (stored null, "no limit") stays lifted.
        const limits = {};
        let limitsChanged = false;
        let limitsCleared = false;
        for (const [key] of LIMIT_FIELDS) {
          const raw = value(`connectionLimits.${conn.id}.${key}`);
          const next = raw === "" ? (override[key] === null ? null : undefined) : Number(raw);
          if (next !== override[key]) limitsChanged = true;
          if (next === undefined && key in override) limitsCleared = true;
          if (next !== undefined) limits[key] = next;
        }
        const saved = await ui.busy(submit, async () => {
          if (Object.keys(changes).length) await api.put(`/api/providers/${encodeURIComponent(conn.id)}`, changes);
          if (limitsChanged) {
            // In a merge patch null on a limit lifts it; only null on the whole override
            // removes fields (they inherit again), so clearing one replaces the override.
            const path = "/api/resilience";
            if (limitsCleared) await api.patch(path, { connectionLimits: { [conn.id]: null } });
            if (Object.keys(limits).length) await api.patch(path, { connectionLimits: { [conn.id]: limits } });
          }
          return true;
        }, { form, pending: "Saving…", done: "Saved" });
        if (saved) {
          close();
          await load();
        }
      });
      form.elements.name.focus();
    }

    await load();
  },
};
