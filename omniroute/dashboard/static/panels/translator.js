// The Translator page: a playground for the format translator, a chat tester that sends a
// message through the gateway and shows every hop, a test bench of round-trip translations
// and a live monitor of the requests passing through.

export const FORMATS = ["openai", "anthropic", "responses", "gemini"];
export const FORMAT_LABELS = {
  openai: "OpenAI Chat",
  anthropic: "Anthropic Messages",
  responses: "OpenAI Responses",
  gemini: "Gemini",
};

const WEATHER = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
const QUESTION = "What is the capital of France?";
const RESULT = "18 degrees and sunny";

/** Sample requests per kind ("text", "tool") and format, saying the same thing. */
export const SAMPLES = {
  text: {
    openai: { model: "gpt-4o", max_tokens: 256, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: QUESTION }] },
    anthropic: { model: "claude-sonnet-4-5", max_tokens: 256, system: "Be brief.", messages: [{ role: "user", content: QUESTION }] },
    responses: { model: "gpt-4o", max_output_tokens: 256, instructions: "Be brief.", input: QUESTION },
    gemini: { systemInstruction: { parts: [{ text: "Be brief." }] }, contents: [{ role: "user", parts: [{ text: QUESTION }] }], generationConfig: { maxOutputTokens: 256 } },
  },
  tool: {
    openai: {
      model: "gpt-4o", max_tokens: 256,
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] },
        { role: "tool", tool_call_id: "call_1", content: RESULT },
      ],
      tools: [{ type: "function", function: { name: "get_weather", description: "Current weather", parameters: WEATHER } }],
    },
    anthropic: {
      model: "claude-sonnet-4-5", max_tokens: 256,
      messages: [
        { role: "user", content: "Weather in Paris?" },
        { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: RESULT }] },
      ],
      tools: [{ name: "get_weather", description: "Current weather", input_schema: WEATHER }],
    },
    responses: {
      model: "gpt-4o", max_output_tokens: 256,
      input: [
        { type: "message", role: "user", content: "Weather in Paris?" },
        { type: "function_call", call_id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
        { type: "function_call_output", call_id: "call_1", output: RESULT },
      ],
      tools: [{ type: "function", name: "get_weather", description: "Current weather", parameters: WEATHER }],
    },
    gemini: {
      contents: [
        { role: "user", parts: [{ text: "Weather in Paris?" }] },
        { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }] },
        { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { result: RESULT } } }] },
      ],
      tools: [{ functionDeclarations: [{ name: "get_weather", description: "Current weather", parameters: WEATHER }] }],
      generationConfig: { maxOutputTokens: 256 },
    },
  },
};

// -- round-trip checks (pure, so they can be tested without a browser) -----------------------

function textOf(content) {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part) => (typeof part === "string" ? part : typeof part?.text === "string" ? part.text : "")).join("");
  return "";
}

function parseArgs(value) {
  if (typeof value !== "string") return value ?? {};
  try { return JSON.parse(value || "{}"); } catch { return value; }
}

/** Stable JSON (sorted keys), for comparing tool arguments. */
export function stable(value) {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable(value[k])}`).join(",")}}`;
  return JSON.stringify(value);
}

