//! The attributes of a span, in both conventions that LLM backends read: the OpenTelemetry
//! GenAI semantic conventions (`gen_ai.*`) and OpenInference (`openinference.span.kind`,
//! `llm.*`, `input.value`, ...). Datadog's OTLP intake maps retrieval spans only from
//! OpenInference, and Phoenix reads only OpenInference, while Collectors and newer backends read
//! GenAI: every span carries both (docs/otlp.md has the table).
//!
//! The attributes are handed to an [`Attrs`], one by one, as borrowed text: the protobuf writer
//! ([`super::proto`]) copies them straight into the request body, the message builder
//! ([`super::convert`], for OTLP/JSON) into generated messages. Keys that carry an index and
//! JSON-valued attributes are formatted into [`Scratch`] buffers that live as long as the
//! destination, so a span's attributes allocate nothing once the buffers have grown.

use std::fmt::Write as _;

use llmobs_core::{
    Annotations, Document, Message, SpanError, SpanEvent, SpanIo, SpanKind, SpanLink,
};
use serde_json::Value;

/// Where a span's attributes go.
pub(crate) trait Attrs {
    /// A string attribute.
    fn str(&mut self, key: &str, value: &str);
    /// A string attribute whose UTF-8 text this module wrote (JSON).
    fn text(&mut self, key: &str, value: &[u8]);
    /// An integer attribute.
    fn int(&mut self, key: &str, value: i64);
    /// A floating-point attribute.
    fn double(&mut self, key: &str, value: f64);
    /// An attribute holding a list of strings.
    fn strings(&mut self, key: &str, values: &[String]);
}

/// Buffers reused from span to span.
#[derive(Default)]
pub(crate) struct Scratch {
    key: String,
    json: Vec<u8>,
    text: Vec<u8>,
    tags: Vec<String>,
}

/// `args` formatted into `buf`.
fn key<'b>(buf: &'b mut String, args: std::fmt::Arguments<'_>) -> &'b str {
    buf.clear();
    let _ = buf.write_fmt(args);
    buf.as_str()
}

/// The OpenInference span kind.
pub(crate) fn openinference_kind(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Llm => "LLM",
        SpanKind::Embedding => "EMBEDDING",
        SpanKind::Agent => "AGENT",
        SpanKind::Tool => "TOOL",
        SpanKind::Retrieval => "RETRIEVER",
        // Workflow, task and any kind added later: a step in a chain.
        _ => "CHAIN",
    }
}

/// The GenAI operation (`gen_ai.operation.name`), for the kinds the conventions name.
pub(crate) fn genai_operation(kind: SpanKind) -> Option<&'static str> {
    match kind {
        SpanKind::Llm => Some("chat"),
        SpanKind::Embedding => Some("embeddings"),
        SpanKind::Tool => Some("execute_tool"),
        SpanKind::Agent => Some("invoke_agent"),
        SpanKind::Workflow => Some("invoke_workflow"),
        // Not `retrieval`: Datadog's OTLP intake reads `gen_ai.operation.name` before
        // `openinference.span.kind`, and maps the GenAI retrieval operation to a workflow; only
        // OpenInference's RETRIEVER becomes a retrieval span.
        _ => None,
    }
}

/// The span's name: the GenAI form (`{operation} {model or name}`) for the kinds the conventions
/// name, the span's own name for the others; written into `buf`.
pub(crate) fn span_name<'b>(span: &SpanEvent, buf: &'b mut String) -> &'b str {
    buf.clear();
    let Some(op) = genai_operation(span.kind) else {
        buf.push_str(&span.name);
        return buf;
    };
    let target = match span.kind {
        SpanKind::Llm | SpanKind::Embedding => span.annotations().model_name.as_deref(),
        _ => Some(span.name.as_str()),
    };
    buf.push_str(op);
    if let Some(t) = target.filter(|t| !t.is_empty()) {
        buf.push(' ');
        buf.push_str(t);
    }
    buf
}

