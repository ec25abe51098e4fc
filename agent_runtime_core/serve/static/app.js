// The run viewer: lists runs, starts one, and draws a run's timeline live from its SSE stream
// (GET runs/{id}/events), resuming with Last-Event-ID after a dropped connection. Plain JS, no
// build step; every value from the server is put in the page as text, never as HTML.

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(["run.succeeded", "run.failed", "run.cancelled", "run.interrupted"]);
const KEY_STORE = "agent-runtime-api-key";

const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  runs: [],
  selected: null, // run id
  view: null, // the timeline of the selected run
  stream: null, // AbortController of the selected run's stream
};

// ---------------------------------------------------------------------------------------------
// HTTP

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.key) headers.Authorization = `Bearer ${state.key}`;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    setConn(false, "API key needed");
    askKey();
    throw new Error("unauthorized");
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error(body?.error?.message || `HTTP ${response.status}`);
  setConn(true, "connected");
  return body;
}

function setConn(ok, text) {
  $("conn").className = `conn ${ok ? "ok" : "bad"}`;
  $("conn-text").textContent = text;
}

function askKey() {
  const dialog = $("key-dialog");
  if (dialog.open) return;
  $("key-input").value = state.key;
  dialog.showModal();
}

$("key-button").addEventListener("click", askKey);
$("key-dialog").addEventListener("close", () => {
  if ($("key-dialog").returnValue !== "ok") return;
  state.key = $("key-input").value.trim();
  sessionStorage.setItem(KEY_STORE, state.key);
  init();
});

// Reads an SSE response body and calls onMessage({id, event, data}) for each message.
async function readSSE(response, onMessage) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      const message = { id: null, event: null, data: [] };
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "data") message.data.push(val);
        else if (field === "id") message.id = val;
        else if (field === "event") message.event = val;
      }
      if (message.data.length) onMessage({ ...message, data: message.data.join("\n") });
    }
  }
}

// Follows a run's events from `after`, reconnecting with Last-Event-ID until its terminal event.
async function follow(runId, view, controller) {
  let delay = 500;
  while (!controller.signal.aborted) {
    const headers = { Accept: "text/event-stream" };
    if (state.key) headers.Authorization = `Bearer ${state.key}`;
    if (view.lastSeq) headers["Last-Event-ID"] = String(view.lastSeq);
    let ended = false;
    try {
      const response = await fetch(`runs/${encodeURIComponent(runId)}/events`, { headers, signal: controller.signal });
      if (response.status === 401) { askKey(); return; }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      setConn(true, "live");
      await readSSE(response, (m) => {
        const event = JSON.parse(m.data);
        if (event.seq <= view.lastSeq) return; // never twice
        view.add(event);
        if (TERMINAL.has(event.type)) ended = true;
      });
      delay = 500;
    } catch (error) {
      if (controller.signal.aborted) return;
      setConn(false, "reconnecting…");
    }
    if (ended) { setConn(true, "connected"); refreshRuns(); return; }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}

// ---------------------------------------------------------------------------------------------
// DOM helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function pretty(value) {
  if (typeof value === "string") {
    try { value = JSON.parse(value); } catch { return value; }
    if (typeof value === "string") return value;
  }
  const short = JSON.stringify(value);
  return short !== undefined && short.length <= 72 ? short : JSON.stringify(value, null, 2);
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return `${Math.floor(seconds / 60)} m ${Math.round(seconds % 60)} s`;
}