/** The fields a translation must keep, read from a request body of `format`. */
export function essentials(format, body) {
  const out = { model: body.model ?? null, system: "", texts: [], calls: [], results: [], tools: [], maxTokens: null };
  const text = (value) => { if (value) out.texts.push(value.trim()); };
  const call = (name, args) => out.calls.push(`${name}(${stable(parseArgs(args))})`);
  if (format === "openai") {
    for (const m of body.messages || []) {
      if (m.role === "system" || m.role === "developer") out.system += textOf(m.content);
      else if (m.role === "tool") out.results.push(textOf(m.content));
      else text(textOf(m.content));
      for (const c of m.tool_calls || []) call(c.function?.name, c.function?.arguments);
    }
    out.tools = (body.tools || []).map((t) => t.function?.name);
    out.maxTokens = body.max_tokens ?? body.max_completion_tokens ?? null;
  } else if (format === "anthropic") {
    out.system = textOf(body.system);
    for (const m of body.messages || []) {
      if (typeof m.content === "string") { text(m.content); continue; }
      for (const block of m.content || []) {
        if (block.type === "text") text(block.text);
        else if (block.type === "tool_use") call(block.name, block.input);
        else if (block.type === "tool_result") out.results.push(textOf(block.content));
      }
    }
    out.tools = (body.tools || []).map((t) => t.name);
    out.maxTokens = body.max_tokens ?? null;
  } else if (format === "responses") {
    out.system = body.instructions || "";
    const items = typeof body.input === "string" ? [{ type: "message", content: body.input }] : body.input || [];
    for (const item of items) {
      if (item.type === "function_call") call(item.name, item.arguments);
      else if (item.type === "function_call_output") out.results.push(textOf(item.output));
      else if (item.role === "system" || item.role === "developer") out.system += textOf(item.content);
      else text(textOf(item.content));
    }
    out.tools = (body.tools || []).map((t) => t.name);
    out.maxTokens = body.max_output_tokens ?? null;
  } else if (format === "gemini") {
    out.system = textOf(body.systemInstruction?.parts);
    for (const content of body.contents || []) {
      for (const part of content.parts || []) {
        if (typeof part.text === "string") text(part.text);
        else if (part.functionCall) call(part.functionCall.name, part.functionCall.args);
        else if (part.functionResponse) out.results.push(JSON.stringify(part.functionResponse.response ?? ""));
      }
    }
    out.tools = (body.tools || []).flatMap((t) => (t.functionDeclarations || []).map((d) => d.name));
    out.maxTokens = body.generationConfig?.maxOutputTokens ?? null;
  }
  out.texts = out.texts.filter(Boolean);
  out.system = out.system.trim();
  return out;
}

/**
 * Why the round trip `back` lost something of `original` (both in `format`), or null.
 * `target` is the format in between: Gemini carries the model in the URL, not the body.
 */
export function roundTripProblem(format, original, back, target) {
  const a = essentials(format, original);
  const b = essentials(format, back);
  const problems = [];
  if (target !== "gemini" && a.model !== b.model) problems.push(`model ${JSON.stringify(a.model)} became ${JSON.stringify(b.model)}`);
  if (a.system !== b.system) problems.push(a.system && !b.system ? "system prompt lost" : "system prompt changed");
  if (stable(a.texts) !== stable(b.texts)) problems.push(`message text changed: ${JSON.stringify(b.texts)}`);
  if (stable(a.calls) !== stable(b.calls)) problems.push(`tool calls changed: ${b.calls.join(", ") || "none"}`);
  if (a.results.length !== b.results.length || a.results.some((r, i) => !b.results[i].includes(r.replace(/^\{"result":"|"\}$/g, "")))) {
    problems.push(`tool results changed: ${JSON.stringify(b.results)}`);
  }
  if (stable(a.tools) !== stable(b.tools)) problems.push(`tools changed: ${b.tools.join(", ") || "none"}`);
  if (a.maxTokens !== b.maxTokens) problems.push(`max tokens ${a.maxTokens} became ${b.maxTokens}`);
  return problems.length ? problems.join("; ") : null;
}

const pretty = (value) => JSON.stringify(value, null, 2);

// -- the page --------------------------------------------------------------------------------

