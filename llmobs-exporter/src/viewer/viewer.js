// The llmobs trace viewer. Reads the payloads embedded in this page (the exact request bodies
// local mode wrote) and shows traces, spans and evaluations. Every value from the payloads is
// put in the page as text (textContent), never as HTML.
"use strict";

(function () {
  const PAGE = 200; // trace rows rendered at a time

  // --- Data -------------------------------------------------------------------------------
  const raw = JSON.parse(document.getElementById("llmobs-data").textContent);
  const problems = [];
  const spans = [];
  const evaluations = [];
  const seen = new Set();

  function addSpan(s) {
    if (!s || typeof s !== "object" || s.span_id == null) return;
    const key = String(s.trace_id) + "/" + String(s.span_id);
    if (seen.has(key)) return;
    seen.add(key);
    spans.push(s);
  }

  raw.lines.forEach(function (item) {
    if (item && item.__unreadable) {
      problems.push(item.__unreadable);
    } else if (Array.isArray(item)) {
      item.forEach(function (ev) { (ev && ev.spans || []).forEach(addSpan); });
    } else if (item && Array.isArray(item.spans)) {
      item.spans.forEach(addSpan);
    } else if (item && item.data && item.data.attributes && Array.isArray(item.data.attributes.metrics)) {
      item.data.attributes.metrics.forEach(function (m) { evaluations.push(m); });
    }
  });

  const kindOf = (s) => (s.meta && s.meta.span && s.meta.span.kind) || "task";
  const isError = (s) => s.status === "error";
  const num = (v) => (typeof v === "number" ? v : Number(v) || 0);
  const startOf = (s) => num(s.start_ns);
  const durOf = (s) => num(s.duration);
  function tokensOf(s) {
    const m = s.metrics || {};
    if (m.total_tokens != null) return num(m.total_tokens);
    return num(m.input_tokens) + num(m.output_tokens);
  }

  const evalsBySpan = new Map();
  evaluations.forEach(function (e) {
    // Evaluations join on `join_on.span`; feedback on a span names it at the top level.
    const j = (e.join_on && e.join_on.span) || (e.span_id != null ? { span_id: e.span_id } : null);
    if (!j) return;
    const key = String(j.span_id);
    if (!evalsBySpan.has(key)) evalsBySpan.set(key, []);
    evalsBySpan.get(key).push(e);
  });

  // Traces: spans grouped by trace id, with their roots and totals.
  const byTrace = new Map();
  spans.forEach(function (s) {
    const id = String(s.trace_id);
    if (!byTrace.has(id)) byTrace.set(id, []);
    byTrace.get(id).push(s);
  });
  const traces = [];
  byTrace.forEach(function (members, id) {
    members.sort((a, b) => startOf(a) - startOf(b));
    const ids = new Set(members.map((s) => String(s.span_id)));
    const roots = members.filter((s) => !ids.has(String(s.parent_id)));
    const root = roots[0] || members[0];
    const start = Math.min.apply(null, members.map(startOf));
    const end = Math.max.apply(null, members.map((s) => startOf(s) + durOf(s)));
    const kinds = new Set(members.map(kindOf));
    const models = new Set(members.map((s) => s.meta && s.meta.model_name).filter(Boolean));
    traces.push({
      id: id, spans: members, root: root, start: start, duration: Math.max(end - start, 1),
      tokens: members.filter((s) => kindOf(s) === "llm").reduce((t, s) => t + tokensOf(s), 0),
      error: members.some(isError), session: root.session_id || members.map((s) => s.session_id).find(Boolean) || "",
      kinds: kinds, models: models, search: null,
    });
  });
  traces.sort((a, b) => b.start - a.start);

  // --- Formatting ---------------------------------------------------------------------------
  function fmtDur(ns) {
    if (ns >= 1e9) return (ns / 1e9).toFixed(2) + " s";
    if (ns >= 1e6) return (ns / 1e6).toFixed(ns >= 1e8 ? 0 : 1) + " ms";
    if (ns >= 1e3) return (ns / 1e3).toFixed(1) + " µs";
    return Math.round(ns) + " ns";
  }
  function fmtTime(ns) {
    const d = new Date(ns / 1e6);
    return isNaN(d.getTime()) ? "" : d.toISOString().replace("T", " ").replace("Z", "");
  }
  function text(v) {
    if (v == null) return "";
    return typeof v === "string" ? v : JSON.stringify(v, null, 2);
  }

  // Builds an element; strings among the children become text nodes.
  function el(tag, props) {
    const e = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === "class") e.className = props[k];
        else if (k === "text") e.textContent = props[k];
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), props[k]);
        else if (k.startsWith("data-")) e.setAttribute(k, props[k]);
        else e[k] = props[k];
      });
    }
    for (let i = 2; i < arguments.length; i++) {
      const c = arguments[i];
      if (c == null || c === false) continue;
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }
  const badge = (kind) => el("span", { class: "badge " + kind, text: kind });
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  // --- State --------------------------------------------------------------------------------
  const state = { trace: null, span: null, shown: PAGE, collapsed: new Set(), tab: "traces", session: null };
  const $ = (id) => document.getElementById(id);

  // --- Header, problems and filter options --------------------------------------------------
  $("summary").textContent = traces.length + " traces, " + spans.length + " spans, " +
    evaluations.length + " evaluations" + (raw.files.length ? " from " + raw.files.join(", ") : "");
  if (problems.length) {
    const p = $("problems");
    p.appendChild(el("strong", { text: problems.length + " payload line(s) could not be read and were skipped: " }));
    problems.slice(0, 5).forEach(function (x, i) {
      p.appendChild(document.createTextNode((i ? "; " : "") + x.file + " line " + x.line + ": " + x.error));
    });
  }
  function fillSelect(select, values) {
    Array.from(values).sort().forEach((v) => select.appendChild(el("option", { value: v, text: v })));
  }
  const allKinds = new Set(), allModels = new Set(), allSessions = new Set();
  traces.forEach(function (t) {
    t.kinds.forEach((k) => allKinds.add(k));
    t.models.forEach((m) => allModels.add(m));
    if (t.session) allSessions.add(t.session);
  });
  fillSelect($("filter-kind"), allKinds);
  fillSelect($("filter-model"), allModels);
  fillSelect($("filter-session"), allSessions);

  // --- Trace list ---------------------------------------------------------------------------
  function searchText(t) {
    if (t.search == null) {
      const parts = [];
      t.spans.forEach(function (s) {
        parts.push(s.name || "");
        const m = s.meta || {};
        ["input", "output"].forEach(function (dir) {
          const io = m[dir];
          if (!io) return;
          if (io.value != null) parts.push(text(io.value));
          (io.messages || []).forEach((msg) => parts.push(msg.content || ""));
          (io.documents || []).forEach((d) => parts.push(d.text || "", d.name || ""));
        });
      });
      t.search = parts.join("\n").toLowerCase();
    }
    return t.search;
  }
  function filtered() {
    const q = $("search").value.trim().toLowerCase();
    const kind = $("filter-kind").value, model = $("filter-model").value;
    const session = $("filter-session").value, errorsOnly = $("filter-error").checked;
    return traces.filter(function (t) {
      if (errorsOnly && !t.error) return false;
      if (kind && !t.kinds.has(kind)) return false;
      if (model && !t.models.has(model)) return false;
      if (session && t.session !== session) return false;
      if (q && searchText(t).indexOf(q) < 0) return false;
      return true;
    });
  }
  function renderList() {
    const list = clear($("trace-list"));
    const rows = filtered();
    $("count").textContent = rows.length + " of " + traces.length + " traces";
    rows.slice(0, state.shown).forEach(function (t) {
      const row = el("div", {
        class: "trace-row" + (state.trace === t ? " selected" : ""), "data-trace-id": t.id,
        onclick: function () { selectTrace(t); },
      },
        el("div", { class: "name" }, badge(kindOf(t.root)), el("span", { text: t.root.name || "(unnamed)" }),
          t.error ? el("span", { class: "err", text: "error" }) : null),
        el("div", { class: "sub" },
          el("span", { text: fmtTime(t.start) }), el("span", { text: fmtDur(t.duration) }),
          el("span", { text: t.spans.length + " spans" }),
          t.tokens ? el("span", { text: t.tokens + " tokens" }) : null,
          t.session ? el("span", { text: "session " + t.session }) : null));
      list.appendChild(row);
    });
    if (rows.length > state.shown) {
      list.appendChild(el("button", {
        class: "more", type: "button", text: "Show " + Math.min(PAGE, rows.length - state.shown) + " more",
        onclick: function () { state.shown += PAGE; renderList(); },
      }));
    }
    if (!rows.length) list.appendChild(el("div", { class: "empty", text: "No trace matches" }));
  }
  let typing = null;
  $("search").addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(function () { state.shown = PAGE; renderList(); }, 120);
  });
  ["filter-kind", "filter-model", "filter-session", "filter-error"].forEach(function (id) {
    $(id).addEventListener("change", function () { state.shown = PAGE; renderList(); });
  });

  // --- Trace tree and waterfall -------------------------------------------------------------
  function selectTrace(t, spanId) {
    state.trace = t;
    state.collapsed = new Set();
    renderList();
    renderTree();
    const s = spanId != null ? t.spans.find((x) => String(x.span_id) === String(spanId)) : t.root;
    selectSpan(s || t.root);
  }
  function renderTree() {
    const pane = clear($("tree-pane"));
    const t = state.trace;
    if (!t) { pane.appendChild(el("div", { class: "empty", text: "Select a trace" })); return; }
    const ids = new Set(t.spans.map((s) => String(s.span_id)));
    const children = new Map();
    const roots = [];
    t.spans.forEach(function (s) {
      const p = String(s.parent_id);
      if (ids.has(p)) {
        if (!children.has(p)) children.set(p, []);
        children.get(p).push(s);
      } else roots.push(s);
    });
    pane.appendChild(el("div", { class: "tree-head" },
      el("strong", { text: t.root.name || "(unnamed)" }), el("span", { text: fmtDur(t.duration) }),
      el("span", { text: t.spans.length + " spans" }), el("span", { text: t.tokens + " tokens" }),
      t.error ? el("span", { class: "err", text: "error" }) : null,
      el("span", { text: "trace " + t.id })));
    function walk(s, depth) {
      const id = String(s.span_id);
      const kids = children.get(id) || [];
      const closed = state.collapsed.has(id);
      const left = ((startOf(s) - t.start) / t.duration) * 100;
      const width = (durOf(s) / t.duration) * 100;
      const kind = kindOf(s);
      const tokens = kind === "llm" || kind === "embedding" ? tokensOf(s) : 0;
      const row = el("div", {
        class: "span-row" + (state.span === s ? " selected" : ""), "data-span-id": id,
        onclick: function () { selectSpan(s); },
      },
        el("div", { class: "span-label", style: "padding-left:" + (6 + depth * 14) + "px" },
          el("span", {
            class: "toggle", text: kids.length ? (closed ? "▸" : "▾") : "",
            onclick: function (ev) {
              ev.stopPropagation();
              if (closed) state.collapsed.delete(id); else state.collapsed.add(id);
              renderTree();
            },
          }),
          badge(kind), el("span", { class: "span-name", text: s.name || "(unnamed)" }),
          isError(s) ? el("span", { class: "err", text: "!" }) : null,
          el("span", { class: "dur", text: fmtDur(durOf(s)) + (tokens ? " · " + tokens + " tok" : "") })),
        el("div", { class: "bar-track" },
          el("div", {
            class: "bar " + kind + (isError(s) ? " error" : ""),
            style: "left:" + Math.max(0, Math.min(left, 100)).toFixed(3) + "%;width:" +
              Math.max(0, Math.min(width, 100 - left)).toFixed(3) + "%",
            title: s.name + " " + fmtDur(durOf(s)),
          })));
      pane.appendChild(row);
      if (!closed) kids.forEach((k) => walk(k, depth + 1));
    }
    roots.forEach((r) => walk(r, 0));
  }

  // --- Span detail --------------------------------------------------------------------------
  function messagesView(messages) {
    return el("div", null, ...messages.map(function (m) {
      const role = m.role || "message";
      return el("div", { class: "msg " + role },
        el("div", { class: "role", text: role + (m.tool_id ? " (" + m.tool_id + ")" : "") }),
        m.content ? el("div", { class: "content", text: m.content }) : null,
        ...(m.tool_calls || []).map((c) => el("div", { class: "call" },
          el("div", { text: "calls " + (c.name || "tool") + (c.tool_id ? " (" + c.tool_id + ")" : "") }),
          el("pre", { text: text(c.arguments) }))),
        ...(m.tool_results || []).map((r) => el("div", { class: "call" },
          el("div", { text: "result of " + (r.name || r.tool_id || "tool") }),
          el("pre", { text: text(r.result) }))));
    }));
  }
  function documentsView(docs) {
    return el("div", null, ...docs.map((d) => el("div", { class: "doc" },
      el("div", { class: "meta", text: [d.id && "id " + d.id, d.name, d.score != null && "score " + d.score].filter(Boolean).join(" · ") }),
      d.text ? el("div", { class: "content", text: d.text }) : null)));
  }
  function ioView(io) {
    if (!io) return null;
    const parts = [];
    if (io.messages) parts.push(messagesView(io.messages));
    if (io.documents) parts.push(documentsView(io.documents));
    if (io.value != null) parts.push(el("pre", { class: "value", text: text(io.value) }));
    return el("div", null, ...parts);
  }
  function kvView(obj) {
    const keys = Object.keys(obj || {});
    if (!keys.length) return null;
    return el("div", { class: "kv" }, ...keys.flatMap((k) => [el("span", { class: "k", text: k }), el("span", { class: "v", text: text(obj[k]) })]));
  }
  function section(title, body) {
    return body ? [el("h3", { text: title }), body] : [];
  }
  function evaluationView(e) {
    const value = e[String(e.metric_type) + "_value"];
    const who = e.event_kind === "feedback" && e.submitter ? " (feedback from " + text(e.submitter.id) + ")" : "";
    return el("div", { class: "eval " + (e.assessment || "") },
      el("div", null, el("strong", { text: e.label }), " ", el("span", { text: e.metric_type + ": " + text(value) + who }),
        e.assessment ? el("span", { text: " · " + e.assessment }) : null),
      e.reasoning ? el("div", { class: "content", text: e.reasoning }) : null,
      (e.tags && e.tags.length) ? el("div", { class: "tags" }, ...e.tags.map((t) => el("span", { text: t }))) : null);
  }
  function selectSpan(s) {
    state.span = s;
    document.querySelectorAll(".span-row.selected").forEach((r) => r.classList.remove("selected"));
    const row = document.querySelector('.span-row[data-span-id="' + CSS.escape(String(s.span_id)) + '"]');
    if (row) row.classList.add("selected");
    const pane = clear($("detail-pane"));
    const m = s.meta || {};
    const kind = kindOf(s);
    const info = {
      duration: fmtDur(durOf(s)), start: fmtTime(startOf(s)), status: s.status || "ok",
      model: m.model_name, provider: m.model_provider, session: s.session_id,
      "span id": s.span_id, "trace id": s.trace_id, "parent id": s.parent_id,
    };
    Object.keys(info).forEach((k) => { if (info[k] == null || info[k] === "") delete info[k]; });
    const err = m.error;
    const prompt = m.input && m.input.prompt;
    const evals = evalsBySpan.get(String(s.span_id)) || [];
    let raw = null;
    const detail = el("div", { class: "detail" },
      el("h2", null, badge(kind), el("span", { text: s.name || "(unnamed)" }), isError(s) ? el("span", { class: "err", text: "error" }) : null),
      kvView(info),
      ...(err ? [el("h3", { text: "Error" }), el("div", { class: "error-box" },
        el("div", null, el("strong", { text: err.type || "error" }), " ", el("span", { text: err.message || "" })),
        err.stack ? el("pre", { text: err.stack }) : null)] : []),
      ...section("Input", ioView(m.input)),
      ...section("Output", ioView(m.output)),
      ...(prompt ? [el("h3", { text: "Prompt template" }),
        el("div", null, prompt.template ? el("pre", { text: prompt.template }) : null,
          prompt.chat_template ? messagesView(prompt.chat_template) : null,
          kvView(prompt.variables))] : []),
      ...(m.tool_definitions ? [el("h3", { text: "Tools offered" }),
        el("div", null, ...m.tool_definitions.map((t) => el("div", { class: "doc" },
          el("strong", { text: t.name }), t.description ? el("div", { class: "content", text: t.description }) : null)))] : []),
      ...section("Evaluations", evals.length ? el("div", { class: "evals" }, ...evals.map(evaluationView)) : null),
      ...section("Metrics", kvView(s.metrics)),
      ...section("Metadata", kvView(m.metadata)),
      ...section("Tags", (s.tags && s.tags.length) ? el("div", { class: "tags" }, ...s.tags.map((t) => el("span", { text: t }))) : null),
      el("button", {
        class: "raw-toggle", type: "button", text: "Raw JSON",
        onclick: function () {
          if (raw) { raw.remove(); raw = null; return; }
          raw = el("pre", { class: "raw", text: JSON.stringify(s, null, 2) });
          detail.appendChild(raw);
        },
      }));
    pane.appendChild(detail);
  }

  // --- Sessions -----------------------------------------------------------------------------
  function rootText(t, dir) {
    const io = t.root.meta && t.root.meta[dir];
    if (!io) return "";
    if (io.value != null) return text(io.value);
    const msgs = io.messages || [];
    const last = msgs.filter((mm) => mm.content).pop();
    return last ? last.content : "";
  }
  function renderSessions() {
    const list = clear($("trace-list"));
    const sessions = new Map();
    traces.forEach(function (t) {
      if (!t.session) return;
      if (!sessions.has(t.session)) sessions.set(t.session, []);
      sessions.get(t.session).push(t);
    });
    $("count").textContent = sessions.size + " sessions";
    Array.from(sessions.keys()).sort().forEach(function (id) {
      const ts = sessions.get(id);
      list.appendChild(el("div", {
        class: "trace-row session-row" + (state.session === id ? " selected" : ""), "data-session-id": id,
        onclick: function () { state.session = id; renderSessions(); renderConversation(ts); },
      }, el("div", { class: "name", text: id }),
        el("div", { class: "sub" }, el("span", { text: ts.length + " traces" }),
          el("span", { text: ts.reduce((n, t) => n + t.tokens, 0) + " tokens" }))));
    });
    if (!sessions.size) list.appendChild(el("div", { class: "empty", text: "No trace has a session" }));
  }
  function renderConversation(ts) {
    const pane = clear($("tree-pane"));
    clear($("detail-pane")).appendChild(el("div", { class: "empty", text: "Select a turn to open its trace" }));
    const view = el("div", { class: "session-view" });
    ts.slice().sort((a, b) => a.start - b.start).forEach(function (t) {
      view.appendChild(el("div", {
        class: "turn", "data-trace-id": t.id,
        onclick: function () { showTab("traces"); selectTrace(t); },
      },
        el("div", { class: "when", text: fmtTime(t.start) + " · " + t.root.name + (t.error ? " · error" : "") }),
        el("div", { class: "msg user" }, el("div", { class: "role", text: "input" }), el("div", { class: "content", text: rootText(t, "input") })),
        el("div", { class: "msg assistant" }, el("div", { class: "role", text: "output" }), el("div", { class: "content", text: rootText(t, "output") }))));
    });
    pane.appendChild(view);
  }

  function showTab(tab) {
    state.tab = tab;
    $("tab-traces").classList.toggle("active", tab === "traces");
    $("tab-sessions").classList.toggle("active", tab === "sessions");
    document.querySelector(".filters").style.display = tab === "traces" ? "" : "none";
    if (tab === "traces") { renderList(); renderTree(); if (state.span) selectSpan(state.span); }
    else { renderSessions(); clear($("tree-pane")).appendChild(el("div", { class: "empty", text: "Select a session" })); }
  }
  $("tab-traces").addEventListener("click", () => showTab("traces"));
  $("tab-sessions").addEventListener("click", () => showTab("sessions"));

  renderList();
  if (traces.length) selectTrace(traces[0]);
  document.body.setAttribute("data-ready", "1");
})();
