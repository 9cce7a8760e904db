//! The finished-span record: what crosses the `Sink` boundary and what processors and tests see.
//!
//! Rarely used fields (input, output, metadata, metrics, tags, prompt, ...) live in a boxed
//! [`Annotations`] that is only allocated when something is recorded, so an empty span stays
//! small and cheap to move between the span stack and the export buffer.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::{
    AgentManifest, Document, Message, Metrics, Prompt, SharedStr, SpanId, SpanKind, SpanLink,
    ToolDefinition, TraceId,
};

/// The input or output of a span, in the shape its kind allows.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::SpanIo;
/// assert_eq!(SpanIo::Value("hello".into()).value_text().as_deref(), Some("hello"));
/// assert_eq!(SpanIo::Value(serde_json::json!([1, 2])).value_text().as_deref(), Some("[1, 2]"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum SpanIo {
    /// Any value. Strings are sent verbatim, other values as JSON text (`input.value`).
    Value(Value),
    /// Chat messages (`llm` spans).
    Messages(Vec<Message>),
    /// Documents (`embedding` input, `retrieval` output).
    Documents(Vec<Document>),
}

impl SpanIo {
    /// The value, if this is [`SpanIo::Value`].
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            SpanIo::Value(v) => Some(v),
            _ => None,
        }
    }
    /// The messages, if this is [`SpanIo::Messages`].
    pub fn as_messages(&self) -> Option<&[Message]> {
        match self {
            SpanIo::Messages(m) => Some(m),
            _ => None,
        }
    }
    /// The documents, if this is [`SpanIo::Documents`].
    pub fn as_documents(&self) -> Option<&[Document]> {
        match self {
            SpanIo::Documents(d) => Some(d),
            _ => None,
        }
    }
    /// The text sent as `value` on the wire: a string as is, anything else as JSON text.
    /// `None` for messages and documents.
    pub fn value_text(&self) -> Option<String> {
        match self {
            SpanIo::Value(Value::String(s)) => Some(s.clone()),
            SpanIo::Value(v) => Some(crate::json::to_python_json(v)),
            _ => None,
        }
    }
}

/// Why a span failed: sent as `meta.error` plus the `error:1` and `error_type:` tags.
///
/// ```
/// # use llmobs_core as llmobs;
/// let mut e = llmobs::SpanError::new("std::io::Error", "connection refused");
/// e.stack = Some("at main.rs:3".into());
/// assert_eq!((e.kind.as_str(), e.message.as_str()), ("std::io::Error", "connection refused"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanError {
    /// The error's type, e.g. `std::io::error::Error`, `panic` or `Cancelled`.
    pub kind: String,
    /// The error's message (its `Display`).
    pub message: String,
    /// A backtrace or source chain, when available.
    pub stack: Option<String>,
}

impl SpanError {
    /// An error of type `kind` with this message and no stack.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        SpanError {
            kind: kind.into(),
            message: message.into(),
            stack: None,
        }
    }
}

/// The nearest enclosing `agent` span, sent as `meta.agent_attribution`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAttribution {
    /// The agent span's id.
    pub span_id: SpanId,
    /// The agent span's name, when known (it is not when it arrived through `tracestate` only).
    pub name: Option<SharedStr>,
}