/// The attributes of a failed span's `exception` event (the OpenTelemetry exception
/// conventions).
pub(crate) fn exception_attributes(e: &SpanError, out: &mut dyn Attrs) {
    out.str("exception.type", e.kind.as_str());
    out.str("exception.message", e.message.as_str());
    if let Some(stack) = &e.stack {
        out.str("exception.stacktrace", stack.as_str());
    }
}

/// The attributes of a span link: which side of each span it joins.
pub(crate) fn link_attributes(l: &SpanLink, out: &mut dyn Attrs) {
    out.str("llmobs.link.from", l.from.as_str());
    out.str("llmobs.link.to", l.to.as_str());
}

/// The JSON schema attribute of a tool definition (OpenInference's
/// `llm.tools.{i}.tool.json_schema`), written from borrowed fields in the order a JSON object
/// sorts its keys.
#[derive(serde::Serialize)]
struct ToolSchema<'a> {
    function: ToolFunction<'a>,
    r#type: &'static str,
}

#[derive(serde::Serialize)]
struct ToolFunction<'a> {
    description: &'a Option<String>,
    name: &'a str,
    parameters: &'a Option<Value>,
}

/// Every attribute of the span, in order.
pub(crate) fn span_attributes(span: &SpanEvent, out: &mut dyn Attrs, sc: &mut Scratch) {
    let a = span.annotations();
    let kind = span.kind;
    out.str("openinference.span.kind", openinference_kind(kind));
    if let Some(op) = genai_operation(kind) {
        out.str("gen_ai.operation.name", op);
    }
    // What the application called the span, whatever the GenAI name says.
    out.str("llmobs.span.name", span.name.as_str());
    out.str("llmobs.span.kind", kind.as_str());
    if let Some(ml_app) = &span.ml_app {
        out.str("ml_app", ml_app.as_str());
    }
    if let Some(session) = &span.session_id {
        out.str("session.id", session.as_str());
        out.str("gen_ai.conversation.id", session.as_str());
    }
    model(kind, a, out);
    io(kind, a, out, sc);
    usage(a, out, sc);
    match kind {
        SpanKind::Tool => {
            out.str("gen_ai.tool.name", span.name.as_str());
            out.str("tool.name", span.name.as_str());
        }
        SpanKind::Agent => out.str("gen_ai.agent.name", span.name.as_str()),
        SpanKind::Workflow => out.str("gen_ai.workflow.name", span.name.as_str()),
        _ => {}
    }
    if let Some(agent) = &span.agent {
        if kind != SpanKind::Agent {
            out.str(
                "gen_ai.agent.id",
                key(&mut sc.key, format_args!("{}", agent.span_id.0)),
            );
            if let Some(name) = &agent.name {
                out.str("gen_ai.agent.name", name.as_str());
            }
        }
    }
    if !a.metadata.is_empty() {
        sc.json.clear();
        let _ = serde_json::to_writer(&mut sc.json, &a.metadata);
        out.text("metadata", &sc.json);
    }
    if !a.tags.is_empty() {
        // `key:value` written over the strings of the last span's tags, keeping their memory.
        sc.tags.resize_with(a.tags.len(), String::new);
        for (t, (k, v)) in sc.tags.iter_mut().zip(a.tags.iter()) {
            t.clear();
            let _ = write!(t, "{k}:{v}");
        }
        out.strings("tag.tags", &sc.tags);
        if let Some(user) = a.tags.get("user_id").or_else(|| a.tags.get("user.id")) {
            out.str("user.id", user.as_str());
        }
    }
    if let Some(p) = &a.prompt {
        if let Some(t) = &p.template {
            out.str("llm.prompt_template.template", t.as_str());
        }
        if !p.variables.is_empty() {
            sc.json.clear();
            let _ = serde_json::to_writer(&mut sc.json, &p.variables);
            out.text("llm.prompt_template.variables", &sc.json);
        }
        if let Some(v) = &p.version {
            out.str("llm.prompt_template.version", v.as_str());
        }
    }
    for (i, t) in a.tool_definitions.iter().enumerate() {
        let schema = ToolSchema {
            function: ToolFunction {
                description: &t.description,
                name: &t.name,
                parameters: &t.schema,
            },
            r#type: "function",
        };
        sc.json.clear();
        let _ = serde_json::to_writer(&mut sc.json, &schema);
        out.text(
            key(&mut sc.key, format_args!("llm.tools.{i}.tool.json_schema")),
            &sc.json,
        );
    }
    if let Some(e) = &span.error {
        out.str("error.type", e.kind.as_str());
    }
}

