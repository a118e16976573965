// Costs: budgets per client key with their progress (GET/POST /api/usage/budget,
// DELETE /api/usage/budget/{keyId}), and the price table with the user's overrides
// (GET/PUT /api/pricing).

import { formatUsd } from "../charts.js";

const SHOWN = 25;
const PRICE_FIELDS = [
  ["input", "Input"],
  ["output", "Output"],
  ["cachedInput", "Cached input"],
  ["cacheWrite", "Cache write"],
  ["reasoning", "Reasoning"],
];
const PERIODS = [["daily", "Daily (UTC day)"], ["weekly", "Weekly (ISO week)"], ["monthly", "Monthly"]];

export default {
  async mount(root, ctx) {
    const { api, ui } = ctx;
    const { h, render } = ui;

    const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
    const budgetsBox = h("div", {}, ui.loading());
    const budgetForm = h("form", { class: "form-grid", "aria-label": "Set a budget" });
    const pricesBox = h("div", {}, ui.loading());
    const search = h("input", { type: "search", name: "q", placeholder: "gpt-5, claude, deepseek…", autocomplete: "off" });
    const pricesNote = h("p", { class: "muted", role: "status" });

    render(root,
      ui.pageHeader("Costs", "Budgets per client key, and the prices (USD per 1M tokens) the ledger charges.", refresh),
      ui.card("Budgets", budgetsBox, h("h3", { text: "Set a budget" }), budgetForm),
      ui.card("Prices", h("div", { class: "pricing-search" }, ui.field("Search models", search)), pricesNote, pricesBox));

    let keys = [];
    let prices = [];

    // -- budgets ------------------------------------------------------------------------------

    const keySelect = h("select", { name: "keyId", required: true });
    const limitInput = h("input", { name: "limit", inputmode: "decimal", required: true, autocomplete: "off" });
    const periodSelect = h("select", { name: "period" }, PERIODS.map(([v, l]) => h("option", { value: v }, l)));
    const warnInput = h("input", { name: "warnAt", inputmode: "decimal", value: "80", autocomplete: "off" });
    const saveBudget = h("button", { type: "submit", class: "primary" }, "Save budget");
    render(budgetForm,
      ui.field("Key", keySelect),
      ui.field("Limit (USD)", limitInput),
      ui.field("Period", periodSelect),
      ui.field("Warn at (% of limit)", warnInput),
      h("div", { class: "actions" }, saveBudget));

    budgetForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const warn = warnInput.value.trim();
      const body = { keyId: keySelect.value, limit: number(limitInput.value), period: periodSelect.value };
      if (warn) body.warnAt = Number.isFinite(Number(warn)) ? Number(warn) / 100 : warn;
      const saved = await ui.busy(saveBudget, () => api.post("/api/usage/budget", body), { form: budgetForm, done: "Budget saved" });
      if (saved) await loadBudgets();
    });

    function budgetRow(b) {
      const pct = b.limit > 0 ? (b.spent / b.limit) * 100 : 100;
      const tone = pct >= 100 || b.exceeded ? "bad" : pct > 80 || b.warning ? "warn" : "";
      const bar = h("span");
      bar.style.width = `${Math.min(100, Math.max(0, pct))}%`;
      const name = b.keyName || b.keyId;
      const edit = h("button", { type: "button", class: "secondary", "aria-label": `Edit budget of ${name}` }, "Edit");
      const remove = h("button", { type: "button", class: "danger", "aria-label": `Remove budget of ${name}` }, "Remove");
      edit.addEventListener("click", () => {
        keySelect.value = b.keyId;
        limitInput.value = String(b.limit);
        periodSelect.value = b.period;
        warnInput.value = String(Math.round(b.warnAt * 1000) / 10);
        limitInput.focus();
      });
      remove.addEventListener("click", async () => {
        if (!(await ui.confirmAction(`Remove the ${b.period} budget of ${name}? Its requests will no longer be capped.`, { confirmLabel: "Remove budget" }))) return;
        const done = await ui.busy(remove, () => api.del(`/api/usage/budget/${encodeURIComponent(b.keyId)}`), { pending: "Removing…", done: "Budget removed" });
        if (done) await loadBudgets();
      });
      return h("li", { class: "budget-row", dataset: { key: b.keyId } },
        h("div", { class: "budget-head" },
          h("div", {}, h("strong", { text: name }), " ", ui.badge(b.period),
            b.exceeded ? [" ", ui.badge("exceeded", "bad")] : b.warning ? [" ", ui.badge("near limit", "warn")] : null),
          h("div", { class: "actions" }, edit, remove)),
        h("div", { class: ["progress", tone], role: "progressbar", "aria-label": `Budget of ${name}`,
          "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(pct)) }, bar),
        h("p", { class: "muted budget-figures" },
          `${formatUsd(b.spent)} of ${formatUsd(b.limit)} spent (${pct.toFixed(pct < 10 ? 1 : 0)} %), `
          + `${formatUsd(b.remaining)} left; resets ${ui.formatTime(b.resetsAt)}`));
    }

    async function loadBudgets() {
      const [data, keyList] = await Promise.all([
        api.get("/api/usage/budget", { signal: ctx.signal }),
        api.get("/api/keys", { signal: ctx.signal }),
      ]);
      keys = keyList.filter((k) => k.active !== false);
      const current = keySelect.value;
      render(keySelect, keys.length
        ? keys.map((k) => h("option", { value: k.id, selected: k.id === current }, k.name || k.id))
        : h("option", { value: "" }, "No client keys yet"));
      render(budgetsBox, data.budgets.length
        ? h("ul", { class: "budget-list" }, data.budgets.map(budgetRow))
        : h("p", { class: "empty", text: "No budgets: every key may spend without a cap." }));
    }

    // -- prices -------------------------------------------------------------------------------

    const fmt = (v) => (v === null || v === undefined ? "—" : `$${Number(v)}`);
    const sourceTone = { seed: "neutral", override: "ok", "seed+override": "ok", unknown: "warn" };
    const columns = [
      { label: "Provider", value: (p) => p.provider },
      { label: "Model", value: (p) => p.model },
      { label: "Source", value: (p) => ui.badge(p.source, sourceTone[p.source] || "neutral") },
      { label: "Input", class: "num", value: (p) => fmt(p.price?.input) },
      { label: "Output", class: "num", value: (p) => fmt(p.price?.output) },
      { label: "Cached input", class: "num", value: (p) => fmt(p.price?.cachedInput) },
      {
        label: "Actions", value: (p) => h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary", "aria-label": `Edit price of ${p.provider}/${p.model}`, onclick: () => editPrice(p) }, "Edit"),
          p.override ? h("button", { type: "button", class: "secondary", "aria-label": `Reset price of ${p.provider}/${p.model}`, onclick: (e) => resetPrice(p, e.currentTarget) }, "Reset") : null),
      },
    ];

    function renderPrices() {
      const q = search.value.trim().toLowerCase();
      const matches = prices.filter((p) => !q || `${p.provider}/${p.model}`.toLowerCase().includes(q));
      pricesNote.textContent = matches.length > SHOWN
        ? `${matches.length} models match; showing the first ${SHOWN}. Narrow the search to see others.`
        : `${matches.length} ${matches.length === 1 ? "model matches" : "models match"}.`;
      const table = ui.table(columns, matches.slice(0, SHOWN), { empty: "No model matches that search." });
      table.querySelector("table")?.classList.add("stack");
      render(pricesBox, table);
    }

    async function loadPrices() {
      prices = (await api.get("/api/pricing", { signal: ctx.signal })).prices;
      renderPrices();
    }

    async function savePrices(body) {
      prices = (await api.put("/api/pricing", body)).prices;
      renderPrices();
    }

    function editPrice(p) {
      const inputs = PRICE_FIELDS.map(([name]) => {
        const value = p.override?.[name];
        const seed = p.seed?.[name];
        return h("input", { name, inputmode: "decimal", autocomplete: "off", value: value ?? "",
          placeholder: seed === null || seed === undefined ? "not set" : String(seed) });
      });
      const save = h("button", { type: "submit", class: "primary" }, "Save price");
      const form = h("form", { class: "price-form", "aria-label": `Price of ${p.provider}/${p.model}` },
        PRICE_FIELDS.map(([, label], i) => ui.field(`${label} ($ / 1M tokens)`, inputs[i])),
        h("p", { class: "muted", text: "Empty fields keep the catalogue price shown in grey." }),
        h("div", { class: "actions" }, save));
      const { close } = ui.modal(`Price of ${p.provider}/${p.model}`, form);
      inputs[0].focus();
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const fields = {};
        PRICE_FIELDS.forEach(([name], i) => {
          const raw = inputs[i].value.trim();
          if (raw) fields[name] = number(raw);
        });
        const label = save.textContent;
        save.disabled = true;
        save.textContent = "Saving…";
        ui.clearFieldErrors(form);
        try {
          await savePrices({ [p.provider]: { [p.model]: fields } });
          ui.toast(`Price of ${p.model} saved`, "success");
          close();
        } catch (err) {
          // The API names the field as provider.model.field; the form knows it by its last part.
          const param = err.param ? String(err.param).split(".").pop() : null;
          ui.showFieldError(form, { message: err.message, param: PRICE_FIELDS.some(([n]) => n === param) ? param : null });
          ui.toast(ui.errorText(err), "error");
        } finally {
          save.disabled = false;
          save.textContent = label;
        }
      });
    }

    async function resetPrice(p, button) {
      if (!(await ui.confirmAction(`Remove your price override for ${p.provider}/${p.model}? The catalogue price applies again.`, { confirmLabel: "Reset price" }))) return;
      await ui.busy(button, () => savePrices({ [p.provider]: { [p.model]: null } }), { pending: "Resetting…", done: "Price reset" });
    }

    search.addEventListener("input", renderPrices);

    async function load() {
      try {
        await Promise.all([loadBudgets(), loadPrices()]);
      } catch (err) {
        if (err.name === "AbortError") return;
        render(budgetsBox, ui.failure(err, load));
      }
    }
    refresh.addEventListener("click", () => ui.busy(refresh, load, { pending: "Refreshing…", done: null }));
    await load();
  },
};

/** A number when the text is one; otherwise the text itself, so the API names the problem. */
function number(text) {
  const trimmed = String(text).trim();
  const value = Number(trimmed);
  return trimmed !== "" && Number.isFinite(value) ? value : trimmed;
}
