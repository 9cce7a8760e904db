//! Span events and evaluation metrics as the intake receives them from the reference SDK.
//!
//! Every byte goes through the core's Python-layout formatter (sorted keys, `", "`/`": "`,
//! ASCII escapes), because event sizes are measured on that text and because identical bytes
//! make captured reference payloads directly comparable with ours.

use std::collections::BTreeMap;

use llmobs_core::json::write_python_json;
use llmobs_core::{
    EvaluationMetric, EvaluationValue, JoinOn, Prompt, SpanEvent, SpanKind, TraceId,
};
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::payload::{Framing, PayloadKind};
use crate::sampling::{Decision, Sampler};

mod direct;

/// What replaces `meta.input` and `meta.output` of an event over the size limit.
pub const DROPPED_VALUE_TEXT: &str =
    "[This value has been dropped because this span's size exceeds the 5MB size limit.]";
/// The `collection_errors` entry of a truncated event.
pub const DROPPED_IO_COLLECTION_ERROR: &str = "dropped_io";
/// Sent as `_dd.tracer_version` in every span wrapper.
pub const TRACER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Turns spans and evaluations into intake JSON, with the settings that are the same for every
/// span (tags, ml_app, sampling, size limit) computed once.
#[derive(Debug, Clone)]
pub struct Encoder {
    base_tags: BTreeMap<String, String>,
    default_ml_app: String,
    pub(crate) sampler: Sampler,
    event_size_limit: usize,
    /// The tag list of a span that adds no tags of its own, without and with `decorator:1`:
    /// most spans, whose tags then cost a copy instead of a merge and a sort.
    plain_tags: [Vec<u8>; 2],
}

/// One encoded span event, ready to be wrapped into a payload.
#[derive(Debug)]
pub struct EncodedSpan {
    /// The event's JSON text.
    pub json: Vec<u8>,
    /// Whether input and output were dropped for size.
    pub truncated: bool,
}

impl Encoder {
    /// An encoder for the given settings.
    pub fn new(config: &Config) -> Self {
        let mut base_tags: BTreeMap<String, String> = config.tags.iter().cloned().collect();
        base_tags.insert("version".into(), config.version.clone().unwrap_or_default());
        base_tags.insert("env".into(), config.env.clone().unwrap_or_default());
        base_tags.insert("service".into(), config.service.clone().unwrap_or_default());
        base_tags.insert("source".into(), "integration".into());
        base_tags.insert("language".into(), "rust".into());
        let mut encoder = Encoder {
            base_tags,
            default_ml_app: config.resolved_ml_app(),
            sampler: Sampler::new(config.sample_rate, &config.sampling_rules),
            event_size_limit: config.event_size_bytes,
            plain_tags: Default::default(),
        };
        encoder.plain_tags = [false, true].map(|decorator| {
            let mut span = SpanEvent::new(SpanKind::Task, "", TraceId(0), llmobs_core::SpanId(0));
            span.decorator = decorator;
            let mut tags = Vec::new();
            encoder.write_tags(&span, &encoder.default_ml_app, &mut tags);
            tags
        });
        encoder
    }

    /// The ml_app a span is reported under.
    pub fn ml_app_of<'a>(&'a self, span: &'a SpanEvent) -> &'a str {
        span.ml_app.as_deref().unwrap_or(&self.default_ml_app)
    }

    /// The decision at the global rate, deterministic on the APM trace id as in APM sampling,
    /// so every span of a trace gets the same one.
    #[cfg(test)]
    fn sampled(&self, apm_trace_id: TraceId) -> bool {
        self.sampler.global(apm_trace_id).keep
    }

    /// The event's JSON text, with input and output dropped when it reaches the size limit.
    pub fn encode_span(&self, span: &SpanEvent) -> EncodedSpan {
        let mut json = Vec::with_capacity(1024);
        let truncated = self.encode_span_into(span, &mut json);
        EncodedSpan { json, truncated }
    }