/// What annotation (explicit or automatic) recorded on a span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    /// The model name (`llm`/`embedding`).
    pub model_name: Option<SharedStr>,
    /// The model provider, lower-cased (`llm`/`embedding`).
    pub model_provider: Option<SharedStr>,
    /// The input.
    pub input: Option<SpanIo>,
    /// The output.
    pub output: Option<SpanIo>,
    /// Free-form metadata (`meta.metadata`), merged across annotate calls.
    pub metadata: Map<String, Value>,
    /// Numeric metrics such as token counts; keys never contain `.`.
    pub metrics: Metrics,
    /// User tags, later values replacing earlier ones for the same key.
    pub tags: BTreeMap<String, String>,
    /// The prompt template (`llm` only).
    pub prompt: Option<Prompt>,
    /// Tools offered to the model (`llm` only).
    pub tool_definitions: Vec<ToolDefinition>,
    /// The input/output was dropped because the event exceeded the size limit.
    pub collection_errors: Vec<String>,
    /// A prompt was annotated (tag `prompt_tracking_instrumentation_method:annotated`).
    pub prompt_annotated: bool,
    /// Links from other spans, in the order they were added (`span_links`).
    pub span_links: Vec<SpanLink>,
    /// What the agent is (`agent` spans: `meta.metadata._dd.agent_manifest`).
    pub agent_manifest: Option<AgentManifest>,
    /// Tag keys that attribute the span's cost (`meta.metadata._dd.cost_tags`); only those the
    /// span's tags have are sent.
    pub cost_tags: Vec<String>,
    /// Input was set by an explicit annotation, which automatic capture must not replace.
    pub(crate) input_explicit: bool,
    /// Output was set by an explicit annotation, which automatic capture must not replace.
    pub(crate) output_explicit: bool,
    /// A name known only at run time, held here while the span is a slot (a slot's own name is
    /// static) and moved into the span's record when that is built.
    pub(crate) name: Option<SharedStr>,
}

static EMPTY_ANNOTATIONS: std::sync::OnceLock<Annotations> = std::sync::OnceLock::new();

impl Annotations {
    /// An empty box: one this thread kept or got back if it has one, else a new one.
    #[inline]
    pub(crate) fn boxed() -> Box<Annotations> {
        Box::default()
    }

    /// Records automatic-capture input in a span's annotations (`slot`) unless an explicit
    /// annotation already set one.
    pub(crate) fn set_auto_input(slot: &mut Option<Box<Annotations>>, io: SpanIo) {
        let a = slot.get_or_insert_with(Annotations::boxed);
        if !a.input_explicit {
            a.input = Some(io);
        }
    }

    /// Records automatic-capture output in a span's annotations (`slot`) unless an explicit
    /// annotation already set one.
    pub(crate) fn set_auto_output(slot: &mut Option<Box<Annotations>>, io: SpanIo) {
        let a = slot.get_or_insert_with(Annotations::boxed);
        if !a.output_explicit {
            a.output = Some(io);
        }
    }

    /// Whether nothing but the model is recorded.
    pub(crate) fn holds_only_model(&self) -> bool {
        self.input.is_none()
            && self.output.is_none()
            && self.metadata.is_empty()
            && self.metrics.is_empty()
            && self.tags.is_empty()
            && self.prompt.is_none()
            && self.tool_definitions.is_empty()
            && self.collection_errors.is_empty()
            && !self.prompt_annotated
            && self.span_links.is_empty()
            && self.agent_manifest.is_none()
            && self.cost_tags.is_empty()
            && !self.input_explicit
            && !self.output_explicit
    }
}

