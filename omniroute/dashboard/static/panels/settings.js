// Settings: the five sections of GET/PATCH /api/settings/{section}, each a form built from the
// values the API returns (booleans → checkboxes, numbers → number inputs, lists → one per line,
// nested objects → fieldsets, maps keyed by provider or connection → JSON). Saving sends a merge
// patch of only what changed; the API's validation message appears next to the field it names.
// The security section also changes the admin password (POST /api/auth/password).

const SECTIONS = [
  { id: "security", title: "Security", description: "Who may use the gateway and its management API." },
  { id: "routing", title: "Routing", description: "How the accounts inside one provider are chosen." },
  { id: "resilience", title: "Resilience", description: "Circuit breakers, per-connection limits and how far upstream retry hints are trusted." },
  { id: "ai", title: "AI", description: "Applied to every chat request at every front door, before routing." },
  { id: "advanced", title: "Advanced", description: "Less common switches." },
];

// What the values alone cannot say: enums, free text, nullable numbers, maps, and hints.
const FIELDS = {
  security: {
    loginRequired: { hint: "Off: /api answers without a session to the clients the API allow list admits (or this machine only)." },
    modelsRequireKey: { hint: "Off: the model lists answer without a client key." },
    blockedProviders: { hint: "Provider ids, one per line: their models vanish and requests naming them are refused." },
    ipRules: { hint: "CIDR networks or addresses, one per line. Deny wins; a non-empty allow list admits only what it matches." },
    trustedProxies: { hint: "Reverse proxies whose X-Forwarded-For is believed, one per line." },
  },
  routing: {
    accountStrategy: { type: "strategy", hint: "Empty: the ACCOUNT_STRATEGY environment setting (fill-first by default)." },
    providerStrategies: { type: "map", hint: 'Per provider: {"openai": "round-robin"}.' },
    stickyLimit: { hint: "Calls in a row round-robin sends to one account before moving on." },
  },
  resilience: {
    profile: { hint: "The default circuit breaker profile of every provider." },
    providers: { type: "map", hint: 'Per-provider profile overrides: {"openai": {"failureThreshold": 3}}.' },
    limits: { hint: "Per-connection limits the gateway keeps; empty means no limit." },
    "limits.requestsPerMinute": { type: "nullableNumber" },
    "limits.minIntervalMs": { type: "nullableNumber" },
    "limits.maxConcurrent": { type: "nullableNumber" },
    providerLimits: { type: "map", hint: 'Per-provider limit overrides: {"openai": {"maxConcurrent": 4}}.' },
    connectionLimits: { type: "map", hint: "Per-connection limit overrides, by connection id." },
    maxHintSeconds: { hint: "Upstream retry hints are capped at this many seconds." },
    quotaCooldownSeconds: { hint: "How long an account with a spent quota rests when the upstream gave no reset time." },
  },
  ai: {
    systemPrompt: { type: "longText" },
    systemPromptPosition: { type: "enum", options: ["prepend", "append"], hint: "Before or after the client's own system instructions." },
    defaultThinkingBudget: { type: "nullableNumber", hint: "Tokens, 1024–200000, for requests that say nothing about reasoning; empty for none." },
  },
  advanced: {
    useEnvironmentProxy: { hint: "Requests with no configured proxy use HTTPS_PROXY / HTTP_PROXY / ALL_PROXY." },
    proxyTestUrl: { hint: "What the proxy test fetches when given no URL." },
  },
};

const LABELS = { v1: "Front doors (/v1)", api: "Management API (/api)", ipRules: "IP rules", maxWaitMs: "Max wait (ms)", minIntervalMs: "Min interval (ms)", proxyTestUrl: "Proxy test URL" };