    /// Appends the event's JSON text to `out` (the same bytes as [`Encoder::encode_span`]);
    /// returns whether input and output were dropped for size.
    ///
    /// The event is written straight from the span in key-sorted order, so no intermediate
    /// tree is built and its size is the bytes written. An event that reaches the limit is
    /// written again with its input and output replaced, as the reference does.
    pub fn encode_span_into(&self, span: &SpanEvent, out: &mut Vec<u8>) -> bool {
        self.encode_sampled_into(span, self.sampler.global(span.apm_trace_id), out)
    }

    /// [`Encoder::encode_span_into`] with the trace's sampling decision made by the rules.
    pub(crate) fn encode_sampled_into(
        &self,
        span: &SpanEvent,
        sampling: Decision<'_>,
        out: &mut Vec<u8>,
    ) -> bool {
        let start = out.len();
        self.write_span(span, sampling, false, out);
        let written = out.len() - start;
        if written < self.event_size_limit {
            return false;
        }
        out.truncate(start);
        log::warn!(
            "llmobs: dropping event input/output because its size ({written}) exceeds the event size limit ({} bytes)",
            self.event_size_limit
        );
        self.write_span(span, sampling, true, out);
        true
    }

    /// One metric object of the eval-metric payload: an evaluation, or a feedback when the
    /// metric has a submitter (its target a top-level field, no scope, join or metadata).
    fn eval_value(&self, m: &EvaluationMetric) -> Value {
        let mut o = Map::new();
        match &m.submitter {
            Some(submitter) => {
                o.insert("event_kind".into(), "feedback".into());
                let mut who = Map::new();
                who.insert("id".into(), submitter.id.clone().into());
                if let Some(kind) = &submitter.kind {
                    who.insert("type".into(), kind.clone().into());
                }
                o.insert("submitter".into(), Value::Object(who));
            }
            None => {
                o.insert("eval_scope".into(), m.eval_scope.as_str().into());
                o.insert("event_kind".into(), "evaluation".into());
            }
        }
        match &m.join_on {
            JoinOn::Span(s) if m.submitter.is_some() => {
                o.insert("span_id".into(), s.span_id.clone().into());
            }
            JoinOn::Span(s) => {
                o.insert(
                    "join_on".into(),
                    json!({"span": {"span_id": s.span_id, "trace_id": s.trace_id}}),
                );
            }
            JoinOn::Tag { key, value } => {
                o.insert(
                    "join_on".into(),
                    json!({"tag": {"key": key, "value": value}}),
                );
            }
            JoinOn::SpanId(id) => {
                o.insert("span_id".into(), id.clone().into());
            }
            JoinOn::TraceId(id) => {
                o.insert("trace_id".into(), id.clone().into());
            }
            JoinOn::SessionId(id) => {
                o.insert("session_id".into(), id.clone().into());
            }
            JoinOn::FeedbackJoinKey(id) => {
                o.insert("feedback_join_key".into(), id.clone().into());
            }
        }
        o.insert("label".into(), m.label.clone().into());
        let kind = m.value.metric_type();
        o.insert("metric_type".into(), kind.into());
        let value = match &m.value {
            EvaluationValue::Score(n) => Value::Number(n.clone()),
            EvaluationValue::Categorical(s) | EvaluationValue::Text(s) => Value::String(s.clone()),
            EvaluationValue::Boolean(b) => Value::Bool(*b),
            EvaluationValue::Json(v) => v.clone(),
        };
        o.insert(format!("{kind}_value"), value);
        o.insert("ml_app".into(), m.ml_app.clone().into());
        o.insert("tags".into(), to_value(&m.tags));
        o.insert("timestamp_ms".into(), m.timestamp_ms.into());
        if let Some(a) = m.assessment {
            o.insert("assessment".into(), a.as_str().into());
        }
        if let Some(r) = &m.reasoning {
            o.insert("reasoning".into(), r.clone().into());
        }
        if let Some(md) = &m.metadata {
            o.insert("metadata".into(), Value::Object(md.clone()));
        }
        Value::Object(o)
    }

    /// The metric's JSON text.
    pub fn encode_eval(&self, m: &EvaluationMetric) -> Vec<u8> {
        python_json(&self.eval_value(m))
    }
}