fn model(kind: SpanKind, a: &Annotations, out: &mut dyn Attrs) {
    if let Some(m) = &a.model_name {
        out.str("gen_ai.request.model", m.as_str());
        out.str("gen_ai.response.model", m.as_str());
        let key = if kind == SpanKind::Embedding {
            "embedding.model_name"
        } else {
            "llm.model_name"
        };
        out.str(key, m.as_str());
    }
    if let Some(p) = &a.model_provider {
        out.str("gen_ai.provider.name", p.as_str());
        out.str("llm.provider", p.as_str());
    }
}

/// A JSON number as an OTLP integer when it is one, else a double.
fn number(out: &mut dyn Attrs, key: &str, n: &serde_json::Number) {
    match n.as_i64() {
        Some(i) => out.int(key, i),
        None => out.double(key, n.as_f64().unwrap_or(0.0)),
    }
}

/// A count (tokens): an OTLP integer, as both conventions type it, when the metric is a whole
/// number (metrics are recorded as `f64`), else the number as it is.
fn count(out: &mut dyn Attrs, key: &str, n: &serde_json::Number) {
    match n.as_f64() {
        // The range of i64 that f64 represents exactly, and more than any token count.
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => out.int(key, f as i64),
        _ => number(out, key, n),
    }
}

/// Token counts: GenAI and OpenInference names for the metrics both define.
fn usage(a: &Annotations, out: &mut dyn Attrs, sc: &mut Scratch) {
    for (name, n) in a.metrics.iter() {
        let (genai, oi): (Option<&str>, Option<&str>) = match name.as_str() {
            "input_tokens" => (
                Some("gen_ai.usage.input_tokens"),
                Some("llm.token_count.prompt"),
            ),
            "output_tokens" => (
                Some("gen_ai.usage.output_tokens"),
                Some("llm.token_count.completion"),
            ),
            "total_tokens" => (None, Some("llm.token_count.total")),
            "cache_read_input_tokens" => (
                Some("gen_ai.usage.cache_read.input_tokens"),
                Some("llm.token_count.prompt_details.cache_read"),
            ),
            "cache_write_input_tokens" => (
                Some("gen_ai.usage.cache_creation.input_tokens"),
                Some("llm.token_count.prompt_details.cache_write"),
            ),
            "reasoning_output_tokens" => (
                Some("gen_ai.usage.reasoning.output_tokens"),
                Some("llm.token_count.completion_details.reasoning"),
            ),
            _ => (None, None),
        };
        match (genai, oi) {
            (None, None) => number(
                out,
                key(
                    &mut sc.key,
                    format_args!("llmobs.metrics.{}", name.as_str()),
                ),
                n,
            ),
            (g, o) => {
                if let Some(g) = g {
                    count(out, g, n);
                }
                if let Some(o) = o {
                    count(out, o, n);
                }
            }
        }
    }
}