export default {
  async mount(root, ctx) {
    const { ui } = ctx;
    const { h } = ui;
    const modes = [
      { id: "playground", label: "Playground", build: () => playground(ctx) },
      { id: "chat", label: "Chat tester", build: () => chatTester(ctx) },
      { id: "bench", label: "Test bench", build: () => testBench(ctx) },
      { id: "live", label: "Live monitor", build: () => liveMonitor(ctx) },
    ];
    const tabs = modes.map((mode, i) => h("button", {
      type: "button", role: "tab", id: `translator-tab-${mode.id}`, "aria-controls": `translator-mode-${mode.id}`,
      "aria-selected": i === 0 ? "true" : "false", tabindex: i === 0 ? "0" : "-1",
      class: i === 0 ? null : "secondary", onclick: () => select(i),
    }, mode.label));
    const views = modes.map((mode, i) => h("section", {
      role: "tabpanel", id: `translator-mode-${mode.id}`, "aria-labelledby": `translator-tab-${mode.id}`, hidden: i !== 0,
    }));
    const built = new Set();
    const tablist = h("div", { role: "tablist", "aria-label": "Translator modes", class: "actions translator-tabs" }, tabs);
    tablist.addEventListener("keydown", (event) => {
      const current = tabs.indexOf(document.activeElement);
      if (current < 0) return;
      const next = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      select((next + tabs.length) % tabs.length, true);
    });
    tablist.style.marginBottom = "16px";

    function select(index, focus = false) {
      tabs.forEach((tab, i) => {
        const on = i === index;
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.tabIndex = on ? 0 : -1;
        tab.classList.toggle("secondary", !on);
        views[i].hidden = !on;
      });
      if (!built.has(index)) {
        built.add(index);
        ui.render(views[index], modes[index].build());
      }
      if (focus) tabs[index].focus();
    }

    ui.render(root,
      ui.pageHeader("Translator", "Translate between the four API formats, test a chat through the gateway, check round trips and watch requests live."),
      tablist, views);
    select(0);
  },
};

// -- 1. playground ---------------------------------------------------------------------------

function formatSelect(ui, name, value) {
  return ui.h("select", { name }, FORMATS.map((f) => ui.h("option", { value: f, selected: f === value }, `${FORMAT_LABELS[f]} (${f})`)));
}

function playground({ api, ui }) {
  const { h } = ui;
  const source = formatSelect(ui, "from", "openai");
  const target = formatSelect(ui, "to", "anthropic");
  const input = h("textarea", { name: "body", rows: "14", spellcheck: "false", value: pretty(SAMPLES.text.openai) });
  let sample = input.value;
  const output = h("pre", { class: "translator-output", "aria-live": "polite" }, "The translation appears here.");
  const status = h("p", { class: "muted", role: "status" });
  const translateButton = h("button", { type: "submit" }, "Translate");
  const detectButton = h("button", { type: "button", class: "secondary" }, "Detect format");
  const form = h("form", { "aria-label": "Translate a request" },
    h("div", { class: "form-grid" }, ui.field("Source format", source), ui.field("Target format", target)),
    ui.field("Request body (JSON)", input, "Paste a request to translate; an example is filled in."),
    h("div", { class: "actions" }, translateButton, detectButton,
      h("button", { type: "button", class: "secondary", onclick: () => { input.value = sample = pretty(SAMPLES.text[source.value]); } }, "Load example")),
    status);

  source.addEventListener("change", () => {
    if (input.value === sample) input.value = sample = pretty(SAMPLES.text[source.value]);
  });

  function body() {
    try {
      const parsed = JSON.parse(input.value);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      return parsed;
    } catch (err) {
      const error = new Error(`The request body is not a JSON object: ${err.message}`);
      error.param = "body";
      throw error;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const result = await ui.busy(translateButton, async () => {
      const data = await api.post("/api/translator/translate", { from: source.value, to: target.value, body: body() });
      return data;
    }, { pending: "Translating…", done: null, form });
    if (result) {
      output.textContent = pretty(result.body);
      status.textContent = `Translated from ${FORMAT_LABELS[result.from]} to ${FORMAT_LABELS[result.to]}.`;
    } else {
      output.textContent = "No translation: see the error above.";
    }
  });

  detectButton.addEventListener("click", async () => {
    status.textContent = "";
    const result = await ui.busy(detectButton, () => api.post("/api/translator/detect", { body: body() }),
      { pending: "Detecting…", done: null, form });
    if (result) {
      source.value = result.format;
      sample = null;
      status.textContent = `Detected format: ${FORMAT_LABELS[result.format]} (${result.format}).`;
    }
  });

  return [ui.card("Translate a request", form), ui.card("Translation", output)];
}

