// Health: how the gateway and its providers are doing right now. Six cards from
// GET /api/monitoring/health and GET /api/resilience, refreshed every 10 s; lockouts can be
// ended one by one or all at once (both ask first). Times left count down between refreshes.

const REFRESH_MS = 10000;

export default {
  async mount(root, ctx) {
    const { api, ui } = ctx;
    const { h, render } = ui;

    const updated = h("span", { class: "muted", "data-testid": "last-updated", text: "Not loaded yet" });
    const refreshButton = h("button", { type: "button", class: "secondary", onclick: () => refresh({ manual: true }) }, "Refresh");
    const resetButton = h("button", { type: "button", class: "danger", onclick: resetAll }, "Reset all");
    const problem = h("div", { role: "status" });
    const body = h("div", {}, ui.loading("Loading health…"));
    render(root,
      ui.pageHeader("Health", "How the gateway and its providers are doing. Refreshed every 10 seconds.",
        updated, refreshButton),
      problem, body);

    // Countdowns: elements carrying the moment (performance.now() ms) they reach zero.
    const tickCountdowns = () => {
      const now = performance.now();
      root.querySelectorAll("[data-until]").forEach((el) => {
        const left = Math.max(0, (Number(el.dataset.until) - now) / 1000);
        el.textContent = left > 0 ? ui.formatSeconds(Math.ceil(left)) : "ending…";
      });
    };
    const countdown = (seconds) => {
      const el = h("span", { class: "countdown", dataset: { until: String(performance.now() + (seconds || 0) * 1000) } });
      // Whole seconds: formatSeconds would show 119.6 s as "1 min 60 s".
      el.textContent = seconds > 0 ? ui.formatSeconds(Math.ceil(seconds)) : "—";
      return el;
    };

    let loadedOnce = false;
    let inFlight = null;

    async function refresh({ manual = false } = {}) {
      if (inFlight) return inFlight;
      inFlight = (async () => {
        if (manual) { refreshButton.disabled = true; refreshButton.textContent = "Refreshing…"; }
        try {
          const [health, resilience] = await Promise.all([
            api.get("/api/monitoring/health", { signal: ctx.signal }),
            api.get("/api/resilience", { signal: ctx.signal }),
          ]);
          render(body, cards(health, resilience));
          render(problem);
          loadedOnce = true;
          updated.textContent = `Last updated ${new Date().toLocaleTimeString()}`;
        } catch (err) {
          if (err.name === "AbortError") return;
          if (!loadedOnce) render(body, ui.failure(err, () => refresh({ manual: true })));
          else render(problem, h("p", { class: "field-error", text: `Refresh failed: ${ui.errorText(err)} (showing the last good data)` }));
        } finally {
          if (manual) { refreshButton.disabled = false; refreshButton.textContent = "Refresh"; }
          inFlight = null;
        }
      })();
      return inFlight;
    }

    function cards(health, resilience) {
      return [
        h("div", { class: "cards" }, systemCard(health), cacheCard(health)),
        breakersCard(health, resilience),
        cooldownsCard(health),
        lockoutsCard(health),
        latencyCard(health),
      ];
    }

    function facts(rows) {
      // No panel style sheet: the few layout rules are set from JS (the CSP allows that).
      const list = h("dl", { class: "facts" }, rows.filter(Boolean).map(([term, value]) =>
        h("div", { class: "fact" }, h("dt", { class: "muted", text: term }), h("dd", {}, value))));
      list.style.margin = "0";
      list.querySelectorAll("dt").forEach((dt) => { dt.style.fontSize = "12px"; });
      list.querySelectorAll("dd").forEach((dd) => { dd.style.margin = "0 0 8px"; dd.style.overflowWrap = "anywhere"; });
      return list;
    }

    function bytes(n) {
      if (n === null || n === undefined) return "—";
      if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GB`;
      if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MB`;
      if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
      return `${n} B`;
    }

    function systemCard(health) {
      const requests = health.requests;
      const db = health.database;
      return ui.card("System", facts([
        ["Status", ui.badge(health.status || "unknown", health.status === "ok" ? "ok" : "bad")],
        ["Version", health.version || "—"],
        ["Uptime", ui.formatSeconds(health.uptimeSeconds)],
        ["Memory", bytes(health.memory?.rssBytes)],
        ["Database", db ? h("span", {}, h("code", { text: db.path }), ` (${bytes(db.sizeBytes)})`) : h("code", { text: health.dataDir || "—" })],
        requests ? ["Requests", `${ui.formatInt(requests.attempts)} upstream attempts, ${ui.formatInt(requests.failed)} failed, ${ui.formatInt(requests.inFlight)} in flight`] : null,
      ]));
    }

    function cacheCard(health) {
      const cache = health.cache || health.caches;
      if (!cache || (typeof cache === "object" && !Object.keys(cache).length)) {
        return ui.card("Cache", h("p", { class: "empty", text: "No response cache configured." }));
      }
      const rows = Object.entries(cache).map(([key, value]) => [key, typeof value === "object" ? JSON.stringify(value) : String(value)]);
      return ui.card("Cache", facts(rows));
    }

    function breakerBadge(state) {
      const tone = state === "open" ? "bad" : state === "half_open" || state === "half-open" ? "warn" : "ok";
      return ui.badge(String(state).replace("_", "-"), tone);
    }

    function breakersCard(health, resilience) {
      const live = new Map((resilience.breakers || []).map((b) => [b.provider, b]));
      const ids = [...new Set([...Object.keys(health.providers || {}), ...live.keys()])].sort();
      const rows = ids.map((id) => {
        const p = health.providers?.[id] || {};
        const b = live.get(id) || {};
        return { id, state: b.state || p.breaker || "closed", failures: b.failures || 0, left: b.secondsLeft ?? p.breakerSecondsLeft ?? 0, connections: p.connections, lastError: b.lastError };
      });
      return ui.card("Circuit breakers", stacked(ui.table([
        { label: "Provider", value: (r) => r.id },
        { label: "State", value: (r) => breakerBadge(r.state) },
        { label: "Failures", class: "num", value: (r) => ui.formatInt(r.failures) },
        { label: "Time left", value: (r) => (r.left > 0 ? countdown(r.left) : "—") },
        { label: "Connections", class: "num", value: (r) => ui.formatInt(r.connections) },
        { label: "Last error", value: (r) => r.lastError || "—" },
      ], rows, { empty: "No providers connected yet." })));
    }

    function cooldownsCard(health) {
      return ui.card("Rate-limit cooldowns", stacked(ui.table([
        { label: "Connection", value: (r) => r.name || r.connection },
        { label: "Provider", value: (r) => r.provider || "—" },
        { label: "Reason", value: (r) => ui.badge(readable(r.reason) || "unknown", "warn") },
        { label: "Failures", class: "num", value: (r) => ui.formatInt(r.failures) },
        { label: "Time left", value: (r) => countdown(r.secondsLeft) },
      ], health.cooling || [], { empty: "No connection is resting." })));
    }

    function lockoutsCard(health) {
      const rows = health.lockouts || [];
      const section = ui.card("Lockouts", stacked(ui.table([
        { label: "Locked", value: (r) => (r.type === "provider" ? `provider ${r.provider}` : r.name || r.id) },
        { label: "Provider", value: (r) => r.provider || "—" },
        { label: "Reason", value: (r) => readable(r.reason) || "—" },
        { label: "Time left", value: (r) => countdown(r.secondsLeft) },
        { label: "Action", value: (r) => h("button", { type: "button", class: "secondary", "aria-label": `Unlock ${label(r)}`, onclick: (event) => unlock(r, event.currentTarget) }, "Unlock") },
      ], rows, { empty: "Nothing is locked out." })));
      section.append(h("div", { class: "actions" }, resetButton));
      return section;
    }

    function latencyCard(health) {
      const rows = Object.entries(health.providers || {})
        .filter(([, p]) => p.latencyMs && p.latencyMs.samples)
        .map(([id, p]) => ({ id, ...p.latencyMs }));
      const minutes = Math.round((health.latencyWindowSeconds || 300) / 60);
      return ui.card(`Latency (last ${minutes} min)`, stacked(ui.table([
        { label: "Provider", value: (r) => r.id },
        { label: "p50", class: "num", value: (r) => ui.formatMs(r.p50) },
        { label: "p95", class: "num", value: (r) => ui.formatMs(r.p95) },
        { label: "p99", class: "num", value: (r) => ui.formatMs(r.p99) },
        { label: "Samples", class: "num", value: (r) => ui.formatInt(r.samples) },
      ], rows, { empty: `No answers in the last ${minutes} minutes.` })));
    }

    function stacked(node) {
      node.querySelector?.("table")?.classList.add("stack");
      return node;
    }

    function label(row) {
      return row.type === "provider" ? `provider ${row.provider}` : row.name || row.id;
    }

    async function unlock(row, button) {
      const ok = await ui.confirmAction(`Unlock ${label(row)} now? Requests will be sent to it again at once.`, { confirmLabel: "Unlock" });
      if (!ok) return;
      const result = await ui.busy(button, () => api.del(`/api/resilience/lockouts/${encodeURIComponent(row.id)}`),
        { pending: "Unlocking…", done: `Unlocked ${label(row)}` });
      if (result) await refresh();
    }

    async function resetAll() {
      const ok = await ui.confirmAction("Reset all resilience state? Every cooldown, circuit breaker, request window and latency sample is forgotten.", { confirmLabel: "Reset all" });
      if (!ok) return;
      const result = await ui.busy(resetButton, () => api.post("/api/resilience/reset"), { pending: "Resetting…", done: "All lockouts cleared" });
      if (result) await refresh();
    }

    ctx.every(1000, tickCountdowns);
    ctx.every(REFRESH_MS, () => refresh());
    await refresh();
  },
};

/** A reason code as words ("rate_limited" → "rate limited"); sentences stay as they are. */
function readable(reason) {
  return reason && /^[a-z_]+$/.test(reason) ? reason.replace(/_/g, " ") : reason;
}