/// Input and output: `input.value`/`output.value` always; messages, documents and tool
/// arguments in the structured attributes of each convention.
fn io(kind: SpanKind, a: &Annotations, out: &mut dyn Attrs, sc: &mut Scratch) {
    for (dir, value) in [("input", &a.input), ("output", &a.output)] {
        let Some(value) = value else { continue };
        let (value_key, mime_key) = if dir == "input" {
            ("input.value", "input.mime_type")
        } else {
            ("output.value", "output.mime_type")
        };
        let mime = value_text(value, &mut sc.text);
        out.text(value_key, value_bytes(value, &sc.text));
        out.str(mime_key, mime);
        match value {
            SpanIo::Messages(messages) => {
                oi_messages(dir, messages, out, sc);
                let genai = if dir == "input" {
                    "gen_ai.input.messages"
                } else {
                    "gen_ai.output.messages"
                };
                sc.json.clear();
                genai_messages(messages, dir, &mut sc.json);
                out.text(genai, &sc.json);
            }
            SpanIo::Documents(docs) if kind == SpanKind::Embedding && dir == "input" => {
                for (i, d) in docs.iter().enumerate() {
                    out.str(
                        key(
                            &mut sc.key,
                            format_args!("embedding.embeddings.{i}.embedding.text"),
                        ),
                        d.text.as_str(),
                    );
                }
            }
            SpanIo::Documents(docs) => {
                if dir == "output" {
                    documents(docs, out, sc);
                }
            }
            SpanIo::Value(_) if kind == SpanKind::Tool => {
                let k = if dir == "input" {
                    "gen_ai.tool.call.arguments"
                } else {
                    "gen_ai.tool.call.result"
                };
                out.text(k, value_bytes(value, &sc.text));
            }
            SpanIo::Value(_) => {}
        }
    }
}

fn documents(docs: &[Document], out: &mut dyn Attrs, sc: &mut Scratch) {
    for (i, d) in docs.iter().enumerate() {
        let p = format_args!("retrieval.documents.{i}.document");
        out.str(
            key(&mut sc.key, format_args!("{p}.content")),
            d.text.as_str(),
        );
        if let Some(id) = &d.id {
            out.str(key(&mut sc.key, format_args!("{p}.id")), id.as_str());
        }
        if let Some(score) = d.score {
            out.double(key(&mut sc.key, format_args!("{p}.score")), score);
        }
        if let Some(name) = &d.name {
            sc.json.clear();
            sc.json.extend_from_slice(b"{\"name\":");
            let _ = serde_json::to_writer(&mut sc.json, name.as_str());
            sc.json.push(b'}');
            out.text(key(&mut sc.key, format_args!("{p}.metadata")), &sc.json);
        }
    }
}

/// The text of an input or output: a string value itself, else what [`value_text`] wrote.
fn value_bytes<'a>(io: &'a SpanIo, written: &'a [u8]) -> &'a [u8] {
    match io {
        SpanIo::Value(Value::String(t)) => t.as_bytes(),
        _ => written,
    }
}

/// Returns the mime type of an input or output and, unless it is a string (sent as it is),
/// writes its JSON text into `buf`.
fn value_text(io: &SpanIo, buf: &mut Vec<u8>) -> &'static str {
    const JSON: &str = "application/json";
    buf.clear();
    match io {
        SpanIo::Value(Value::String(_)) => "text/plain",
        SpanIo::Value(v) => {
            let _ = serde_json::to_writer(&mut *buf, v);
            JSON
        }
        SpanIo::Messages(m) => {
            // `[{"content", "role"}, ...]`, keys sorted as a JSON object's are.
            buf.push(b'[');
            for (i, m) in m.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(b"{\"content\":");
                json_str(buf, &m.content);
                buf.extend_from_slice(b",\"role\":");
                json_str(buf, m.role.as_str());
                buf.push(b'}');
            }
            buf.push(b']');
            JSON
        }
        SpanIo::Documents(d) => {
            // `[{"id", "name", "score", "text"}, ...]`, absent ones as `null`.
            buf.push(b'[');
            for (i, d) in d.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(b"{\"id\":");
                json_opt_str(buf, d.id.as_deref());
                buf.extend_from_slice(b",\"name\":");
                json_opt_str(buf, d.name.as_deref());
                buf.extend_from_slice(b",\"score\":");
                let _ = serde_json::to_writer(&mut *buf, &d.score);
                buf.extend_from_slice(b",\"text\":");
                json_str(buf, &d.text);
                buf.push(b'}');
            }
            buf.push(b']');
            JSON
        }
    }
}

