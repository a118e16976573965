// API keys: the keys clients send to /v1. A new or regenerated key is shown exactly once, in
// a modal; closing it drops the plain key from the page. The list shows only masks.

const PERIODS = ["daily", "weekly", "monthly"];

/** `YYYY-MM-DDTHH:MM` in local time, for a datetime-local input. */
function localInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export default {
  async mount(root, ctx) {
    const { api, ui } = ctx;
    const { h, render } = ui;
    const state = { keys: [], budgets: new Map(), combos: [], catalog: [] };
    const formSlot = h("div", {});
    const listSlot = h("div", {}, ui.loading("Loading keys…"));
    const newButton = h("button", { type: "button", class: "primary", disabled: true, onclick: () => openForm(null) }, "New key");
    render(root,
      ui.pageHeader("API keys", "Keys your clients send as Bearer tokens to /v1. A key is shown once, when it is created.", newButton),
      formSlot, listSlot);

    const soft = (promise, fallback) => promise.catch((err) => (err.name === "AbortError" ? Promise.reject(err) : fallback));

    async function refresh() {
      try {
        const opts = { signal: ctx.signal };
        const [keys, budgets, combos, catalog] = await Promise.all([
          api.get("/api/keys", opts),
          soft(api.get("/api/usage/budget", opts), { budgets: [] }),
          soft(api.get("/api/combos", opts), []),
          soft(api.get("/api/models/catalog", opts), []),
        ]);
        Object.assign(state, { keys, combos, catalog, budgets: new Map(budgets.budgets.map((b) => [b.keyId, b])) });
        renderList();
        newButton.disabled = false; // the form offers the combos and providers just loaded
      } catch (err) {
        if (err.name !== "AbortError") render(listSlot, ui.failure(err, refresh));
      }
    }

    // -- the list ---------------------------------------------------------------------------

    function budgetCell(key) {
      const b = state.budgets.get(key.id);
      if (!b) return h("span", { class: "muted", text: "none" });
      const share = b.limit > 0 ? Math.min(b.spent / b.limit, 1) : 1;
      const bar = h("span", {});
      bar.style.width = `${Math.round(share * 100)}%`;
      return h("div", { class: "key-budget" },
        h("span", { text: `${ui.formatCost(b.spent)} of ${ui.formatCost(b.limit)} ${b.period}` }),
        b.exceeded ? ui.badge("exceeded", "bad") : b.warning ? ui.badge("near limit", "warn") : null,
        h("div", { class: ["progress", b.exceeded ? "bad" : b.warning ? "warn" : null], role: "img", "aria-label": `${Math.round(share * 100)}% of the budget spent` }, bar));
    }

    function status(key) {
      if (!key.active) return ui.badge("revoked", "neutral");
      if (key.expired) return ui.badge("expired", "bad");
      return ui.badge("active", "ok");
    }

    function renderList() {
      const table = ui.table([
        { label: "Name", value: (k) => h("strong", { text: k.name }) },
        { label: "Key", value: (k) => h("code", { class: "key-mask", text: k.key }) },
        { label: "Scope", value: (k) => (k.allowedModels.length ? h("span", { class: "key-scope", text: k.allowedModels.join(", ") }) : h("span", { class: "muted", text: "every model" })) },
        { label: "Expires", value: (k) => (k.expiresAt ? ui.formatTime(k.expiresAt) : "never") },
        { label: "RPM", value: (k) => (k.rpmLimit ? ui.formatInt(k.rpmLimit) : "—"), class: "num" },
        { label: "Created", value: (k) => ui.formatTime(k.createdAt) },
        { label: "Last used", value: (k) => (k.lastUsedAt ? ui.formatTime(k.lastUsedAt) : "never") },
        { label: "Budget", value: budgetCell },
        { label: "Status", value: status },
        {
          label: "Actions",
          value: (k) => (k.active ? h("div", { class: "actions" },
            h("button", { type: "button", class: "secondary", "aria-label": `Edit ${k.name}`, onclick: () => openForm(k) }, "Edit"),
            h("button", { type: "button", class: "secondary", "aria-label": `Budget of ${k.name}`, onclick: () => openBudget(k) }, "Budget"),
            h("button", { type: "button", class: "secondary", "aria-label": `Regenerate ${k.name}`, onclick: (e) => regenerate(k, e.currentTarget) }, "Regenerate"),
            h("button", { type: "button", class: "danger", "aria-label": `Revoke ${k.name}`, onclick: (e) => revoke(k, e.currentTarget) }, "Revoke"))
            : h("span", { class: "muted", text: `revoked ${ui.formatTime(k.revokedAt)}` })),
        },
      ], state.keys, { empty: "No keys yet: clients need one to call /v1 (unless REQUIRE_API_KEY is off)." });
      table.querySelector("table")?.classList.add("stack");
      render(listSlot, ui.card(null, table));
    }

    // -- the plain key, once ----------------------------------------------------------------

    function showKeyOnce(name, plain) {
      let secret = plain;
      const code = h("code", { class: "key-plain", text: secret });
      const done = h("button", { type: "button", class: "primary" }, "I have copied it");
      const { close } = ui.modal(`Your new key: ${name}`, h("div", { class: "key-once" },
        h("p", { class: "key-warning", role: "alert" },
          h("strong", { text: "Copy it now: you will not see it again." }),
          " OmniRoute stores only a hash of it. If you lose it, regenerate the key."),
        h("div", { class: "key-plain-row" }, code, ui.copyButton(() => secret || "", "Copy key")),
        h("div", { class: "actions" }, done)), {
        onClose: () => {
          // Drop every reference to the plain key: the dialog has left the DOM already.
          code.textContent = "";
          secret = null;
          newButton.focus();
        },
      });
      done.addEventListener("click", close);
    }

    async function regenerate(key, button) {
      const ok = await ui.confirmAction(
        `Regenerate "${key.name}"? The current key stops working at once; clients need the new one.`,
        { confirmLabel: "Regenerate" });
      if (!ok) return;
      const result = await ui.busy(button, () => api.post(`/api/keys/${encodeURIComponent(key.id)}/regenerate`),
        { pending: "Regenerating…", done: `Regenerated ${key.name}` });
      if (!result) return;
      await refresh();
      showKeyOnce(result.name, result.key);
    }

    async function revoke(key, button) {
      const ok = await ui.confirmAction(
        `Revoke "${key.name}"? Clients using it are refused from now on. This cannot be undone.`,
        { confirmLabel: "Revoke" });
      if (!ok) return;
      const done = await ui.busy(button, () => api.del(`/api/keys/${encodeURIComponent(key.id)}`),
        { pending: "Revoking…", done: `Revoked ${key.name}` });
      if (done) await refresh();
    }

    // -- create / edit ----------------------------------------------------------------------

    function scopeChoices() {
      const providers = state.catalog.map((p) => `${p.prefix || p.provider}/*`);
      return [...state.combos.map((c) => c.name), ...providers];
    }

    function openForm(key) {
      const editing = Boolean(key);
      const name = h("input", { name: "name", required: true, value: key?.name || "", autocomplete: "off" });
      const scope = h("textarea", { name: "allowedModels", rows: "3", class: "key-scope-input", value: (key?.allowedModels || []).join("\n") });
      const scopePick = h("select", { "aria-label": "Add to scope" },
        h("option", { value: "" }, "Add a combo or provider…"),
        scopeChoices().map((s) => h("option", { value: s }, s)));
      scopePick.addEventListener("change", () => {
        const lines = scope.value.split("\n").map((l) => l.trim()).filter(Boolean);
        if (scopePick.value && !lines.includes(scopePick.value)) lines.push(scopePick.value);
        scope.value = lines.join("\n");
        scopePick.value = "";
      });
      const expires = h("input", { type: "datetime-local", name: "expiresAt", value: localInput(key?.expiresAt) });
      const rpm = h("input", { type: "number", name: "rpmLimit", min: "1", step: "1", value: key?.rpmLimit ? String(key.rpmLimit) : "" });
      const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create key");
      const cancel = h("button", { type: "button", class: "secondary", onclick: close }, "Cancel");
      const form = h("form", { "aria-label": editing ? `Edit key ${key.name}` : "New key", novalidate: true },
        h("h2", { text: editing ? `Edit ${key.name}` : "New key" }),
        h("div", { class: "form-grid" },
          ui.field("Name", name, "Who or what uses the key."),
          ui.field("Expires", expires, "Empty: never. Your local time."),
          ui.field("Requests per minute", rpm, "Empty: no limit.")),
        ui.field("Allowed models", scope, "One per line: a combo's name, provider/model, or a pattern like openai/*. Empty: every model."),
        scopePick,
        h("div", { class: "actions key-form-actions" }, submit, cancel));

      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = {
          name: name.value.trim(),
          allowedModels: scope.value.split("\n").map((l) => l.trim()).filter(Boolean),
          expiresAt: expires.value ? new Date(expires.value).toISOString() : null,
          rpmLimit: rpm.value ? Number(rpm.value) : null,
        };
        const result = await ui.busy(submit,
          () => (editing ? api.patch(`/api/keys/${encodeURIComponent(key.id)}`, body) : api.post("/api/keys", body)),
          { pending: editing ? "Saving…" : "Creating…", done: editing ? `Saved ${body.name}` : `Created ${body.name}`, form });
        if (!result) return;
        close();
        await refresh();
        if (!editing) showKeyOnce(result.name, result.key);
      });

      function close() {
        formSlot.replaceChildren();
        newButton.focus();
      }

      render(formSlot, ui.card(null, form));
      name.focus();
    }

    // -- budget -----------------------------------------------------------------------------

    function openBudget(key) {
      const current = state.budgets.get(key.id);
      const limit = h("input", { type: "number", name: "limit", min: "0", step: "0.01", required: true, value: current ? String(current.limit) : "" });
      const period = h("select", { name: "period" }, PERIODS.map((p) => h("option", { value: p, selected: p === (current?.period || "monthly") }, p)));
      const warnAt = h("input", { type: "number", name: "warnAt", min: "1", max: "100", step: "1", value: String(Math.round((current?.warnAt ?? 0.8) * 100)) });
      const save = h("button", { type: "submit", class: "primary" }, "Save budget");
      const removeButton = current ? h("button", { type: "button", class: "danger" }, "Remove budget") : null;
      const form = h("form", { "aria-label": `Budget of ${key.name}`, novalidate: true },
        current ? h("p", { class: "muted", text: `Spent ${ui.formatCost(current.spent)} this ${current.period.replace(/ly$/, "").replace("dai", "day")}; resets ${ui.formatTime(current.resetsAt)}.` }) : null,
        h("div", { class: "form-grid" },
          ui.field("Limit (USD)", limit, "0 blocks the key."),
          ui.field("Period", period),
          ui.field("Warn at (%)", warnAt, "Share of the limit that counts as near.")),
        h("div", { class: "actions" }, save, removeButton));
      const { close } = ui.modal(`Budget: ${key.name}`, form);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = { keyId: key.id, limit: limit.value === "" ? null : Number(limit.value), period: period.value, warnAt: Number(warnAt.value) / 100 };
        const saved = await ui.busy(save, () => api.post("/api/usage/budget", body), { pending: "Saving…", done: "Budget saved", form });
        if (saved) { close(); await refresh(); }
      });
      removeButton?.addEventListener("click", async () => {
        const ok = await ui.confirmAction(`Remove the budget of "${key.name}"? Its spending is no longer capped.`, { confirmLabel: "Remove" });
        if (!ok) return;
        const done = await ui.busy(removeButton, () => api.del(`/api/usage/budget/${encodeURIComponent(key.id)}`),
          { pending: "Removing…", done: "Budget removed" });
        if (done) { close(); await refresh(); }
      });
      limit.focus();
    }

    await refresh();
  },
};
