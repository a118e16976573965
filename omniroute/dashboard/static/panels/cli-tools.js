// CLI tools: point Claude Code, Codex, Cursor, OpenClaw, Continue, Cline and Roo Code at this
// gateway. The listing comes with a placeholder key; the real key (created here, shown once,
// or pasted) travels only in the POST that renders or applies, and is never stored.

export default {
  async mount(root, ctx) {
    const { api, ui } = ctx;
    const { h, render } = ui;

    const state = { listing: null, toolId: "claude-code", rendered: null, renderedKey: "", result: null };
    const keyInput = h("input", { name: "key", type: "password", autocomplete: "off", spellcheck: "false", placeholder: "sk-omni-…" });
    const modelInput = h("input", { name: "model", list: "cli-tools-models", autocomplete: "off", placeholder: "e.g. a combo's name" });
    const urlInput = h("input", { name: "url", type: "url", autocomplete: "off" });
    const models = h("datalist", { id: "cli-tools-models" });
    const keyNote = h("div", { class: "cli-key-note", "aria-live": "polite" });
    const picker = h("div", { class: "cli-picker", role: "group", "aria-label": "Tool" });
    const detail = h("div", { class: "cli-detail" }, ui.loading("Loading tools…"));

    const createKeyButton = h("button", { type: "button", class: "secondary", onclick: createKey }, "Create a key for this tool");
    const form = h("form", { class: "cli-form", novalidate: true, onsubmit: (event) => { event.preventDefault(); showWithKey(event.submitter || null); } },
      h("div", { class: "form-grid" },
        ui.field("Gateway URL", urlInput, "As the tool reaches the gateway."),
        ui.field("API key", keyInput, "Paste a key, or create one. It is not stored by the dashboard."),
        ui.field("Model", modelInput, "Optional for most tools: a model or combo name.")),
      models,
      h("div", { class: "actions" },
        createKeyButton,
        h("button", { type: "submit", class: "primary" }, "Show with this key")),
      keyNote);

    render(root,
      ui.pageHeader("CLI tools", "Point your coding tools at this gateway: copy the values, or let the gateway write the tool's config file on this machine."),
      ui.card("Key and model", form),
      picker,
      detail);

    const tool = () => state.listing?.tools.find((t) => t.id === state.toolId);
    const shown = () => (state.rendered?.id === state.toolId ? state.rendered : tool());
    const body = () => {
      const data = { key: keyInput.value.trim(), url: urlInput.value.trim() };
      if (modelInput.value.trim()) data.model = modelInput.value.trim();
      return data;
    };

    async function load() {
      try {
        state.listing = await api.get("/api/cli-tools", { signal: ctx.signal });
      } catch (err) {
        if (err.name === "AbortError") return;
        render(detail, ui.failure(err, load));
        return;
      }
      if (!urlInput.value) urlInput.value = state.listing.url;
      drawPicker();
      drawDetail();
    }

    async function loadModels() {
      try {
        const [catalog, combos] = await Promise.all([
          api.get("/api/models/catalog", { signal: ctx.signal }),
          api.get("/api/combos", { signal: ctx.signal }).catch(() => []),
        ]);
        const names = [
          ...(Array.isArray(combos) ? combos : combos.combos || []).map((c) => c.name),
          ...catalog.filter((p) => p.connected).flatMap((p) => p.models.filter((m) => m.type === "chat").map((m) => m.id)),
        ];
        render(models, [...new Set(names)].slice(0, 500).map((name) => h("option", { value: name })));
      } catch {
        // Suggestions only: the field takes any name.
      }
    }

    function pick(id) {
      state.toolId = id;
      state.result = null;
      drawPicker();
      drawDetail();
      if (keyInput.value.trim()) showWithKey(null, { quiet: true });
    }

    function drawPicker() {
      render(picker, state.listing.tools.map((t) =>
        h("button", {
          type: "button", class: ["cli-pick", t.id === state.toolId ? "selected" : null],
          "aria-pressed": t.id === state.toolId ? "true" : "false", onclick: () => pick(t.id),
        }, h("strong", { text: t.name }), h("small", { text: t.kind === "file" ? "config file" : "settings" }))));
    }

    async function createKey() {
      const current = tool();
      const created = await ui.busy(createKeyButton,
        () => api.post("/api/keys", { name: `${current ? current.name : "CLI tool"} (${new Date().toISOString().slice(0, 10)})` }),
        { pending: "Creating…", done: "Key created" });
      if (!created) return;
      keyInput.value = created.key;
      render(keyNote, h("p", { class: "cli-created", role: "status" },
        `Created key “${created.name}”. It is in the API key field now and is shown only this once: apply it or copy it before you leave.`,
        " ", ui.copyButton(created.key, "Copy key")));
      await showWithKey(null, { quiet: true });
    }

    async function showWithKey(button, { quiet = false } = {}) {
      const sent = body();
      const result = await ui.busy(button, () => api.post(`/api/cli-tools/${state.toolId}/render`, sent),
        { pending: "Rendering…", done: quiet ? null : "Ready to copy", form });
      if (!result) return;
      state.rendered = result;
      state.renderedKey = sent.key;
      drawDetail();
    }

    async function applyFile(button) {
      const current = shown();
      if (!keyInput.value.trim()) {
        ui.showFieldError(form, { message: "Paste a key or create one first", param: "key" });
        keyInput.focus();
        return;
      }
      if (current.file.exists) {
        const ok = await ui.confirmAction(
          `${current.file.path} exists. It will be backed up and our part replaced; the rest is kept.`,
          { confirmLabel: "Back up and apply", danger: false });
        if (!ok) return;
      }
      // Field errors go to the field; a file that cannot be merged is reported by the button.
      const box = button.closest(".cli-apply");
      ui.clearFieldErrors(form);
      ui.clearFieldErrors(box);
      let failed = null;
      const result = await ui.busy(button, () => api.post(`/api/cli-tools/${state.toolId}/apply`, body()).catch((err) => { failed = err; throw err; }),
        { pending: "Writing…", done: "Applied" });
      if (!result) {
        if (failed) ui.showFieldError(["key", "model", "url"].includes(failed.param) ? form : box, failed);
        return;
      }
      state.result = result;
      const sent = body();
      const rendered = await api.post(`/api/cli-tools/${state.toolId}/render`, sent).catch(() => null);
      if (rendered) { state.rendered = rendered; state.renderedKey = sent.key; }
      drawDetail();
    }

    // The key is shown masked; the copy buttons copy the real text.
    function mask(text) {
      const key = state.rendered?.id === state.toolId ? state.renderedKey : "";
      return key.length > 12 ? text.split(key).join(`${key.slice(0, 10)}…`) : text;
    }

    function copyRow(label, value) {
      return h("div", { class: "cli-value" },
        h("span", { class: "cli-label", text: label }),
        h("code", { class: "cli-code", text: mask(value) }),
        ui.copyButton(value, `Copy ${label}`));
    }

    function drawDetail() {
      const t = shown();
      if (!t) return;
      const withKey = state.rendered?.id === t.id;
      const parts = [
        h("h2", { text: t.name }),
        h("p", { class: "muted", text: t.description }),
        h("ol", { class: "cli-steps" }, t.steps.map((step) => h("li", { text: step }))),
        !withKey ? h("p", { class: "cli-hint", text: "The values below show a placeholder: choose a key above and press “Show with this key”." }) : null,
        withKey && state.rendered.keyKnown === false ? h("p", { class: "cli-warn", role: "alert", text: "This key is not an active key of this gateway: the tool will be refused if keys are required." }) : null,
        h("div", { class: "cli-values" }, t.settings.map((s) => copyRow(s.label, s.value))),
      ];
      if (t.env.length) {
        const env = t.env.join("\n");
        parts.push(h("div", { class: "cli-block" },
          h("div", { class: "cli-block-head" }, h("h3", { text: "Environment" }), ui.copyButton(env, "Copy environment")),
          h("pre", { text: mask(env) })));
      }
      if (t.snippet) {
        parts.push(h("div", { class: "cli-block" },
          h("div", { class: "cli-block-head" },
            h("h3", {}, "File ", h("code", { text: t.file.path }), " ",
              t.file.exists ? ui.badge("exists", "warn") : ui.badge("not there yet", "neutral")),
            ui.copyButton(t.snippet.text, "Copy file content")),
          h("pre", { class: `lang-${t.snippet.language}`, text: mask(t.snippet.text) })));
        const applyButton = h("button", { type: "button", class: "primary", onclick: (e) => applyFile(e.currentTarget) }, `Apply to ${t.file.path}`);
        parts.push(h("div", { class: "cli-apply" }, h("div", { class: "actions" }, applyButton,
          h("span", { class: "muted", text: t.file.exists ? "The current file is backed up first." : "The file is created." }))));
        if (t.note) parts.push(h("p", { class: "muted", text: t.note }));
      } else {
        parts.push(h("p", { class: "muted", text: `${t.name} keeps these settings in its own settings screen: there is no file to write. Copy the values above.` }));
      }
      if (state.result && state.result.tool === t.id) {
        parts.push(h("div", { class: "cli-result", role: "status" },
          h("p", {}, "Wrote ", h("code", { class: "cli-path", text: state.result.path })),
          state.result.backupPath
            ? h("p", {}, "Previous file backed up to ", h("code", { class: "cli-backup", text: state.result.backupPath }))
            : h("p", { class: "muted", text: "There was no previous file, so nothing was backed up." })));
      }
      render(detail, ui.card(null, parts));
    }

    loadModels();
    await load();
  },
};
