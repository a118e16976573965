// Usage: requests, tokens and cost over time (GET /api/usage/series), per provider, model or
// key; recent requests from the ledger (GET /api/usage/history) with filters; CSV export of
// exactly what the filters select (GET /api/usage/export).

import { formatUsd as cost, timeChart } from "../charts.js";

const RANGES = {
  "1h": { label: "Last hour", span: 3600, bucket: 60 },
  "24h": { label: "Last 24 hours", span: 86400, bucket: 3600 },
  "7d": { label: "Last 7 days", span: 7 * 86400, bucket: 6 * 3600 },
  "30d": { label: "Last 30 days", span: 30 * 86400, bucket: 86400 },
};
const GROUPS = { provider: "Provider", model: "Model", key: "Key" };
const PAGE = 50;

export default {
  async mount(root, ctx) {
    const { api, ui } = ctx;
    const { h, render } = ui;

    const state = { range: "24h", by: "provider", provider: "", model: "", keyId: "", status: "", from: 0, cursor: null, keyNames: {} };

    // aria-label: a select's name would otherwise include its options' text.
    const select = (name, options, value, label) => h("select", { name, "aria-label": label }, options.map(([v, text]) =>
      h("option", { value: v, selected: v === value }, text)));
    const rangeSelect = select("range", Object.entries(RANGES).map(([k, r]) => [k, r.label]), state.range, "Range");
    const bySelect = select("by", Object.entries(GROUPS), state.by, "Group charts by");
    const providerSelect = select("provider", [["", "All providers"]], "", "Provider");
    const modelSelect = select("model", [["", "All models"]], "", "Model");
    const keySelect = select("keyId", [["", "All keys"]], "", "Key");
    const statusSelect = select("status", [["", "Any status"], ["ok", "Succeeded (< 400)"], ["error", "Failed (≥ 400)"]], "", "Status");

    const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
    const exportLink = h("a", { class: "button-link", download: "", href: "#" }, "Export CSV");
    const form = h("form", { class: "form-grid usage-filters", "aria-label": "Usage filters" },
      ui.field("Range", rangeSelect), ui.field("Group charts by", bySelect),
      ui.field("Provider", providerSelect), ui.field("Model", modelSelect),
      ui.field("Key", keySelect), ui.field("Status", statusSelect));
    const summary = h("p", { class: "usage-summary", role: "status" });
    const charts = h("div", { class: "usage-charts" }, ui.loading());
    const tableBox = h("div", {}, ui.loading());
    const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
    const tableNote = h("p", { class: "muted" });

    render(root,
      ui.pageHeader("Usage", "Requests, tokens and cost through the gateway, from the ledger.", refresh, exportLink),
      ui.card(null, form, summary),
      charts,
      ui.card("Recent requests", tableNote, tableBox, h("div", { class: "actions" }, more)));

    const filters = () => {
      const params = new URLSearchParams();
      for (const name of ["provider", "model", "keyId", "status"]) if (state[name]) params.set(name, state[name]);
      params.set("from", String(state.from));
      return params;
    };

    const keyLabel = (id) => (id ? state.keyNames[id] || id : "No key");

    function setOptions(selectEl, first, values, current) {
      const options = [["", first], ...values];
      if (current && !values.some(([v]) => v === current)) options.push([current, current]);
      render(selectEl, options.map(([v, label]) => h("option", { value: v, selected: v === current }, label)));
    }

    async function loadOptions() {
      const params = new URLSearchParams({ from: String(state.from) });
      const [providers, models, keys] = await Promise.all(["provider", "model", "key"].map((by) =>
        api.get(`/api/usage/breakdown?by=${by}&${params}`, { signal: ctx.signal })));
      for (const g of keys.groups) if (g.name) state.keyNames[g.name] = g.keyName || g.name;
      setOptions(providerSelect, "All providers", providers.groups.filter((g) => g.name).map((g) => [g.name, g.name]), state.provider);
      const modelIds = [...new Set(models.groups.map((g) => String(g.name || "").split("/").slice(1).join("/")).filter(Boolean))];
      setOptions(modelSelect, "All models", modelIds.map((m) => [m, m]), state.model);
      setOptions(keySelect, "All keys", keys.groups.filter((g) => g.name).map((g) => [g.name, keyLabel(g.name)]), state.keyId);
    }

    async function loadCharts() {
      const range = RANGES[state.range];
      const params = filters();
      params.set("bucket", String(range.bucket));
      params.set("by", state.by);
      const data = await api.get(`/api/usage/series?${params}`, { signal: ctx.signal });
      const t = data.totals;
      summary.textContent = `${range.label}: ${ui.formatInt(t.requests)} ${t.requests === 1 ? "request" : "requests"}, `
        + `${ui.formatInt(t.tokens)} tokens, ${cost(t.costUsd)}`;
      lastSeries = data;
      drawCharts();
    }

    let lastSeries = null;
    let drawnWidth = 0;
    function drawCharts() {
      const data = lastSeries;
      if (!data) return;
      const named = data.series.map((s) => ({
        ...s, name: state.by === "key" ? (s.name === "(other)" ? s.name : keyLabel(s.name)) : s.name || "(none)",
      }));
      const formatX = state.range === "1h" || state.range === "24h"
        ? (ts) => new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
        : (ts) => new Date(ts * 1000).toLocaleDateString([], { month: "short", day: "numeric" });
      const chart = (title, metric, yLabel, format, integer = false) => h("section", { class: "card", "aria-label": title },
        timeChart({
          title, x: data.buckets, yLabel, format, formatX, integer, width,
          series: named.map((s) => ({ name: s.name, values: s.points[metric], total: s[metric] })),
        }));
      // The drawing at the size it is shown: its 11 px labels stay 11 px, on a phone too.
      const width = (charts.clientWidth || root.clientWidth || 720) - 34;
      drawnWidth = charts.clientWidth;
      render(charts,
        chart("Requests", "requests", "Requests", ui.formatInt, true),
        chart("Tokens", "tokens", "Tokens (in + out)", compact, true),
        chart("Cost", "costUsd", "Cost (USD)", cost));
    }

    const columns = [
      { label: "Time", value: (r) => ui.formatTime(r.ts) },
      { label: "Provider", value: (r) => r.provider || "—" },
      { label: "Model", value: (r) => r.model || "—" },
      { label: "Key", value: (r) => keyLabel(r.keyId) },
      { label: "Status", value: (r) => ui.badge(String(r.status), r.status < 400 ? "ok" : r.status === 429 ? "warn" : "bad") },
      { label: "Tokens in", class: "num", value: (r) => ui.formatInt(r.tokensIn) },
      { label: "Tokens out", class: "num", value: (r) => ui.formatInt(r.tokensOut) },
      { label: "Cost", class: "num", value: (r) => cost(r.costUsd) },
      { label: "Latency", class: "num", value: (r) => ui.formatMs(r.latencyMs) },
    ];
    let rows = [];

    async function loadTable(append = false) {
      const params = filters();
      params.set("limit", String(PAGE));
      if (append && state.cursor) params.set("cursor", String(state.cursor));
      const data = await api.get(`/api/usage/history?${params}`, { signal: ctx.signal });
      rows = append ? [...rows, ...data.rows] : data.rows;
      state.cursor = data.nextCursor;
      more.hidden = !data.nextCursor;
      tableNote.textContent = `Showing ${rows.length} of ${ui.formatInt(data.total)} matching ${data.total === 1 ? "request" : "requests"}.`;
      const table = ui.table(columns, rows, { empty: "No requests match these filters.", caption: "Recent requests, newest first" });
      table.querySelector("table")?.classList.add("stack");
      render(tableBox, table);
    }

    function updateExport() {
      const params = filters();
      params.set("format", "csv");
      exportLink.href = `/api/usage/export?${params}`;
    }

    async function load() {
      state.from = Math.floor(Date.now() / 1000) - RANGES[state.range].span;
      state.cursor = null;
      updateExport();
      try {
        await loadOptions(); // first: the charts and the table name keys by what it learns
        await Promise.all([loadCharts(), loadTable()]);
      } catch (err) {
        if (err.name === "AbortError") return;
        render(charts, ui.failure(err, load));
      }
    }

    form.addEventListener("change", (event) => {
      const name = event.target.name;
      state[name] = event.target.value;
      load();
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
    refresh.addEventListener("click", () => ui.busy(refresh, load, { pending: "Refreshing…", done: null }));
    more.addEventListener("click", () => ui.busy(more, () => loadTable(true), { pending: "Loading…", done: null }));

    // Redraw at the new size when the window is resized (a phone turned, a sidebar hidden).
    const resized = new ResizeObserver(() => {
      if (Math.abs(charts.clientWidth - drawnWidth) > 24) drawCharts();
    });
    resized.observe(charts);
    ctx.onLeave(() => resized.disconnect());

    await load();
  },
};

function compact(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return new Intl.NumberFormat("en-US").format(Math.round(n * 100) / 100);
}