// -- 2. chat tester --------------------------------------------------------------------------

const HOP_TITLES = {
  "client-request": "1. Client → gateway: as the client sent it",
  "provider-request": "2. Gateway → provider: as sent upstream",
  "provider-response": "3. Provider → gateway: the provider's answer",
  "client-response": "4. Gateway → client: as the client received it",
};

function chatTester({ api, ui, signal }) {
  const { h } = ui;
  const format = formatSelect(ui, "format", "openai");
  const model = h("input", { name: "model", list: "translator-models", autocomplete: "off", placeholder: "provider/model or a combo", required: true });
  const models = h("datalist", { id: "translator-models" });
  const message = h("textarea", { name: "message", rows: "3", required: true, placeholder: "Say hello" });
  const send = h("button", { type: "submit" }, "Send");
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { "aria-label": "Chat through the gateway" },
    h("div", { class: "form-grid" },
      ui.field("Client format", format, "The API the message is written in, as a client of that API would send it."),
      ui.field("Model", model, "A model of a connected provider, or a combo.")),
    models,
    ui.field("Message", message),
    h("div", { class: "actions" }, send));

  (async () => {
    try {
      const [catalog, combos] = await Promise.all([
        api.get("/api/models/catalog", { signal }),
        api.get("/api/combos", { signal }).catch(() => []),
      ]);
      const ids = [
        ...combos.map((c) => c.name),
        ...catalog.filter((g) => g.connected && !g.blocked).flatMap((g) => g.models.filter((m) => m.type === "chat").map((m) => m.id)),
      ];
      ui.render(models, ids.map((id) => h("option", { value: id })));
      if (!model.value && ids.length) model.placeholder = ids[0];
    } catch (err) {
      if (err.name !== "AbortError") ui.toast(`Could not list models: ${ui.errorText(err)}`, "error");
    }
  })();

  message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = await ui.busy(send, () => api.post("/api/translator/chat",
      { format: format.value, model: model.value.trim(), message: message.value }, { signal }),
    { pending: "Sending…", done: null, form });
    if (data) ui.render(result, chatResult(ui, data));
  });

  return [ui.card("Send a message through the gateway", form,
    h("p", { class: "muted", text: "Sent with your dashboard session (no client key) and recorded in usage like any request." })), result];
}

function chatResult(ui, data) {
  const { h } = ui;
  const ok = data.status < 400;
  const sent = data.hops.find((hop) => hop.hop === "provider-request");
  return [
    ui.card("Answer",
      h("p", { class: "actions" },
        ui.badge(`HTTP ${data.status}`, ok ? "ok" : "bad"),
        sent ? ui.badge(`${sent.provider} · ${sent.connection}`) : null,
        sent ? ui.badge(sent.translated ? `translated ${data.format} → ${sent.format}` : `same format (${data.format})`, sent.translated ? "warn" : "neutral") : null,
        h("span", { class: "muted", text: ui.formatMs(data.latencyMs) })),
      ok ? h("p", { class: "chat-answer", text: data.text ?? "(no text in the answer)" })
        : h("p", { class: "field-error", role: "alert", text: errorMessage(data.hops[data.hops.length - 1].body) }),
      h("p", { class: "muted mono", text: `Request ${data.requestId}` })),
    ui.card("Hops",
      data.hops.map((hop) => h("details", { open: true, class: "hop" },
        h("summary", {}, h("strong", { text: HOP_TITLES[hop.hop] || hop.hop }), " ",
          ui.badge(hop.format), hop.translated ? [" ", ui.badge("translated", "warn")] : null,
          hop.status ? [" ", ui.badge(`HTTP ${hop.status}`, hop.status < 400 ? "ok" : "bad")] : null),
        hop.url ? h("p", { class: "muted mono", text: `${hop.provider} · ${hop.connection} · ${hop.url}` }) : null,
        h("pre", { text: typeof hop.body === "string" ? hop.body : pretty(hop.body) })))),
  ];
}