/** "failureThreshold" → "Failure threshold"; "cooldownSeconds" → "Cooldown (seconds)". */
export function humanize(key) {
  if (LABELS[key]) return LABELS[key];
  let words = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
  words = words.replace(/ seconds$/, " (seconds)").replace(/ ms$/, " (ms)");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** The JSON Merge Patch that turns `before` into `after` (only what changed). */
export function mergePatch(before, after) {
  const patch = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    const old = before[key];
    if (isObject(value) && isObject(old)) {
      const inner = mergePatch(old, value);
      if (Object.keys(inner).length) patch[key] = inner;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}

class FieldError extends Error {
  constructor(param, message) { super(message); this.param = param; }
}

export default {
  async mount(root, ctx) {
    const { api, ui } = ctx;
    const { h, render } = ui;
    const body = h("div", {}, ui.loading("Loading settings…"));
    render(root, ui.pageHeader("Settings", "Saved settings apply to the running gateway at once."), body);

    let strategies = null;
    const [plugins, ...values] = await Promise.allSettled([
      api.get("/api/plugins", { signal: ctx.signal }),
      ...SECTIONS.map((s) => api.get(`/api/settings/${s.id}`, { signal: ctx.signal })),
    ]);
    if (ctx.signal.aborted) return;
    if (plugins.status === "fulfilled" && Array.isArray(plugins.value)) {
      strategies = plugins.value.flatMap((p) => p.registered?.strategy || [])
        .filter((s) => s.startsWith("account:")).map((s) => s.slice("account:".length));
    }
    render(body, SECTIONS.map((section, i) => {
      const result = values[i];
      const card = result.status === "fulfilled"
        ? sectionCard(section, result.value)
        : ui.card(section.title, ui.failure(result.reason));
      return section.id === "security" ? [card, passwordCard()] : card;
    }));

    function sectionCard(section, data) {
      const fields = h("div", {});
      const status = h("span", { class: "save-status", role: "status" });
      const save = h("button", { type: "submit", class: "primary" }, `Save ${section.id === "ai" ? "AI" : section.title.toLowerCase()}`);
      let current = data;
      let readers = [];
      const draw = () => { readers = []; render(fields, build(section.id, current, [], readers)); };
      const form = h("form", {
        "aria-label": `${section.title} settings`, novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          ui.clearFieldErrors(form);
          status.textContent = "";
          let patch;
          try {
            patch = mergePatch(current, collect(current, readers));
          } catch (err) {
            showError(form, status, err);
            return;
          }
          if (!Object.keys(patch).length) { status.textContent = "No changes to save"; return; }
          save.disabled = true;
          save.setAttribute("aria-busy", "true");
          status.textContent = "Saving…";
          try {
            current = await api.patch(`/api/settings/${section.id}`, patch);
            draw();
            status.textContent = "Saved";
            ui.toast(`${section.title} settings saved`, "success");
          } catch (err) {
            showError(form, status, err);
            ui.toast(ui.errorText(err), "error");
          } finally {
            save.disabled = false;
            save.removeAttribute("aria-busy");
          }
        },
      }, fields, h("div", { class: "actions" }, save, status));
      draw();
      return h("section", { class: "card", id: `settings-${section.id}` },
        h("h2", { text: section.title }), h("p", { class: "muted", text: section.description }), form);
    }

    /** Controls for `data` at `path`; pushes {path, read} to `readers`. */
    function build(sectionId, data, path, readers) {
      const plain = [];
      const groups = [];
      for (const [key, value] of Object.entries(data)) {
        const keyPath = [...path, key];
        const name = keyPath.join(".");
        const spec = FIELDS[sectionId]?.[name] || {};
        if (spec.type === "map") {
          groups.push(mapField(name, key, value, spec, keyPath, readers));
        } else if (isObject(value)) {
          const group = h("fieldset", { class: "settings-group" },
            h("legend", { text: humanize(key) }),
            spec.hint ? h("p", { class: "muted", text: spec.hint }) : null,
            build(sectionId, value, keyPath, readers));
          // No panel style sheet: keep nested groups narrow-screen friendly from JS (CSP allows).
          Object.assign(group.style, { border: "1px solid var(--line)", borderRadius: "6px", padding: "8px 12px", margin: "0 0 12px", minWidth: "0" });
          groups.push(group);
        } else {
          (spec.type === "longText" || Array.isArray(value) ? groups : plain)
            .push(control(sectionId, name, key, value, spec, keyPath, readers));
        }
      }
      return [plain.length ? h("div", { class: "form-grid" }, plain) : null, groups];
    }

    function control(sectionId, name, key, value, spec, keyPath, readers) {
      const label = humanize(key);
      if (typeof value === "boolean") {
        const input = h("input", { type: "checkbox", name, checked: value });
        readers.push({ path: keyPath, read: () => input.checked });
        return h("label", { class: "field" },
          h("span", { class: "label" }, input, " ", label),
          spec.hint ? h("small", { class: "hint", text: spec.hint }) : null);
      }
      if (Array.isArray(value)) {
        const input = h("textarea", { name, rows: "3", value: value.join("\n") });
        input.style.minHeight = "72px";
        readers.push({ path: keyPath, read: () => input.value.split("\n").map((s) => s.trim()).filter(Boolean) });
        return ui.field(label, input, spec.hint || "One per line.");
      }
      if (spec.type === "enum") {
        const input = h("select", { name }, spec.options.map((o) => h("option", { value: o, text: o })));
        input.value = value;
        readers.push({ path: keyPath, read: () => input.value });
        return ui.field(label, input, spec.hint);
      }
      if (spec.type === "strategy" && strategies && strategies.length) {
        const options = [...new Set([...strategies, ...(value ? [value] : [])])];
        const input = h("select", { name },
          h("option", { value: "", text: "Default (environment setting)" }),
          options.map((o) => h("option", { value: o, text: o })));
        input.value = value || "";
        readers.push({ path: keyPath, read: () => input.value || null });
        return ui.field(label, input, spec.hint);
      }
      if (typeof value === "number" || spec.type === "nullableNumber") {
        const input = h("input", { type: "number", name, step: "any", inputmode: "decimal", value: value ?? "" });
        readers.push({ path: keyPath, read: () => (input.value.trim() === "" ? null : Number(input.value)) });
        return ui.field(label, input, spec.hint || (spec.type === "nullableNumber" ? "Empty: none." : null));
      }
      if (spec.type === "longText") {
        const input = h("textarea", { name, rows: "5", value: value ?? "" });
        readers.push({ path: keyPath, read: () => input.value });
        return ui.field(label, input, spec.hint);
      }
      const nullable = value === null || spec.type === "strategy";
      const input = h("input", { type: "text", name, value: value ?? "", autocomplete: "off" });
      readers.push({ path: keyPath, read: () => (nullable && input.value.trim() === "" ? null : input.value) });
      return ui.field(label, input, spec.hint);
    }

    function mapField(name, key, value, spec, keyPath, readers) {
      const input = h("textarea", { name, rows: "3", spellcheck: "false", value: Object.keys(value || {}).length ? JSON.stringify(value, null, 2) : "" });
      input.style.minHeight = "72px";
      readers.push({
        path: keyPath,
        read: () => {
          const text = input.value.trim();
          if (!text) return {};
          let parsed;
          try { parsed = JSON.parse(text); } catch { throw new FieldError(name, `'${name}': not valid JSON`); }
          if (!isObject(parsed)) throw new FieldError(name, `'${name}': must be a JSON object`);
          return parsed;
        },
      });
      return ui.field(humanize(key), input, `${spec.hint || ""} JSON; empty for none.`.trim());
    }

    /** The section as the form now says it (a deep copy of `data` with every control read). */
    function collect(data, readers) {
      const out = structuredClone(data);
      for (const { path, read } of readers) {
        let target = out;
        for (const part of path.slice(0, -1)) target = target[part];
        target[path[path.length - 1]] = read();
      }
      return out;
    }

    /** The API's message next to the field its `param` names (or the nearest enclosing one). */
    function showError(form, status, err) {
      status.textContent = "";
      const parts = (err?.param || "").split(".").filter(Boolean);
      let control = null;
      while (parts.length && !control) {
        control = form.querySelector(`[name="${CSS.escape(parts.join("."))}"]`);
        parts.pop();
      }
      const message = h("p", { class: "field-error", role: "alert", text: ui.errorText(err) });
      if (control) {
        control.setAttribute("aria-invalid", "true");
        control.closest(".field")?.append(message);
        control.focus();
      } else {
        status.replaceChildren(message);
      }
    }

    function passwordCard() {
      const current = h("input", { type: "password", name: "current", autocomplete: "current-password", required: true });
      const next = h("input", { type: "password", name: "new", autocomplete: "new-password", required: true });
      const confirm = h("input", { type: "password", name: "confirm", autocomplete: "new-password", required: true });
      const status = h("span", { class: "save-status", role: "status" });
      const button = h("button", { type: "submit", class: "primary" }, "Change password");
      const form = h("form", {
        "aria-label": "Change password", novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          ui.clearFieldErrors(form);
          status.textContent = "";
          if (next.value !== confirm.value) {
            showError(form, status, new FieldError("confirm", "the two new passwords differ"));
            return;
          }
          button.disabled = true;
          status.textContent = "Changing…";
          try {
            await api.post("/api/auth/password", { current: current.value, new: next.value });
            form.reset();
            status.textContent = "Password changed; every other session has ended.";
            ui.toast("Password changed", "success");
          } catch (err) {
            showError(form, status, err);
            ui.toast(ui.errorText(err), "error");
          } finally {
            button.disabled = false;
          }
        },
      },
      h("div", { class: "form-grid" },
        ui.field("Current password", current),
        ui.field("New password", next, "8–200 characters."),
        ui.field("Confirm password", confirm)),
      h("div", { class: "actions" }, button, status));
      return h("section", { class: "card", id: "settings-password" },
        h("h2", { text: "Admin password" }),
        h("p", { class: "muted", text: "Changing it ends every other dashboard session." }), form);
    }
  },
};