fn json_str(buf: &mut Vec<u8>, s: &str) {
    crate::json_text::quoted_utf8(buf, s);
}

fn json_opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

/// OpenInference's flattened messages: `llm.{input,output}_messages.{i}.message.*`.
fn oi_messages(dir: &str, messages: &[Message], out: &mut dyn Attrs, sc: &mut Scratch) {
    let kb = &mut sc.key;
    for (i, m) in messages.iter().enumerate() {
        let p = format_args!("llm.{dir}_messages.{i}.message");
        out.str(key(kb, format_args!("{p}.role")), m.role.as_str());
        if !m.content.is_empty() {
            out.str(key(kb, format_args!("{p}.content")), m.content.as_str());
        }
        for (j, c) in m.tool_calls.iter().enumerate() {
            let t = format_args!("{p}.tool_calls.{j}.tool_call");
            out.str(key(kb, format_args!("{t}.function.name")), c.name.as_str());
            sc.json.clear();
            let _ = serde_json::to_writer(&mut sc.json, &c.arguments);
            out.text(key(kb, format_args!("{t}.function.arguments")), &sc.json);
            if let Some(id) = &c.tool_id {
                out.str(key(kb, format_args!("{t}.id")), id.as_str());
            }
        }
        let result_id = m
            .tool_id
            .as_ref()
            .or_else(|| m.tool_results.first().and_then(|r| r.tool_id.as_ref()));
        if let Some(id) = result_id {
            out.str(key(kb, format_args!("{p}.tool_call_id")), id.as_str());
        }
        if m.content.is_empty() {
            if let Some(r) = m.tool_results.first() {
                out.str(key(kb, format_args!("{p}.content")), r.result.as_str());
            }
        }
    }
}

/// GenAI's messages: `[{"role", "parts": [{"type": "text" | "tool_call" |
/// "tool_call_response", ...}]}]`, output messages with a `finish_reason`; keys sorted as a
/// JSON object's are.
fn genai_messages(messages: &[Message], dir: &str, buf: &mut Vec<u8>) {
    buf.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.push(b'{');
        if dir == "output" {
            buf.extend_from_slice(if m.tool_calls.is_empty() {
                b"\"finish_reason\":\"stop\","
            } else {
                b"\"finish_reason\":\"tool_call\","
            });
        }
        buf.extend_from_slice(b"\"parts\":[");
        let mut first = true;
        let mut sep = |buf: &mut Vec<u8>| {
            if !std::mem::replace(&mut first, false) {
                buf.push(b',');
            }
        };
        if !m.content.is_empty() {
            sep(buf);
            buf.extend_from_slice(b"{\"content\":");
            json_str(buf, &m.content);
            buf.extend_from_slice(b",\"type\":\"text\"}");
        }
        for c in &m.tool_calls {
            sep(buf);
            buf.extend_from_slice(b"{\"arguments\":");
            let _ = serde_json::to_writer(&mut *buf, &c.arguments);
            buf.extend_from_slice(b",\"id\":");
            json_opt_str(buf, c.tool_id.as_deref());
            buf.extend_from_slice(b",\"name\":");
            json_str(buf, &c.name);
            buf.extend_from_slice(b",\"type\":\"tool_call\"}");
        }
        for r in &m.tool_results {
            sep(buf);
            buf.extend_from_slice(b"{\"id\":");
            json_opt_str(buf, r.tool_id.as_deref().or(m.tool_id.as_deref()));
            buf.extend_from_slice(b",\"response\":");
            json_str(buf, &r.result);
            buf.extend_from_slice(b",\"type\":\"tool_call_response\"}");
        }
        buf.extend_from_slice(b"],\"role\":");
        json_str(buf, m.role.as_str());
        buf.push(b'}');
    }
    buf.push(b']');
}
