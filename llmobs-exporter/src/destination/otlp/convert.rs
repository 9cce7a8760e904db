//! Span records and evaluations as OTLP messages (`opentelemetry-proto`'s generated ones), with
//! the attributes of [`super::attributes`].
//!
//! Ids are the ones the Datadog destination sends (the 128-bit trace id, 64-bit span ids), so a
//! trace sent to both can be found in both.

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use serde_json::Value;

use llmobs_core::{EvaluationMetric, EvaluationValue, JoinOn, SpanEvent, SpanKind};

use super::attributes::{self, Attrs, Scratch};

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

fn strings(v: impl IntoIterator<Item = String>) -> any_value::Value {
    any_value::Value::ArrayValue(ArrayValue {
        values: v
            .into_iter()
            .map(|x| AnyValue { value: Some(s(x)) })
            .collect(),
    })
}

/// The attributes as generated messages (the OTLP/JSON protocol).
impl Attrs for Vec<KeyValue> {
    fn str(&mut self, key: &str, value: &str) {
        self.push(kv(key, s(value)));
    }
    fn text(&mut self, key: &str, value: &[u8]) {
        self.push(kv(key, s(String::from_utf8_lossy(value))));
    }
    fn int(&mut self, key: &str, value: i64) {
        self.push(kv(key, any_value::Value::IntValue(value)));
    }
    fn double(&mut self, key: &str, value: f64) {
        self.push(kv(key, any_value::Value::DoubleValue(value)));
    }
    fn strings(&mut self, key: &str, values: &[String]) {
        self.push(kv(key, strings(values.iter().cloned())));
    }
}

fn bytes16(v: u128) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn bytes8(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// One span record as an OTLP span message. The protobuf protocol writes the same message
/// straight into the request body ([`super::proto::write_span`]).
pub(crate) fn span(span: &SpanEvent, sc: &mut Scratch) -> Span {
    let mut attrs: Vec<KeyValue> = Vec::with_capacity(16);
    attributes::span_attributes(span, &mut attrs, sc);
    let mut events = Vec::new();
    let status = span.error.as_ref().map(|e| {
        let mut ex: Vec<KeyValue> = Vec::new();
        attributes::exception_attributes(e, &mut ex);
        events.push(span::Event {
            time_unix_nano: span.start_ns.saturating_add(span.duration_ns),
            name: "exception".into(),
            attributes: ex,
            dropped_attributes_count: 0,
        });
        Status {
            message: e.message.clone(),
            code: status::StatusCode::Error as i32,
        }
    });
    let mut name = String::new();
    attributes::span_name(span, &mut name);
    Span {
        trace_id: bytes16(span.trace_id.0),
        span_id: bytes8(span.span_id.0),
        parent_span_id: span.parent_id.map(|p| bytes8(p.0)).unwrap_or_default(),
        name,
        kind: otel_kind(span.kind) as i32,
        start_time_unix_nano: span.start_ns,
        end_time_unix_nano: span.start_ns.saturating_add(span.duration_ns),
        attributes: attrs,
        events,
        status,
        links: span
            .annotations()
            .span_links
            .iter()
            .map(|l| {
                let mut attributes: Vec<KeyValue> = Vec::new();
                attributes::link_attributes(l, &mut attributes);
                span::Link {
                    trace_id: bytes16(l.trace_id.0),
                    span_id: bytes8(l.span_id.0),
                    attributes,
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}

/// The OTLP span kind: model calls are clients of a remote model, the rest internal steps.
pub(crate) fn otel_kind(kind: SpanKind) -> span::SpanKind {
    match kind {
        SpanKind::Llm | SpanKind::Embedding => span::SpanKind::Client,
        _ => span::SpanKind::Internal,
    }
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