function ago(ts) {
  const s = Date.now() / 1000 - ts;
  if (s < 60) return `${Math.max(0, Math.round(s))}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return new Date(ts * 1000).toLocaleTimeString();
}

// ---------------------------------------------------------------------------------------------
// The timeline of one run

class Timeline {
  constructor(runId, root) {
    this.runId = runId;
    this.root = root;
    this.raw = [];
    this.lastSeq = 0;
    this.t0 = null;
    this.end = null;
    this.status = "queued";
    this.steps = []; // open steps: {name, box, node, started}
    this.llm = new Map(); // span id -> card
    this.tools = new Map(); // tool call id -> card
    this.counts = { llm: 0, tools: 0, tin: 0, tout: 0 };
    this.progress = null;
    this.interrupt = null;
    root.replaceChildren();
  }

  container(event) {
    for (let i = this.steps.length - 1; i >= 0; i--) {
      if (!event.step || this.steps[i].name === event.step) return this.steps[i].box;
    }
    return this.steps.length ? this.steps[this.steps.length - 1].box : this.root;
  }

  item(event, parent, extraClass = "") {
    const item = el("div", `item ${extraClass}`.trim());
    item.append(el("div", "t", this.t0 === null ? "" : `+${(event.timestamp - this.t0).toFixed(2)}s`));
    const node = el("div", "node");
    item.append(node);
    (parent || this.container(event)).append(item);
    return { item, node };
  }

  head(node, kind, kindClass, title) {
    const head = el("div", "node-head");
    head.append(el("span", `kind ${kindClass}`, kind), el("span", "title", title));
    const meta = el("span", "meta");
    head.append(meta);
    node.append(head);
    return meta;
  }

  kv(node, key, value, error = false) {
    const kv = node.querySelector(":scope > .kv") || node.appendChild(el("div", "kv"));
    kv.append(el("div", "k", key), el("pre", `json${error ? " err" : ""}`, pretty(value)));
  }

  add(event) {
    this.lastSeq = event.seq;
    this.raw.push(event);
    if (this.t0 === null) this.t0 = event.timestamp;
    const p = event.payload || {};
    const handler = HANDLERS[event.type];
    if (handler) handler.call(this, event, p);
    this.stats();
    if ($("follow").checked && state.view === this) this.root.lastElementChild?.scrollIntoView?.({ block: "nearest" });
    if (!$("raw").hidden) $("raw").textContent = this.raw.map((e) => JSON.stringify(e)).join("\n");
  }

  stats() {
    $("stat-events").textContent = String(this.raw.length);
    $("stat-llm").textContent = String(this.counts.llm);
    $("stat-tools").textContent = String(this.counts.tools);
    $("stat-tokens").textContent = `${this.counts.tin} / ${this.counts.tout}`;
    setStatus(this.status);
    $("cancel").hidden = !(this.status === "running" || this.status === "queued");
    if (this.progress !== null) {
      document.querySelector(".progress-stat").hidden = false;
      $("progress-bar").style.width = `${Math.min(100, this.progress)}%`;
      $("progress-text").textContent = `${Math.round(this.progress)}%`;
    }
    showInterrupt(this.status === "interrupted" ? this.interrupt : null);
  }

  duration() {
    if (this.t0 === null) return null;
    return (this.end ?? Date.now() / 1000) - this.t0;
  }
}

function stepDone(view, event, p, mark, markClass) {
  const name = p.name || event.step;
  const index = view.steps.map((s) => s.name).lastIndexOf(name);
  if (index < 0) return false;
  const [step] = view.steps.splice(index, 1);
  step.item.classList.remove("live");
  step.spin.replaceWith(el("span", markClass, mark));
  step.meta.prepend(el("span", null, fmtDuration(event.timestamp - step.started)));
  return step;
}

const HANDLERS = {
  "run.started"(event, p) {
    this.status = "running";
    this.end = null;
    const { node } = this.item(event, this.root);
    node.classList.add("quiet");
    const resumed = this.raw.some((e) => e !== event && e.type === "run.interrupted");
    const meta = this.head(node, "run", "run", resumed ? `Resumed with the answer` : `Attempt ${p.attempt ?? 1}`);
    meta.append(el("span", null, p.agent_key || ""));
  },
  "run.retrying"(event, p) {
    const { node } = this.item(event, this.root);
    node.classList.add("retry");
    this.head(node, "retry", "error", `Attempt ${p.attempt} failed, retrying in ${fmtDuration(p.delay_seconds)}`);
    node.append(el("pre", "json err", `${p.error?.type}: ${p.error?.message}`));
    this.steps = [];
  },
  "step.started"(event, p) {
    const parent = this.steps.length ? this.steps[this.steps.length - 1].box : this.root;
    const { item, node } = this.item(event, parent, "step live");
    const meta = this.head(node, p.kind || "step", "step", p.name || event.step || "step");
    const spin = el("span", "spinner");
    meta.append(spin);
    if (p.description) node.append(el("div", "muted", p.description));
    const box = el("div", "children");
    node.append(box);
    this.steps.push({ name: p.name || event.step, box, item, meta, spin, started: event.timestamp });
  },
  "step.completed"(event, p) {
    if (!stepDone(this, event, p, "✓", "ok-mark")) HANDLERS._note.call(this, event, `${p.name} completed`);
  },
  "step.failed"(event, p) {
    const step = stepDone(this, event, p, "✗", "fail-mark");
    const { node } = this.item(event, step ? step.box : undefined);
    node.classList.add("error");
    this.head(node, "error", "error", `Step ${p.name} failed`);
    node.append(el("pre", "json err", `${p.error?.type}: ${p.error?.message}`));
  },
  "step.retrying"(event, p) {
    const { node } = this.item(event);
    node.classList.add("retry");
    this.head(node, "retry", "error", `${p.name}: attempt ${p.attempt} failed, retrying`);
    node.append(el("pre", "json err", `${p.error?.type}: ${p.error?.message}`));
  },
  "step.skipped"(event, p) {
    const { node } = this.item(event);
    node.classList.add("quiet");
    this.head(node, p.kind || "step", "step", `${p.name} — done before, skipped`).append(el("span", "skip-mark", "↷"));
  },
  "llm.call.started"(event, p) { llmCard(this, event, p); },
  "assistant.delta"(event, p) {
    const card = llmCard(this, event, {});
    card.text.textContent += p.text || "";
    card.streamed = true;
  },
  "llm.call.completed"(event, p) {
    const card = llmCard(this, event, p);
    card.item.classList.remove("streaming");
    card.spin.replaceWith(el("span", "ok-mark", "✓"));
    const usage = p.usage || {};
    this.counts.tin += usage.input_tokens || 0;
    this.counts.tout += usage.output_tokens || 0;
    card.meta.prepend(el("span", null, `${usage.input_tokens ?? "?"} → ${usage.output_tokens ?? "?"} tok`), el("span", null, fmtDuration(event.timestamp - card.started)));
    if (!card.streamed) card.text.hidden = true;
  },
  "llm.call.failed"(event, p) {
    const card = llmCard(this, event, p);
    card.item.classList.remove("streaming");
    card.node.classList.add("error");
    card.spin.replaceWith(el("span", "fail-mark", "✗"));
    card.node.append(el("pre", "json err", `${p.error?.type}: ${p.error?.message}`));
  },
  "assistant.message"(event, p) {
    const streamed = [...this.llm.values()].some((c) => c.streamed && c.text.textContent.trim() === String(p.content).trim());
    const { node } = this.item(event);
    node.classList.add("message");
    this.head(node, "assistant", "llm", streamed ? "Answer (streamed above)" : "Answer");
    node.append(el("div", "text", p.content));
  },
  "tool.call"(event, p) {
    this.counts.tools += 1;
    const { item, node } = this.item(event);
    const meta = this.head(node, "tool", "tool", p.name);
    const spin = el("span", "spinner");
    meta.append(spin);
    this.kv(node, "args", p.arguments ?? {});
    this.tools.set(p.tool_call_id || `seq-${event.seq}`, { item, node, meta, spin, started: event.timestamp });
  },
  "tool.result"(event, p) {
    let card = this.tools.get(p.tool_call_id);
    if (!card) { HANDLERS["tool.call"].call(this, event, { ...p, arguments: null }); card = this.tools.get(p.tool_call_id || `seq-${event.seq}`); }
    const failed = "error" in p && !("result" in p);
    card.spin.replaceWith(el("span", failed ? "fail-mark" : "ok-mark", failed ? "✗" : "✓"));
    card.meta.prepend(el("span", null, fmtDuration(event.timestamp - card.started)));
    if (failed) card.node.classList.add("error");
    this.kv(card.node, failed ? "error" : "result", failed ? p.error : p.result, failed);
  },
  checkpoint(event, p) {
    const { node } = this.item(event);
    node.classList.add("quiet");
    const meta = this.head(node, "checkpoint", "ckpt", "State saved");
    meta.append(el("code", null, String(p.checkpoint_id || "").slice(0, 8)));
  },
  "progress.update"(event, p) { this.progress = Number(p.percent) || 0; },
  "run.succeeded"(event, p) {
    finish(this, event, "succeeded");
    const { node } = this.item(event, this.root);
    node.classList.add("success");
    this.head(node, "done", "ckpt", "Run succeeded").append(el("span", null, fmtDuration(this.duration())));
    this.kv(node, "output", p.final_output ?? {});
  },
  "run.failed"(event, p) {
    finish(this, event, "failed");
    const { node } = this.item(event, this.root);
    node.classList.add("error");
    const error = p.error || {};
    this.head(node, "failed", "error", `${error.type || "Error"}: ${error.message || ""}`).append(el("span", null, `${p.attempts ?? "?"} attempt(s)`));
    if (error.traceback) {
      const details = el("details");
      details.append(el("summary", null, "Traceback"), el("pre", "json err", error.traceback));
      node.append(details);
    }
  },
  "run.cancelled"(event, p) {
    finish(this, event, "cancelled");
    const { node } = this.item(event, this.root);
    this.head(node, "cancelled", "run", `Cancelled: ${p.reason || ""}`);
  },
  "run.interrupted"(event, p) {
    finish(this, event, "interrupted");
    this.interrupt = p.interrupt;
    const { node } = this.item(event, this.root);
    node.classList.add("interrupt-node");
    this.head(node, "waiting", "run", "Waiting for a human");
    this.kv(node, "asks", p.interrupt);
  },
  _note(event, text) {
    const { node } = this.item(event);
    node.classList.add("quiet");
    this.head(node, "event", "run", text);
  },
};

function llmCard(view, event, p) {
  const span = event.span_id || "llm";
  let card = view.llm.get(span);
  if (card && !card.done) return card;
  view.counts.llm += 1;
  const { item, node } = view.item(event, undefined, "streaming");
  const meta = view.head(node, "llm", "llm", p.model ? `${p.model}` : "Model call");
  const spin = el("span", "spinner");
  meta.append(spin);
  const text = el("div", "text");
  node.append(text);
  card = { item, node, meta, spin, text, started: event.timestamp, streamed: false };
  view.llm.set(span, card);
  return card;
}

function finish(view, event, status) {
  view.status = status;
  view.end = event.timestamp;
  for (const step of view.steps) { step.item.classList.remove("live"); step.spin.replaceWith(el("span", "skip-mark", "■")); }
  view.steps = [];
  for (const card of view.llm.values()) { card.item.classList.remove("streaming"); card.done = true; }
}

function setStatus(status) {
  const badge = $("run-status");
  badge.className = `badge ${status}`;
  badge.textContent = status;
}

function showInterrupt(interrupt) {
  const form = $("interrupt");
  if (!interrupt) { form.hidden = true; return; }
  const wasHidden = form.hidden;
  form.hidden = false;
  const question = typeof interrupt === "object" ? (interrupt.question || interrupt.message || interrupt.prompt) : interrupt;
  $("interrupt-question").textContent = question ? String(question) : "The agent needs an answer to continue.";
  const details = typeof interrupt === "object" ? Object.fromEntries(Object.entries(interrupt).filter(([k]) => !["question", "message", "prompt"].includes(k))) : {};
  $("interrupt-details").hidden = Object.keys(details).length === 0;
  $("interrupt-details").textContent = pretty(details);
  if (wasHidden) $("answer").focus();
}

// ---------------------------------------------------------------------------------------------
// Runs list, selection, actions

function renderRuns() {
  const list = $("runs");
  list.replaceChildren();
  $("runs-count").textContent = state.runs.length ? String(state.runs.length) : "";
  for (const run of state.runs) {
    const li = el("li", `run-item${run.run_id === state.selected ? " selected" : ""}`);
    li.dataset.runId = run.run_id;
    li.dataset.status = run.status;
    li.append(el("span", `status-dot ${run.status}`), el("span", "agent", run.agent_key), el("span", "when", ago(run.created_at)));
    const sub = el("div", "sub");
    const duration = run.ended_at ? fmtDuration(run.ended_at - run.created_at) : run.status;
    sub.append(el("span", null, run.run_id.slice(0, 8)), el("span", null, duration));
    li.append(sub);
    li.addEventListener("click", () => select(run.run_id));
    list.append(li);
  }
}

async function refreshRuns() {
  try {
    state.runs = (await api("runs?limit=100")).runs;
    renderRuns();
  } catch { /* shown in the connection badge */ }
}

function select(runId) {
  if (state.stream) state.stream.abort();
  state.selected = runId;
  history.replaceState(null, "", `#run=${encodeURIComponent(runId)}`);
  renderRuns();
  const run = state.runs.find((r) => r.run_id === runId);
  $("empty").hidden = true;
  $("run").hidden = false;
  $("run-agent").textContent = run?.agent_key || "run";
  $("run-id").textContent = runId;
  document.querySelector(".progress-stat").hidden = true;
  $("progress-bar").style.width = "0";
  $("raw").textContent = "";
  state.view = new Timeline(runId, $("timeline"));
  state.view.stats();
  state.stream = new AbortController();
  follow(runId, state.view, state.stream);
}

