// Combos: named, ordered sets of targets that clients use as one model. The list shows each
// target's health (its provider's breaker, its connections' rests); the editor builds the
// target list with keyboard-usable up/down buttons and a weight per target when the strategy
// weighs them.

const REFRESH_MS = 5000;

/** Strategies whose order depends on each target's weight. */
const usesWeights = (strategy) => /weight/i.test(strategy || "");

const STRATEGY_HINTS = {
  priority: "The first healthy target in the list.",
  "round-robin": "Each request starts one target further along.",
  random: "A uniformly random order per request.",
  weighted: "A random order where each target comes first in proportion to its weight.",
  "least-used": "The target whose connections were used longest ago.",
  "cost-optimized": "The cheapest target by the pricing table first.",
};

/** The label of a stored target: `prefix/model`, or the nested combo's name. */
export function targetLabel(target) {
  if (typeof target === "string") return target;
  return target.combo ?? target.model;
}

export default {
  async mount(root, ctx) {
    const { api, ui } = ctx;
    const { h, render } = ui;
    const state = {
      combos: [], strategies: ["priority"], catalog: [], connections: [],
      resilience: { breakers: [], lockouts: [] },
    };
    const editorSlot = h("div", { class: "combo-editor-slot" });
    const listSlot = h("div", {}, ui.loading("Loading combos…"));
    const newButton = h("button", { type: "button", class: "primary", disabled: true, onclick: () => openEditor(null) }, "New combo");
    render(root,
      ui.pageHeader("Combos", "Named sets of targets that clients use as one model, tried in the order the strategy picks.", newButton),
      editorSlot, listSlot);

    const soft = (promise, fallback) => promise.catch((err) => (err.name === "AbortError" ? Promise.reject(err) : fallback));

    async function load() {
      const opts = { signal: ctx.signal };
      const [combos, plugins, catalog, connections, resilience] = await Promise.all([
        api.get("/api/combos", opts),
        soft(api.get("/api/plugins", opts), []),
        soft(api.get("/api/models/catalog", opts), []),
        soft(api.get("/api/providers", opts), []),
        soft(api.get("/api/resilience", opts), { breakers: [], lockouts: [] }),
      ]);
      const strategies = plugins.flatMap((p) => p.registered?.strategy || [])
        .filter((s) => s.startsWith("combo:")).map((s) => s.slice("combo:".length));
      Object.assign(state, {
        combos, catalog, connections, resilience,
        strategies: strategies.length ? strategies : ["priority"],
      });
    }

    async function refresh() {
      try {
        await load();
        renderList();
        newButton.disabled = false; // the editor needs what was loaded (strategies, models)
      } catch (err) {
        if (err.name !== "AbortError") render(listSlot, ui.failure(err, refresh));
      }
    }

    async function refreshHealth() {
      try {
        state.resilience = await api.get("/api/resilience", { signal: ctx.signal });
        renderList();
      } catch { /* the next tick tries again; the list keeps its last known state */ }
    }

    // -- health -----------------------------------------------------------------------------

    function providerOf(model) {
      const head = model.split("/")[0].toLowerCase();
      const entry = state.catalog.find((p) => p.prefix?.toLowerCase() === head || p.provider?.toLowerCase() === head);
      return entry ? entry.provider : head;
    }

    /** A badge for one target: circuit open, resting with seconds left, or ok. */
    function health(target) {
      if (target.combo) return ui.badge("combo", "neutral");
      const provider = providerOf(target.model);
      const breaker = (state.resilience.breakers || []).find((b) => b.provider === provider && b.state !== "closed");
      if (breaker?.state === "open") return ui.badge(`circuit open · ${ui.formatSeconds(breaker.secondsLeft)}`, "bad");
      if (breaker) return ui.badge(`circuit ${breaker.state}`, "warn");
      let conns = state.connections.filter((c) => c.provider === provider && c.isActive);
      if (target.connection) conns = conns.filter((c) => c.id === target.connection);
      if (!conns.length) return ui.badge("no connection", "warn");
      const resting = (state.resilience.lockouts || [])
        .filter((l) => l.type === "connection" && conns.some((c) => c.id === l.id));
      if (!resting.length) return ui.badge("ok", "ok");
      const soonest = Math.min(...resting.map((l) => l.secondsLeft));
      const text = resting.length === conns.length
        ? `resting · ${ui.formatSeconds(soonest)} left`
        : `${resting.length} of ${conns.length} resting · ${ui.formatSeconds(soonest)} left`;
      return ui.badge(text, "warn");
    }

    // -- the list ---------------------------------------------------------------------------

    function renderList() {
      const table = ui.table([
        { label: "Name", value: (c) => h("strong", { text: c.name }) },
        { label: "Strategy", value: (c) => h("code", { text: c.strategy }) },
        {
          label: "Targets",
          value: (c) => h("ol", { class: "combo-targets", "aria-label": `Targets of ${c.name}` },
            c.models.map((t) => h("li", {},
              h("code", { text: targetLabel(t) }),
              t.connection ? h("span", { class: "muted", text: ` (connection ${t.connection})` }) : null,
              usesWeights(c.strategy) ? h("span", { class: "muted", text: ` × ${t.weight}` }) : null,
              " ", health(t)))),
        },
        {
          label: "Actions",
          value: (c) => h("div", { class: "actions" },
            h("button", { type: "button", class: "secondary", "aria-label": `Edit ${c.name}`, onclick: () => openEditor(c) }, "Edit"),
            h("button", { type: "button", class: "danger", "aria-label": `Delete ${c.name}`, onclick: (e) => remove(c, e.currentTarget) }, "Delete")),
        },
      ], state.combos, { empty: "No combos yet: create one to give clients a single model name with failover." });
      table.querySelector("table")?.classList.add("stack");
      render(listSlot, ui.card(null, table));
    }

    async function remove(combo, button) {
      const ok = await ui.confirmAction(
        `Delete the combo "${combo.name}"? Clients asking for it will get "model not found".`,
        { confirmLabel: "Delete" });
      if (!ok) return;
      const done = await ui.busy(button, () => api.del(`/api/combos/${encodeURIComponent(combo.id)}`),
        { pending: "Deleting…", done: `Deleted ${combo.name}` });
      if (done) await refresh();
    }

    // -- the editor -------------------------------------------------------------------------

    function suggestions() {
      const connected = state.catalog.filter((p) => p.connected);
      const others = state.catalog.filter((p) => !p.connected);
      const models = [...connected, ...others].flatMap((p) => (p.models || []).filter((m) => m.type === "chat" || !m.type).map((m) => m.id));
      return [...state.combos.map((c) => c.name), ...connected.map((p) => `${p.prefix}/`), ...models];
    }

    function openEditor(combo) {
      const editing = Boolean(combo);
      const targets = (combo?.models || []).map((t) => ({ ...t }));
      const name = h("input", { name: "name", required: true, value: combo?.name || "", autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,99}" });
      const strategy = h("select", { name: "strategy" },
        state.strategies.map((s) => h("option", { value: s, selected: s === (combo?.strategy || "priority") }, s)));
      if (combo && !state.strategies.includes(combo.strategy)) strategy.append(h("option", { value: combo.strategy, selected: true }, combo.strategy));
      const strategyHint = h("small", { class: "hint" });
      const list = h("ol", { class: "combo-edit-targets", "aria-label": "Targets in order" });
      const listId = `combo-suggestions-${Math.random().toString(36).slice(2)}`;
      const addInput = h("input", { name: "addTarget", list: listId, autocomplete: "off", placeholder: "provider/model or a combo name" });
      const addButton = h("button", { type: "button", class: "secondary" }, "Add target");
      const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create combo");
      const cancel = h("button", { type: "button", class: "secondary", onclick: close }, "Cancel");
      const heading = h("h2", { tabindex: "-1", text: editing ? `Edit ${combo.name}` : "New combo" });
      const form = h("form", { class: "combo-editor", "aria-label": editing ? `Edit combo ${combo.name}` : "New combo", novalidate: true },
        heading,
        h("div", { class: "form-grid" },
          ui.field("Name", name, "Letters, digits, '.', '_' or '-': the model name clients send."),
          h("label", { class: "field" }, h("span", { class: "label", text: "Strategy" }), strategy, strategyHint)),
        h("fieldset", { class: "combo-targets-field" },
          h("legend", { text: "Targets" }),
          list,
          h("div", { class: "combo-add" },
            ui.field("Add target", addInput, "Pick a model or combo from the list, or type provider/model."),
            addButton,
            h("datalist", { id: listId }, suggestions().map((s) => h("option", { value: s }))))),
        h("div", { class: "actions" }, submit, cancel));

      function showStrategy() {
        strategyHint.textContent = STRATEGY_HINTS[strategy.value] || "A strategy from a plugin.";
        drawTargets();
      }

      function drawTargets(focus) {
        const weighted = usesWeights(strategy.value);
        render(list, targets.length ? targets.map((t, i) => {
          const label = targetLabel(t);
          const weight = h("input", {
            type: "number", name: `models.${i}.weight`, min: "0.001", step: "any", value: String(t.weight ?? 1),
            "aria-label": `Weight of ${label}`, class: "combo-weight",
            oninput: (e) => { t.weight = Number(e.currentTarget.value); },
          });
          const move = (delta) => {
            const j = i + delta;
            [targets[i], targets[j]] = [targets[j], targets[i]];
            drawTargets({ index: j, direction: delta < 0 ? "up" : "down" });
          };
          const up = h("button", { type: "button", class: "secondary", "aria-label": `Move ${label} up`, disabled: i === 0, onclick: () => move(-1) }, "↑");
          const down = h("button", { type: "button", class: "secondary", "aria-label": `Move ${label} down`, disabled: i === targets.length - 1, onclick: () => move(1) }, "↓");
          const drop = h("button", {
            type: "button", class: "secondary", "aria-label": `Remove ${label}`,
            onclick: () => { targets.splice(i, 1); drawTargets(); addInput.focus(); },
          }, "Remove");
          return h("li", { dataset: { target: label } },
            h("span", { class: "combo-target-name" }, h("code", { text: label }), " ", health(t)),
            h("span", { class: "actions" },
              weighted ? h("label", { class: "combo-weight-label" }, "Weight ", weight) : null,
              up, down, drop));
        }) : h("li", { class: "empty", text: "No targets yet: add at least one." }));
        if (focus) {
          // Keep the keyboard on the moved target's button (or its other one at an end).
          const row = list.children[focus.index];
          const wanted = row?.querySelector(`button[aria-label$=" ${focus.direction}"]`);
          (wanted && !wanted.disabled ? wanted : row?.querySelector("button:not([disabled])"))?.focus();
        }
      }

      function addTarget() {
        const value = addInput.value.trim();
        if (!value) { addInput.focus(); return; }
        const isCombo = !value.includes("/");
        targets.push(isCombo ? { combo: value, weight: 1 } : { model: value, connection: null, weight: 1 });
        addInput.value = "";
        drawTargets();
        addInput.focus();
      }

      addButton.addEventListener("click", addTarget);
      addInput.addEventListener("keydown", (event) => {
        if (event.key === "Enter") { event.preventDefault(); addTarget(); }
      });
      strategy.addEventListener("change", showStrategy);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (addInput.value.trim()) addTarget();
        const body = {
          name: name.value.trim(),
          strategy: strategy.value,
          models: targets.map((t) => (t.combo
            ? { combo: t.combo, weight: t.weight || 1 }
            : { model: t.model, connection: t.connection || null, weight: t.weight || 1 })),
        };
        const path = editing ? `/api/combos/${encodeURIComponent(combo.id)}` : "/api/combos";
        const saved = await ui.busy(submit, () => (editing ? api.put(path, body) : api.post(path, body)),
          { pending: editing ? "Saving…" : "Creating…", done: editing ? `Saved ${body.name}` : `Created ${body.name}`, form });
        if (saved) {
          close();
          await refresh();
        }
      });

      function close() {
        editorSlot.replaceChildren();
        newButton.focus();
      }

      showStrategy();
      render(editorSlot, ui.card(null, form));
      name.focus();
    }

    await refresh();
    ctx.every(REFRESH_MS, refreshHealth);
  },
};