/// How the intake's payloads join events: spans each in the reference's wrapper, in a list;
/// evaluations in one `eval-metric` object.
pub(crate) fn framing(kind: PayloadKind) -> Framing {
    let (prefix, item_prefix, item_suffix, suffix) = match kind {
        PayloadKind::Evaluations => (
            r#"{"data": {"attributes": {"metrics": ["#.to_owned(),
            String::new(),
            "",
            r#"]}, "type": "evaluation_metric"}}"#,
        ),
        _ => (
            "[".to_owned(),
            // Keys in sorted order.
            format!(
                r#"{{"_dd.stage": "raw", "_dd.tracer_version": "{TRACER_VERSION}", "event_type": "span", "spans": ["#
            ),
            "]}",
            "]",
        ),
    };
    Framing {
        prefix: prefix.into_bytes(),
        separator: b", ".to_vec(),
        item_prefix: item_prefix.into_bytes(),
        item_suffix: item_suffix.as_bytes().to_vec(),
        suffix: suffix.as_bytes().to_vec(),
    }
}

fn python_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    // Writing a `Value` into memory cannot fail.
    let _ = write_python_json(&mut out, v);
    out
}

fn to_value<T: serde::Serialize + ?Sized>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn prompt_value(p: &Prompt, ml_app: &str) -> Value {
    let mut o = Map::new();
    let keys = |v: &Option<Vec<String>>, default: &str| match v {
        Some(list) => to_value(list),
        None => json!([default]),
    };
    o.insert(
        "_dd_context_variable_keys".into(),
        keys(&p.context_variables, "context"),
    );
    o.insert(
        "_dd_query_variable_keys".into(),
        keys(&p.query_variables, "question"),
    );
    o.insert(
        "id".into(),
        p.id.clone()
            .unwrap_or_else(|| format!("{ml_app}_unnamed-prompt"))
            .into(),
    );
    o.insert("ml_app".into(), ml_app.into());
    if !p.tags.is_empty() {
        o.insert("tags".into(), to_value(&p.tags));
    }
    if let Some(t) = &p.template {
        o.insert("template".into(), t.clone().into());
    }
    if let Some(t) = &p.chat_template {
        o.insert("chat_template".into(), to_value(t));
    }
    if !p.variables.is_empty() {
        o.insert("variables".into(), to_value(&p.variables));
    }
    if let Some(v) = &p.version {
        o.insert("version".into(), v.clone().into());
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::format_rate;
    use llmobs_core::{Message, SpanId, SpanIo, SpanKind};

    fn value_of(enc: &Encoder, span: &SpanEvent) -> Value {
        serde_json::from_slice(&enc.encode_span(span).json).expect("JSON")
    }

    #[test]
    fn rate_format_matches_reference() {
        assert_eq!(format_rate(1.0), "1");
        assert_eq!(format_rate(0.0), "0");
        assert_eq!(format_rate(0.5), "0.5");
        assert_eq!(format_rate(0.123456789), "0.123457");
    }

    #[test]
    fn sampling_is_all_or_nothing_at_the_bounds() {
        let all = Encoder::new(&Config::default());
        let none = Encoder::new(&Config::default().sample_rate(0.0));
        for i in 1..50u128 {
            let id = TraceId(i * 0x9e37_79b9_7f4a_7c15);
            assert!(all.sampled(id));
            assert!(!none.sampled(id));
        }
    }

    #[test]
    fn prompt_defaults_and_drop_on_non_llm() {
        let enc = Encoder::new(&Config::default().ml_app("furnish-hub"));
        let mut llm = SpanEvent::new(SpanKind::Llm, "chat", TraceId(1 << 100), SpanId(7));
        llm.annotations_mut().input = Some(SpanIo::Messages(vec![Message::user("hi")]));
        llm.annotations_mut().prompt = Some(Prompt::chat_template([Message::system(
            "You are {{persona}}",
        )]));
        llm.annotations_mut().prompt_annotated = true;
        let v = value_of(&enc, &llm);
        let p = &v["meta"]["input"]["prompt"];
        assert_eq!(p["id"], "furnish-hub_unnamed-prompt");
        assert_eq!(p["_dd_context_variable_keys"], json!(["context"]));
        assert_eq!(p["_dd_query_variable_keys"], json!(["question"]));
        assert_eq!(p["chat_template"][0]["role"], "system");
        assert_eq!(v["meta"]["input"]["messages"][0]["content"], "hi");

        let mut task = SpanEvent::new(SpanKind::Task, "t", TraceId(1 << 100), SpanId(8));
        task.annotations_mut().prompt = Some(Prompt::template("x"));
        task.annotations_mut().prompt_annotated = true;
        let v = value_of(&enc, &task);
        assert!(v["meta"].get("input").is_none());
        let tags = v["tags"].as_array().expect("tags");
        assert!(tags
            .iter()
            .any(|t| t == "prompt_tracking_instrumentation_method:annotated"));
    }

    #[test]
    fn truncates_at_the_event_limit() {
        let enc = Encoder::new(&Config::default().event_size_bytes(1000));
        let mut span = SpanEvent::new(SpanKind::Task, "big", TraceId(1 << 100), SpanId(9));
        span.annotations_mut().input = Some(SpanIo::Value("x".repeat(2000).into()));
        span.annotations_mut().metadata.insert("m".into(), 1.into());
        let e = enc.encode_span(&span);
        assert!(e.truncated);
        let v: Value = serde_json::from_slice(&e.json).expect("json");
        assert_eq!(v["meta"]["input"]["value"], DROPPED_VALUE_TEXT);
        assert_eq!(v["meta"]["output"]["value"], DROPPED_VALUE_TEXT);
        assert_eq!(v["collection_errors"], json!(["dropped_io"]));
        assert_eq!(v["meta"]["metadata"], json!({"m": 1}));
        span.annotations_mut().input = Some(SpanIo::Value("small".into()));
        assert!(!enc.encode_span(&span).truncated);
    }

    #[test]
    fn tool_definitions_attribution_errors_and_tag_order() {
        use llmobs_core::{AgentAttribution, SpanError, ToolDefinition};
        let enc = Encoder::new(&Config::default().tag("a_b", "1").tag("a", "2"));
        let mut llm = SpanEvent::new(SpanKind::Llm, "chat", TraceId(1 << 100), SpanId(7));
        llm.annotations_mut().tool_definitions =
            vec![ToolDefinition::new("lookup").description("finds")];
        llm.agent = Some(AgentAttribution {
            span_id: SpanId(42),
            name: None,
        });
        llm.error = Some(Box::new(SpanError::new("io", "refused")));
        let v = value_of(&enc, &llm);
        assert_eq!(
            v["meta"]["tool_definitions"],
            json!([{"description": "finds", "name": "lookup"}])
        );
        assert_eq!(
            v["meta"]["agent_attribution"],
            json!({"pagent_name": null, "pagent_span_id": "42"})
        );
        assert_eq!(
            v["meta"]["error"],
            json!({"message": "refused", "stack": "", "type": "io"})
        );
        assert_eq!(v["meta"]["model_name"], "unknown");
        assert_eq!(v["status"], "error");
        let tags: Vec<&str> = v["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut sorted = tags.clone();
        sorted.sort();
        assert_eq!(tags, sorted);
        assert!(tags.contains(&"error:1") && tags.contains(&"error_type:io"));
        // Sorted as `key:value` strings: "a:2" < "a_b:1".
        let a = tags.iter().position(|t| *t == "a:2");
        let ab = tags.iter().position(|t| *t == "a_b:1");
        assert!(a < ab);

        let mut task = SpanEvent::new(SpanKind::Task, "t", TraceId(1 << 100), SpanId(8));
        task.annotations_mut().tool_definitions = vec![ToolDefinition::new("x")];
        let v = value_of(&enc, &task);
        assert!(v["meta"].get("tool_definitions").is_none());
        assert!(v["meta"].get("model_name").is_none());
        assert_eq!(v["parent_id"], "undefined");
    }
}