function errorMessage(body) {
  if (body && typeof body === "object") {
    const error = body.error || (Array.isArray(body) ? body[0]?.error : null);
    if (error?.message) return error.message;
  }
  return typeof body === "string" ? body : "The gateway answered with an error.";
}

// -- 3. test bench ---------------------------------------------------------------------------

function testBench({ api, ui, signal }) {
  const { h } = ui;
  const boxes = new Map();
  const cells = new Map();
  const key = (s, t) => `${s}>${t}`;
  const kind = h("select", { name: "sample" },
    h("option", { value: "text" }, "Text (system prompt and a question)"),
    h("option", { value: "tool" }, "Tool call (a call and its result)"));
  const grid = h("table", { class: "bench-grid" },
    h("caption", { class: "muted", text: "Rows: the client's format. Columns: the format translated to and back from." }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "from \\ to" }), FORMATS.map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, FORMATS.map((s) => h("tr", {}, h("th", { scope: "row", text: s }), FORMATS.map((t) => {
      const box = h("input", { type: "checkbox", checked: true, "aria-label": `${s} to ${t}` });
      const cell = h("span", { class: "bench-result" });
      boxes.set(key(s, t), box);
      cells.set(key(s, t), cell);
      return h("td", { "data-label": `${s} → ${t}` }, h("label", {}, box, " ", h("span", { class: "muted", text: `${s}→${t}` })), h("br"), cell);
    })))));
  const bar = h("span");
  bar.style.width = "0%";
  const progress = h("div", { class: "progress", role: "progressbar", "aria-label": "Test bench progress", "aria-valuemin": "0", "aria-valuenow": "0" }, bar);
  const counter = h("p", { class: "bench-count", role: "status", text: "Not run yet." });
  const run = h("button", { type: "button" }, "Run selected");
  const all = (on) => () => boxes.forEach((box) => { box.checked = on; });

  run.addEventListener("click", async () => {
    const pairs = [...boxes].filter(([, box]) => box.checked).map(([k]) => k.split(">"));
    if (!pairs.length) { ui.toast("Select at least one pair", "error"); return; }
    cells.forEach((cell) => ui.render(cell));
    let done = 0;
    let passed = 0;
    progress.setAttribute("aria-valuemax", String(pairs.length));
    const show = () => {
      counter.textContent = `${done} / ${pairs.length} run · ${passed} passed · ${done - passed} failed`;
      bar.style.width = `${Math.round((done / pairs.length) * 100)}%`;
      progress.setAttribute("aria-valuenow", String(done));
    };
    show();
    await ui.busy(run, async () => {
      for (const [s, t] of pairs) {
        if (signal.aborted) return;
        const problem = await roundTrip(api, signal, kind.value, s, t);
        done += 1;
        if (!problem) passed += 1;
        ui.render(cells.get(key(s, t)), problem ? [ui.badge("fail", "bad"), " ", h("small", { text: problem })] : ui.badge("pass", "ok"));
        show();
      }
    }, { pending: "Running…", done: null });
    counter.textContent = `Passed ${passed} of ${pairs.length}` + (passed < pairs.length ? ` · ${pairs.length - passed} failed` : "");
  });

  return ui.card("Round trips: source → target → source",
    h("p", { class: "muted", text: "Each selected pair translates the sample request to the target format and back, then checks that the model, system prompt, message text, tool calls and results, tools and token limit survived." }),
    h("div", { class: "form-grid" }, ui.field("Sample request", kind)),
    h("div", { class: "table-wrap" }, grid),
    h("div", { class: "actions" }, run,
      h("button", { type: "button", class: "secondary", onclick: all(true) }, "Select all"),
      h("button", { type: "button", class: "secondary", onclick: all(false) }, "Select none")),
    counter, progress);
}

