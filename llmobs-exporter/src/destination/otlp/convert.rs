//! Span records and evaluations as OTLP messages, with the attributes of both conventions that
//! LLM backends read: the OpenTelemetry GenAI semantic conventions (`gen_ai.*`) and
//! OpenInference (`openinference.span.kind`, `llm.*`, `input.value`, ...). Datadog's OTLP intake
//! maps retrieval spans only from OpenInference, and Phoenix reads only OpenInference, while
//! Collectors and newer backends read GenAI: every span carries both (docs/otlp.md has the
//! table).
//!
//! Ids are the ones the Datadog destination sends (the 128-bit trace id, 64-bit span ids), so a
//! trace sent to both can be found in both.

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use serde_json::{json, Map, Value};

use llmobs_core::{
    Annotations, Document, EvaluationMetric, EvaluationValue, JoinOn, Message, SpanEvent, SpanIo,
    SpanKind,
};

/// The instrumentation scope of every span: this SDK.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "llmobs".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

pub(crate) fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn s(v: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn int(v: i64) -> any_value::Value {
    any_value::Value::IntValue(v)
}

fn strings(v: impl IntoIterator<Item = String>) -> any_value::Value {
    any_value::Value::ArrayValue(ArrayValue {
        values: v
            .into_iter()
            .map(|x| AnyValue { value: Some(s(x)) })
            .collect(),
    })
}

/// A JSON number as an OTLP integer when it is one, else a double.
fn number(n: &serde_json::Number) -> any_value::Value {
    match n.as_i64() {
        Some(i) => int(i),
        None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
    }
}

/// A count (tokens): an OTLP integer, as both conventions type it, when the metric is a whole
/// number (metrics are recorded as `f64`), else the number as it is.
fn count(n: &serde_json::Number) -> any_value::Value {
    match n.as_f64() {
        // The range of i64 that f64 represents exactly, and more than any token count.
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => int(f as i64),
        _ => number(n),
    }
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
/// name, the span's own name for the others.
fn span_name(span: &SpanEvent, a: &Annotations) -> String {
    let Some(op) = genai_operation(span.kind) else {
        return span.name.to_string();
    };
    let target = match span.kind {
        SpanKind::Llm | SpanKind::Embedding => a.model_name.as_deref(),
        _ => Some(span.name.as_str()),
    };
    match target {
        Some(t) if !t.is_empty() => format!("{op} {t}"),
        _ => op.to_owned(),
    }
}

fn bytes16(v: u128) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn bytes8(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// One span record as an OTLP span.
pub(crate) fn span(span: &SpanEvent) -> Span {
    let a = span.annotations();
    let mut attrs = Vec::with_capacity(16);
    let kind = span.kind;
    attrs.push(kv("openinference.span.kind", s(openinference_kind(kind))));
    if let Some(op) = genai_operation(kind) {
        attrs.push(kv("gen_ai.operation.name", s(op)));
    }
    // What the application called the span, whatever the GenAI name says.
    attrs.push(kv("llmobs.span.name", s(span.name.as_str())));
    attrs.push(kv("llmobs.span.kind", s(kind.as_str())));
    if let Some(ml_app) = &span.ml_app {
        attrs.push(kv("ml_app", s(ml_app.as_str())));
    }
    if let Some(session) = &span.session_id {
        attrs.push(kv("session.id", s(session.as_str())));
        attrs.push(kv("gen_ai.conversation.id", s(session.as_str())));
    }
    model(kind, a, &mut attrs);
    io(kind, a, &mut attrs);
    usage(a, &mut attrs);
    match kind {
        SpanKind::Tool => {
            attrs.push(kv("gen_ai.tool.name", s(span.name.as_str())));
            attrs.push(kv("tool.name", s(span.name.as_str())));
        }
        SpanKind::Agent => attrs.push(kv("gen_ai.agent.name", s(span.name.as_str()))),
        SpanKind::Workflow => attrs.push(kv("gen_ai.workflow.name", s(span.name.as_str()))),
        _ => {}
    }
    if let Some(agent) = &span.agent {
        if kind != SpanKind::Agent {
            attrs.push(kv("gen_ai.agent.id", s(agent.span_id.0.to_string())));
            if let Some(name) = &agent.name {
                attrs.push(kv("gen_ai.agent.name", s(name.as_str())));
            }
        }
    }
    if !a.metadata.is_empty() {
        attrs.push(kv(
            "metadata",
            s(Value::Object(a.metadata.clone()).to_string()),
        ));
    }
    if !a.tags.is_empty() {
        attrs.push(kv(
            "tag.tags",
            strings(a.tags.iter().map(|(k, v)| format!("{k}:{v}"))),
        ));
        if let Some(user) = a.tags.get("user_id").or_else(|| a.tags.get("user.id")) {
            attrs.push(kv("user.id", s(user.as_str())));
        }
    }
    if let Some(p) = &a.prompt {
        if let Some(t) = &p.template {
            attrs.push(kv("llm.prompt_template.template", s(t.as_str())));
        }
        if !p.variables.is_empty() {
            let vars: Map<String, Value> = p
                .variables
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            attrs.push(kv(
                "llm.prompt_template.variables",
                s(Value::Object(vars).to_string()),
            ));
        }
        if let Some(v) = &p.version {
            attrs.push(kv("llm.prompt_template.version", s(v.as_str())));
        }
    }
    for (i, t) in a.tool_definitions.iter().enumerate() {
        let schema = json!({
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.schema,
            }
        });
        attrs.push(kv(
            format!("llm.tools.{i}.tool.json_schema"),
            s(schema.to_string()),
        ));
    }
    let mut events = Vec::new();
    let status = match &span.error {
        None => None,
        Some(e) => {
            attrs.push(kv("error.type", s(e.kind.as_str())));
            let mut ex = vec![
                kv("exception.type", s(e.kind.as_str())),
                kv("exception.message", s(e.message.as_str())),
            ];
            if let Some(stack) = &e.stack {
                ex.push(kv("exception.stacktrace", s(stack.as_str())));
            }
            events.push(span::Event {
                time_unix_nano: span.start_ns.saturating_add(span.duration_ns),
                name: "exception".into(),
                attributes: ex,
                dropped_attributes_count: 0,
            });
            Some(Status {
                message: e.message.clone(),
                code: status::StatusCode::Error as i32,
            })
        }
    };
    let otel_kind = match kind {
        SpanKind::Llm | SpanKind::Embedding => span::SpanKind::Client,
        _ => span::SpanKind::Internal,
    };
    Span {
        trace_id: bytes16(span.trace_id.0),
        span_id: bytes8(span.span_id.0),
        parent_span_id: span.parent_id.map(|p| bytes8(p.0)).unwrap_or_default(),
        name: span_name(span, a),
        kind: otel_kind as i32,
        start_time_unix_nano: span.start_ns,
        end_time_unix_nano: span.start_ns.saturating_add(span.duration_ns),
        attributes: attrs,
        events,
        status,
        links: a
            .span_links
            .iter()
            .map(|l| span::Link {
                trace_id: bytes16(l.trace_id.0),
                span_id: bytes8(l.span_id.0),
                attributes: vec![
                    kv("llmobs.link.from", s(l.from.as_str())),
                    kv("llmobs.link.to", s(l.to.as_str())),
                ],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn model(kind: SpanKind, a: &Annotations, attrs: &mut Vec<KeyValue>) {
    if let Some(m) = &a.model_name {
        attrs.push(kv("gen_ai.request.model", s(m.as_str())));
        attrs.push(kv("gen_ai.response.model", s(m.as_str())));
        let key = if kind == SpanKind::Embedding {
            "embedding.model_name"
        } else {
            "llm.model_name"
        };
        attrs.push(kv(key, s(m.as_str())));
    }
    if let Some(p) = &a.model_provider {
        attrs.push(kv("gen_ai.provider.name", s(p.as_str())));
        attrs.push(kv("llm.provider", s(p.as_str())));
    }
}

/// Token counts: GenAI and OpenInference names for the metrics both define.
fn usage(a: &Annotations, attrs: &mut Vec<KeyValue>) {
    for (key, n) in a.metrics.iter() {
        let (genai, oi): (Option<&str>, Option<&str>) = match key.as_str() {
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
            (None, None) => attrs.push(kv(format!("llmobs.metrics.{key}"), number(n))),
            (g, o) => {
                let value = count(n);
                if let Some(g) = g {
                    attrs.push(kv(g, value.clone()));
                }
                if let Some(o) = o {
                    attrs.push(kv(o, value));
                }
            }
        }
    }
}

/// Input and output: `input.value`/`output.value` always; messages, documents and tool
/// arguments in the structured attributes of each convention.
fn io(kind: SpanKind, a: &Annotations, attrs: &mut Vec<KeyValue>) {
    for (dir, value) in [("input", &a.input), ("output", &a.output)] {
        let Some(value) = value else { continue };
        let (text, mime) = value_text(value);
        attrs.push(kv(format!("{dir}.value"), s(text.clone())));
        attrs.push(kv(format!("{dir}.mime_type"), s(mime)));
        match value {
            SpanIo::Messages(messages) => {
                oi_messages(dir, messages, attrs);
                let genai = if dir == "input" {
                    "gen_ai.input.messages"
                } else {
                    "gen_ai.output.messages"
                };
                attrs.push(kv(genai, s(genai_messages(messages, dir).to_string())));
            }
            SpanIo::Documents(docs) if kind == SpanKind::Embedding && dir == "input" => {
                for (i, d) in docs.iter().enumerate() {
                    attrs.push(kv(
                        format!("embedding.embeddings.{i}.embedding.text"),
                        s(d.text.as_str()),
                    ));
                }
            }
            SpanIo::Documents(docs) => {
                if dir == "output" {
                    documents(docs, attrs);
                }
            }
            SpanIo::Value(_) if kind == SpanKind::Tool => {
                let key = if dir == "input" {
                    "gen_ai.tool.call.arguments"
                } else {
                    "gen_ai.tool.call.result"
                };
                attrs.push(kv(key, s(text)));
            }
            SpanIo::Value(_) => {}
        }
    }
}

fn documents(docs: &[Document], attrs: &mut Vec<KeyValue>) {
    for (i, d) in docs.iter().enumerate() {
        let p = format!("retrieval.documents.{i}.document");
        attrs.push(kv(format!("{p}.content"), s(d.text.as_str())));
        if let Some(id) = &d.id {
            attrs.push(kv(format!("{p}.id"), s(id.as_str())));
        }
        if let Some(score) = d.score {
            attrs.push(kv(
                format!("{p}.score"),
                any_value::Value::DoubleValue(score),
            ));
        }
        if let Some(name) = &d.name {
            attrs.push(kv(
                format!("{p}.metadata"),
                s(json!({ "name": name }).to_string()),
            ));
        }
    }
}

/// The text of an input or output and its mime type: strings as they are, anything else as
/// JSON.
fn value_text(io: &SpanIo) -> (String, &'static str) {
    const JSON: &str = "application/json";
    match io {
        SpanIo::Value(Value::String(t)) => (t.clone(), "text/plain"),
        SpanIo::Value(v) => (v.to_string(), JSON),
        SpanIo::Messages(m) => (
            Value::Array(m.iter().map(message_json).collect()).to_string(),
            JSON,
        ),
        SpanIo::Documents(d) => (
            Value::Array(
                d.iter()
                    .map(
                        |d| json!({ "text": d.text, "id": d.id, "name": d.name, "score": d.score }),
                    )
                    .collect(),
            )
            .to_string(),
            JSON,
        ),
    }
}

fn message_json(m: &Message) -> Value {
    let mut o = Map::new();
    o.insert("role".into(), Value::String(m.role.to_string()));
    o.insert("content".into(), Value::String(m.content.clone()));
    o.into()
}

/// OpenInference's flattened messages: `llm.{input,output}_messages.{i}.message.*`.
fn oi_messages(dir: &str, messages: &[Message], attrs: &mut Vec<KeyValue>) {
    for (i, m) in messages.iter().enumerate() {
        let p = format!("llm.{dir}_messages.{i}.message");
        attrs.push(kv(format!("{p}.role"), s(m.role.as_str())));
        if !m.content.is_empty() {
            attrs.push(kv(format!("{p}.content"), s(m.content.as_str())));
        }
        for (j, c) in m.tool_calls.iter().enumerate() {
            let t = format!("{p}.tool_calls.{j}.tool_call");
            attrs.push(kv(format!("{t}.function.name"), s(c.name.as_str())));
            attrs.push(kv(
                format!("{t}.function.arguments"),
                s(c.arguments.to_string()),
            ));
            if let Some(id) = &c.tool_id {
                attrs.push(kv(format!("{t}.id"), s(id.as_str())));
            }
        }
        let result_id = m
            .tool_id
            .as_ref()
            .or_else(|| m.tool_results.first().and_then(|r| r.tool_id.as_ref()));
        if let Some(id) = result_id {
            attrs.push(kv(format!("{p}.tool_call_id"), s(id.as_str())));
        }
        if m.content.is_empty() {
            if let Some(r) = m.tool_results.first() {
                attrs.push(kv(format!("{p}.content"), s(r.result.as_str())));
            }
        }
    }
}

/// GenAI's messages: `[{"role", "parts": [{"type": "text" | "tool_call" |
/// "tool_call_response", ...}]}]`, output messages with a `finish_reason`.
fn genai_messages(messages: &[Message], dir: &str) -> Value {
    let list = messages
        .iter()
        .map(|m| {
            let mut parts = Vec::new();
            if !m.content.is_empty() {
                parts.push(json!({ "type": "text", "content": m.content }));
            }
            for c in &m.tool_calls {
                parts.push(json!({
                    "type": "tool_call",
                    "id": c.tool_id,
                    "name": c.name,
                    "arguments": c.arguments,
                }));
            }
            for r in &m.tool_results {
                parts.push(json!({
                    "type": "tool_call_response",
                    "id": r.tool_id.as_ref().or(m.tool_id.as_ref()),
                    "response": r.result,
                }));
            }
            let mut o = json!({ "role": m.role.as_str(), "parts": parts });
            if dir == "output" {
                let reason = if m.tool_calls.is_empty() {
                    "stop"
                } else {
                    "tool_call"
                };
                o["finish_reason"] = Value::String(reason.into());
            }
            o
        })
        .collect();
    Value::Array(list)
}

/// An evaluation as the GenAI `gen_ai.evaluation.result` event: a log record in the evaluated
/// span's context. `None` for an evaluation joined on a tag and for feedback, which names its
/// span by id alone or no span at all (no span context to put it in).
pub(crate) fn evaluation(metric: &EvaluationMetric) -> Option<LogRecord> {
    let JoinOn::Span(target) = &metric.join_on else {
        return None;
    };
    if metric.submitter.is_some() {
        return None;
    }
    let trace_id = u128::from_str_radix(&target.trace_id, 16).ok()?;
    let span_id: u64 = target.span_id.parse().ok()?;
    let mut attrs = vec![kv("gen_ai.evaluation.name", s(metric.label.as_str()))];
    match &metric.value {
        EvaluationValue::Score(n) => attrs.push(kv(
            "gen_ai.evaluation.score.value",
            any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        )),
        EvaluationValue::Categorical(c) | EvaluationValue::Text(c) => {
            attrs.push(kv("gen_ai.evaluation.score.label", s(c.as_str())))
        }
        EvaluationValue::Boolean(b) => attrs.push(kv(
            "gen_ai.evaluation.score.label",
            s(if *b { "true" } else { "false" }),
        )),
        EvaluationValue::Json(v) => {
            attrs.push(kv("gen_ai.evaluation.score.label", s(v.to_string())))
        }
    }
    if let Some(a) = &metric.assessment {
        // The label says pass or fail when the value itself is a number.
        if matches!(metric.value, EvaluationValue::Score(_)) {
            attrs.push(kv("gen_ai.evaluation.score.label", s(a.as_str())));
        }
    }
    if let Some(r) = &metric.reasoning {
        attrs.push(kv("gen_ai.evaluation.explanation", s(r.as_str())));
    }
    if !metric.tags.is_empty() {
        attrs.push(kv("tag.tags", strings(metric.tags.iter().cloned())));
    }
    if let Some(m) = &metric.metadata {
        attrs.push(kv("metadata", s(Value::Object(m.clone()).to_string())));
    }
    let time = metric.timestamp_ms.saturating_mul(1_000_000);
    Some(LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        event_name: "gen_ai.evaluation.result".into(),
        trace_id: bytes16(trace_id),
        span_id: bytes8(span_id),
        attributes: attrs,
        ..Default::default()
    })
}
