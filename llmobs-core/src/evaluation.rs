//! Evaluation metrics: judgements about a span (or its trace), joined on the span's ids or on a
//! tag, and feedback from the application's users, both sent to the eval-metric intake.

use serde::Serialize;
use serde_json::{Map, Value};

/// The ids of a span, as `export_span` returns them and `join_on.span` sends them.
///
/// When nothing is recorded (LLM Observability off, or never initialised), `export_span`
/// returns the value with both ids empty ([`ExportedSpan::is_recorded`] is `false`), and
/// `submit_evaluation` accepts an evaluation of it and drops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedSpan {
    /// The span id, decimal.
    pub span_id: String,
    /// The LLM Observability trace id, 32 hex characters.
    pub trace_id: String,
}

impl ExportedSpan {
    /// The ids of a span that was not recorded: both empty.
    pub(crate) fn unrecorded() -> Self {
        ExportedSpan {
            span_id: String::new(),
            trace_id: String::new(),
        }
    }

    /// Whether these are the ids of a recorded span; `false` for what `export_span` returns
    /// when nothing is recorded.
    pub fn is_recorded(&self) -> bool {
        !(self.span_id.is_empty() && self.trace_id.is_empty())
    }
}

/// What an evaluation or a feedback is attached to.
///
/// Evaluations join on [`Span`](JoinOn::Span) (`join_on.span`) or [`Tag`](JoinOn::Tag)
/// (`join_on.tag`); feedback names exactly one target as a top-level field: a span (only its id
/// is sent), a span id, a trace id, a session id or a join key of the application's choosing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOn {
    /// A span, by its ids.
    Span(ExportedSpan),
    /// Every span carrying this tag.
    Tag {
        /// The tag key.
        key: String,
        /// The tag value.
        value: String,
    },
    /// Feedback: a span by its id alone (`span_id`).
    SpanId(String),
    /// Feedback: a whole trace (`trace_id`).
    TraceId(String),
    /// Feedback: a conversation (`session_id`).
    SessionId(String),
    /// Feedback: whatever the application joins it with later (`feedback_join_key`), such as
    /// an order or ticket id.
    FeedbackJoinKey(String),
}

impl JoinOn {
    /// The wire field of a feedback target whose id is empty.
    pub(crate) fn empty_feedback_target(&self) -> Option<&'static str> {
        let (field, id) = match self {
            JoinOn::Span(s) => ("span_id", &s.span_id),
            JoinOn::SpanId(id) => ("span_id", id),
            JoinOn::TraceId(id) => ("trace_id", id),
            JoinOn::SessionId(id) => ("session_id", id),
            JoinOn::FeedbackJoinKey(id) => ("feedback_join_key", id),
            JoinOn::Tag { .. } => return None,
        };
        id.is_empty().then_some(field)
    }
}

/// The value of an evaluation metric; its variant is the metric type.
#[derive(Debug, Clone, PartialEq)]
pub enum EvaluationValue {
    /// `score`: a number (integers stay integers on the wire).
    Score(serde_json::Number),
    /// `categorical`: a label.
    Categorical(String),
    /// `boolean`.
    Boolean(bool),
    /// `json`: an object.
    Json(Value),
    /// `text`: free text (feedback only).
    Text(String),
}

impl EvaluationValue {
    /// The wire metric type: `score`, `categorical`, `boolean` or `json`.
    pub fn metric_type(&self) -> &'static str {
        match self {
            EvaluationValue::Score(_) => "score",
            EvaluationValue::Categorical(_) => "categorical",
            EvaluationValue::Boolean(_) => "boolean",
            EvaluationValue::Json(_) => "json",
            EvaluationValue::Text(_) => "text",
        }
    }
}

/// Whether an evaluation passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assessment {
    /// `"pass"`.
    Pass,
    /// `"fail"`.
    Fail,
}

impl Assessment {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Assessment::Pass => "pass",
            Assessment::Fail => "fail",
        }
    }
}

/// Whether an evaluation judges the span or its whole trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvalScope {
    /// `"span"` (the default).
    #[default]
    Span,
    /// `"trace"`.
    Trace,
}

impl EvalScope {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalScope::Span => "span",
            EvalScope::Trace => "trace",
        }
    }
}

/// A validated evaluation metric, ready to send: what crosses the `Sink` boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationMetric {
    /// The metric's label (non-empty, no `.`).
    pub label: String,
    /// The value; its variant gives `metric_type`.
    pub value: EvaluationValue,
    /// What it is attached to.
    pub join_on: JoinOn,
    /// The resolved ml_app.
    pub ml_app: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Tags in wire order (`key:value`, not sorted).
    pub tags: Vec<String>,
    /// Span or trace scope.
    pub eval_scope: EvalScope,
    /// Pass or fail.
    pub assessment: Option<Assessment>,
    /// Why.
    pub reasoning: Option<String>,
    /// Free-form metadata.
    pub metadata: Option<Map<String, Value>>,
    /// Who gave it, for feedback (`event_kind: "feedback"`); `None` for an evaluation.
    pub submitter: Option<Submitter>,
}

/// Who gave a feedback: an id, and optionally what kind of submitter it is (such as
/// `end_user` or `annotator`).
///
/// ```
/// # use llmobs_core as llmobs;
/// let s = llmobs::Submitter::new("user-1").kind("end_user");
/// assert_eq!((s.id.as_str(), s.kind.as_deref()), ("user-1", Some("end_user")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitter {
    /// The submitter's id (`submitter.id`), non-empty.
    pub id: String,
    /// The kind of submitter (`submitter.type`).
    pub kind: Option<String>,
}

impl Submitter {
    /// A submitter with this id.
    pub fn new(id: impl Into<String>) -> Self {
        Submitter {
            id: id.into(),
            kind: None,
        }
    }

    /// Says what kind of submitter this is (`submitter.type`).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }
}