/// A finished span: what processors rewrite, what tests assert on, what the exporter encodes.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{SpanKind, SpanIo};
/// let spans = llmobs::testing::capture(|| {
///     let _s = llmobs::task("parse").start();
///     llmobs::annotate().input(&serde_json::json!({"a": 1})).metric("n", 2).apply().unwrap();
/// });
/// let s = &spans[0];
/// assert_eq!((s.kind, s.name.as_str(), s.status()), (SpanKind::Task, "parse", "ok"));
/// assert_eq!(s.input_text().as_deref(), Some(r#"{"a": 1}"#));
/// assert_eq!(s.metric("n"), Some(2.0));
/// assert!(matches!(s.input(), Some(SpanIo::Value(_))));
/// ```
#[derive(Debug, Clone)]
pub struct SpanEvent {
    /// The LLM Observability trace id (shared by every span of the trace).
    pub trace_id: TraceId,
    /// The APM trace id (`_dd.apm_trace_id`); equal to `trace_id` unless a remote parent set it.
    pub apm_trace_id: TraceId,
    /// This span's id.
    pub span_id: SpanId,
    /// The nearest LLM Observability ancestor, or `None` for a root (`"undefined"` on the wire).
    pub parent_id: Option<SpanId>,
    /// The span kind.
    pub kind: SpanKind,
    /// The span name.
    pub name: SharedStr,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// Duration in nanoseconds.
    pub duration_ns: u64,
    /// The ml_app set on this span or inherited from its parent; `None` means the configured one.
    pub ml_app: Option<SharedStr>,
    /// The session id set on this span or inherited from its parent.
    pub session_id: Option<SharedStr>,
    /// Created by an attribute (`decorator:1` tag).
    pub decorator: bool,
    /// The error, if the span failed.
    pub error: Option<Box<SpanError>>,
    /// The nearest enclosing agent span.
    pub agent: Option<AgentAttribution>,
    pub(crate) annotations: Option<Box<Annotations>>,
}

impl SpanEvent {
    /// A span record with the given identity and nothing recorded; for tests and processors
    /// that synthesise spans.
    pub fn new(
        kind: SpanKind,
        name: impl Into<SharedStr>,
        trace_id: TraceId,
        span_id: SpanId,
    ) -> Self {
        SpanEvent {
            trace_id,
            apm_trace_id: trace_id,
            span_id,
            parent_id: None,
            kind,
            name: name.into(),
            start_ns: 0,
            duration_ns: 0,
            ml_app: None,
            session_id: None,
            decorator: false,
            error: None,
            agent: None,
            annotations: None,
        }
    }

    /// `"ok"` or `"error"`.
    pub fn status(&self) -> &'static str {
        if self.error.is_some() {
            "error"
        } else {
            "ok"
        }
    }

    /// What was recorded on the span (empty if nothing was).
    pub fn annotations(&self) -> &Annotations {
        match &self.annotations {
            Some(a) => a,
            None => EMPTY_ANNOTATIONS.get_or_init(Annotations::default),
        }
    }

    /// Mutable access to what was recorded, allocating it on first use.
    pub fn annotations_mut(&mut self) -> &mut Annotations {
        self.annotations.get_or_insert_with(Default::default)
    }

    /// The input, if any.
    pub fn input(&self) -> Option<&SpanIo> {
        self.annotations().input.as_ref()
    }
    /// The output, if any.
    pub fn output(&self) -> Option<&SpanIo> {
        self.annotations().output.as_ref()
    }
    /// The input as wire text (`meta.input.value`), if it is a value.
    pub fn input_text(&self) -> Option<String> {
        self.input().and_then(SpanIo::value_text)
    }
    /// The output as wire text (`meta.output.value`), if it is a value.
    pub fn output_text(&self) -> Option<String> {
        self.output().and_then(SpanIo::value_text)
    }
    /// A metric, as `f64`.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.annotations()
            .metrics
            .get(key)
            .and_then(serde_json::Number::as_f64)
    }
    /// A user tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.annotations().tags.get(key).map(String::as_str)
    }
    /// The model name (`llm`/`embedding`).
    pub fn model_name(&self) -> Option<&str> {
        self.annotations().model_name.as_deref()
    }
    /// The model provider (`llm`/`embedding`).
    pub fn model_provider(&self) -> Option<&str> {
        self.annotations().model_provider.as_deref()
    }

    /// Records automatic-capture input unless an explicit annotation already set one.
    pub(crate) fn set_auto_input(&mut self, io: SpanIo) {
        Annotations::set_auto_input(&mut self.annotations, io);
    }

    /// Whether explicit annotation set the output (automatic capture then skips the work).
    pub(crate) fn has_explicit_output(&self) -> bool {
        self.annotations.as_ref().is_some_and(|a| a.output_explicit)
    }
}