$("start-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const button = $("start");
  button.disabled = true;
  $("start-error").hidden = true;
  try {
    const text = $("message").value.trim() || $("message").placeholder;
    const body = await api("runs", { method: "POST", json: { agent_key: $("agent").value, input: text } });
    await refreshRuns();
    select(body.run_id);
  } catch (error) {
    $("start-error").textContent = error.message;
    $("start-error").hidden = false;
  } finally {
    button.disabled = false;
  }
});

$("cancel").addEventListener("click", async () => {
  if (!state.selected) return;
  $("cancel").disabled = true;
  try { await api(`runs/${encodeURIComponent(state.selected)}/cancel`, { method: "POST" }); } finally { $("cancel").disabled = false; }
});

async function answer(value) {
  const runId = state.selected;
  let parsed = value;
  try { parsed = JSON.parse(value); } catch { /* plain text */ }
  $("answer-send").disabled = true;
  try {
    await api(`runs/${encodeURIComponent(runId)}/resume`, { method: "POST", json: { answer: parsed } });
    $("answer").value = "";
    state.view.status = "running";
    state.view.stats();
    if (state.stream) state.stream.abort();
    state.stream = new AbortController();
    follow(runId, state.view, state.stream); // the run goes on: follow it from the last event seen
  } catch (error) {
    alert(error.message);
  } finally {
    $("answer-send").disabled = false;
  }
}

$("interrupt").addEventListener("submit", (e) => { e.preventDefault(); answer($("answer").value); });
for (const button of document.querySelectorAll("[data-answer]")) button.addEventListener("click", () => answer(button.dataset.answer));

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
    const raw = tab.dataset.tab === "raw";
    $("raw").hidden = !raw;
    $("timeline").hidden = raw;
    if (raw && state.view) $("raw").textContent = state.view.raw.map((ev) => JSON.stringify(ev)).join("\n");
  });
}

setInterval(() => {
  if (state.view) $("stat-duration").textContent = fmtDuration(state.view.duration());
}, 100);
setInterval(refreshRuns, 2000);

async function init() {
  try {
    const { agents } = await api("agents");
    const select_ = $("agent");
    select_.replaceChildren(...agents.map((a) => el("option", null, a)));
    if (agents.length === 0) select_.append(el("option", null, "(no agents registered)"));
    await refreshRuns();
    const linked = new URLSearchParams(location.hash.slice(1)).get("run");
    if (linked && !state.selected) select(linked);
  } catch { /* 401: the key dialog is open */ }
}

init();