async function roundTrip(api, signal, kind, source, target) {
  const original = SAMPLES[kind][source];
  try {
    const there = await api.post("/api/translator/translate", { from: source, to: target, body: original }, { signal });
    const back = await api.post("/api/translator/translate", { from: target, to: source, body: there.body }, { signal });
    return roundTripProblem(source, original, back.body, target);
  } catch (err) {
    return `the API refused it: ${err.message || err}`;
  }
}


// -- 4. live monitor -------------------------------------------------------------------------

const KEEP = 200;

function liveMonitor({ ui, onLeave }) {
  const { h } = ui;
  const rows = [];
  const held = [];
  let paused = false;
  let drawn = false;
  let connection = "Connecting…";
  const state = h("p", { class: "muted", role: "status", text: "Connecting…" });
  const list = h("div", { class: "live-list" });
  const pause = h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Pause");
  const clear = h("button", { type: "button", class: "secondary" }, "Clear");

  const columns = [
    { label: "Time", value: (r) => new Date(r.time * 1000).toLocaleTimeString() },
    { label: "Client", value: (r) => `${r.format || "—"} · ${r.endpoint || ""}` },
    { label: "Model", value: (r) => r.model || "—" },
    { label: "Provider", value: (r) => [r.provider, r.combo ? ` (combo ${r.combo})` : ""] },
    { label: "Connection", value: (r) => r.connection || "—" },
    { label: "Status", value: (r) => ui.badge(r.errorKind ? `${r.status} ${r.errorKind}` : String(r.status), r.status < 400 ? "ok" : "bad") },
    { label: "Latency", class: "num", value: (r) => ui.formatMs(r.latencyMs) },
    { label: "Tokens", class: "num", value: (r) => `${ui.formatInt(r.tokensIn)} / ${ui.formatInt(r.tokensOut)}` },
    { label: "Cost", class: "num", value: (r) => ui.formatCost(r.costUsd) },
    { label: "Request", value: (r) => h("span", { class: "mono", text: r.requestId || "—" }) },
  ];

  function draw() {
    drawn = false;
    const table = ui.table(columns, rows, { empty: "No requests yet: they appear here as they finish." });
    table.querySelector("table")?.classList.add("stack");
    ui.render(list, table);
    state.textContent = `${connection} · ` + (paused
      ? `paused, ${held.length} new request${held.length === 1 ? "" : "s"} held`
      : `showing ${rows.length} (the last ${KEEP} are kept)`);
  }
  const schedule = () => { if (!drawn) { drawn = true; requestAnimationFrame(draw); } };

  function take(event) {
    (paused ? held : rows).unshift(event);
    if (held.length > KEEP) held.length = KEEP;
    if (rows.length > KEEP) rows.length = KEEP;
    schedule();
  }

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      rows.unshift(...held.splice(0));
      if (rows.length > KEEP) rows.length = KEEP;
    }
    schedule();
  });
  clear.addEventListener("click", () => { rows.length = 0; held.length = 0; schedule(); });

  const source = new EventSource("/api/translator/live");
  source.addEventListener("open", () => { connection = "Live"; schedule(); });
  source.addEventListener("message", (event) => {
    try { take(JSON.parse(event.data)); } catch (err) { console.error("live monitor", err); }
  });
  source.addEventListener("error", () => {
    connection = source.readyState === EventSource.CLOSED
      ? "Disconnected: reload the page (is your session still valid?)"
      : "Connection lost, reconnecting";
    schedule();
  });
  onLeave(() => source.close());
  draw();
  return ui.card("Requests as they finish (newest first)", h("div", { class: "actions" }, pause, clear), state, list);
}
