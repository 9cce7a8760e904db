//! The errors of the runtime API: annotating, exporting span ids, submitting evaluations and
//! propagating context. Each message says what to change.

use std::fmt;

use crate::{LinkError, SpanKind};

/// Why [`crate::Annotate::apply`] (or `apply_to`) recorded nothing.
///
/// An annotation is validated as a whole before anything is written, so after an error the span
/// is exactly as it was.
///
/// ```
/// # use llmobs_core as llmobs;
/// let spans = llmobs::testing::capture(|| {
///     let _wf = llmobs::workflow("wf").start();
///     let err = llmobs::annotate()
///         .input_messages([llmobs::Message::user("hi")])
///         .apply()
///         .unwrap_err();
///     assert!(matches!(err, llmobs::AnnotateError::MessagesOnNonLlmSpan { .. }));
/// });
/// assert!(spans[0].input().is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AnnotateError {
    /// There is no span active on this thread.
    NoActiveSpan,
    /// The span has already finished.
    SpanFinished,
    /// Messages were given for a span that is not an `llm` span.
    MessagesOnNonLlmSpan {
        /// The builder method that was used (`input_messages` or `output_messages`).
        field: &'static str,
        /// The kind of the span.
        kind: SpanKind,
    },
    /// Documents were given for a span of a kind that does not take them there.
    DocumentsOnWrongKind {
        /// The builder method that was used (`input_documents` or `output_documents`).
        field: &'static str,
        /// The kind of the span.
        kind: SpanKind,
        /// The only kind that accepts documents in that place.
        expected: SpanKind,
    },
    /// A value given with `input`/`output` could not be read as what the span kind records there
    /// (messages on `llm` spans, documents on `embedding` input and `retrieval` output).
    InvalidIo {
        /// `input` or `output`.
        field: &'static str,
        /// The kind of the span.
        kind: SpanKind,
        /// What was wrong with the value.
        reason: String,
    },
    /// A metric value is NaN or infinite.
    NonFiniteMetric {
        /// The metric key.
        key: String,
        /// The value.
        value: f64,
    },
    /// A document's score is NaN or infinite.
    NonFiniteScore {
        /// The document's position in the list.
        index: usize,
        /// The score.
        value: f64,
    },
    /// A prompt sets both `template` and `chat_template`, or neither.
    InvalidPrompt {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The metadata key `_dd` is used internally by the SDK.
    ReservedMetadataKey,
    /// A value could not be turned into JSON.
    NotSerializable {
        /// The builder method (and key, for metadata) that received the value.
        field: String,
        /// The serializer's message.
        reason: String,
    },
    /// A span link names ids that [`export_span`](crate::export_span) could not have returned.
    InvalidLink(LinkError),
}

impl fmt::Display for AnnotateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnotateError::NoActiveSpan => f.write_str(
                "no active LLM Observability span on this thread; call annotate() inside a span, or pass \
                 the span explicitly with .apply_to(&span) when annotating from a different thread or \
                 async task than the one where the span was started",
            ),
            AnnotateError::SpanFinished => {
                f.write_str("cannot annotate a span that has already finished; annotate it before it ends")
            }
            AnnotateError::MessagesOnNonLlmSpan { field, kind } => write!(
                f,
                "`{field}` is only accepted on llm spans, but this span is a {kind} span; use `{}` for \
                 other kinds",
                if field.starts_with("input") { "input" } else { "output" }
            ),
            AnnotateError::DocumentsOnWrongKind { field, kind, expected } => write!(
                f,
                "`{field}` is only accepted on {expected} spans, but this span is a {kind} span; use `{}` \
                 for other kinds",
                if field.starts_with("input") { "input" } else { "output" }
            ),
            AnnotateError::InvalidIo { field, kind, reason } => {
                let shape = match kind {
                    SpanKind::Llm => "messages: a string, an object {\"role\", \"content\"} or a list of them",
                    _ => "documents: a string, an object {\"text\", \"name\"?, \"id\"?, \"score\"?} or a list of them",
                };
                write!(f, "the {field} of a {kind} span must be {shape} ({reason}); or use the typed `{field}_{}` method", if *kind == SpanKind::Llm { "messages" } else { "documents" })
            }
            AnnotateError::NonFiniteMetric { key, value } => {
                write!(f, "metric `{key}` is {value}, but metrics must be finite numbers; check the computation or leave the metric out")
            }
            AnnotateError::NonFiniteScore { index, value } => {
                write!(f, "document {index} has score {value}, but scores must be finite numbers; check the retriever or leave the score out")
            }
            AnnotateError::InvalidPrompt { reason } => write!(f, "invalid prompt: {reason}"),
            AnnotateError::ReservedMetadataKey => {
                f.write_str("the metadata key `_dd` is reserved for the SDK; choose another key")
            }
            AnnotateError::InvalidLink(e) => e.fmt(f),
            AnnotateError::NotSerializable { field, reason } => write!(
                f,
                "the value given to `{field}` cannot be represented as JSON ({reason}); pass a String or a type \
                 whose Serialize impl produces JSON (maps need string keys)"
            ),
        }
    }
}

impl std::error::Error for AnnotateError {}

/// Why [`crate::export_span`] could not return a span's ids.
///
/// ```
/// # use llmobs_core as llmobs;
/// // While spans are recorded (here under a test capture), outside any span:
/// let cap = llmobs::testing::Capture::new();
/// let _g = cap.context().attach();
/// let err = llmobs::export_span(None).unwrap_err();
/// assert_eq!(err, llmobs::ExportError::NoActiveSpan);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// No span was given and none is active on this thread.
    NoActiveSpan,
    /// The span has already finished (a detached span finished on another thread).
    SpanFinished,
    /// Not returned any more: for a span that is not recorded, `export_span` returns empty ids,
    /// which `submit_evaluation` accepts and drops.
    #[deprecated(note = "export_span returns empty ids for a span that is not recorded")]
    NotRecording,
}

#[allow(deprecated)] // `NotRecording` still has a message.
impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::NoActiveSpan => f.write_str(
                "no span given and no active LLM Observability span on this thread; call export_span(None) \
                 inside a span, or pass the span with export_span(Some(&span)) from another thread or task",
            ),
            ExportError::SpanFinished => {
                f.write_str("the span has already finished; export its ids while it is still open")
            }
            ExportError::NotRecording => f.write_str(
                "the span is not recorded because LLM Observability is disabled; enable it (llmobs::init() \
                 with DD_LLMOBS_ENABLED unset or 1) or skip the evaluation",
            ),
        }
    }
}

impl std::error::Error for ExportError {}

/// Why [`crate::submit_evaluation`] rejected an evaluation.
///
/// Evaluations are checked only while something is recorded (here, under a test capture): with
/// LLM Observability off, `submit_evaluation` does nothing and returns `Ok`.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Evaluation, EvaluationError};
/// let cap = llmobs::testing::Capture::new();
/// let _g = cap.context().attach();
/// let err = llmobs::submit_evaluation(Evaluation::score("a.b", 1).join_tag("k", "v")).unwrap_err();
/// assert_eq!(err, EvaluationError::LabelContainsDot { label: "a.b".into() });
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EvaluationError {
    /// The label is empty.
    EmptyLabel,
    /// The label contains a `.`.
    LabelContainsDot {
        /// The label.
        label: String,
    },
    /// Neither `.span(..)` nor `.join_tag(..)` was called.
    NoJoin,
    /// Both `.span(..)` and `.join_tag(..)` were called.
    BothJoins,
    /// The span given to `.span(..)` has an empty span id or trace id.
    InvalidSpan,
    /// The score is NaN or infinite.
    NonFiniteScore {
        /// The value.
        value: f64,
    },
    /// A `json` evaluation's value is not a JSON object.
    JsonNotObject,
    /// A metadata value could not be turned into JSON.
    MetadataNotJson {
        /// The metadata key.
        key: String,
        /// The serializer's message.
        reason: String,
    },
}

impl fmt::Display for EvaluationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvaluationError::EmptyLabel => {
                f.write_str("the evaluation label is empty; give the name of the evaluation metric")
            }
            EvaluationError::LabelContainsDot { label } => write!(
                f,
                "the evaluation label `{label}` contains '.', which the intake does not accept; use '_' instead"
            ),
            EvaluationError::NoJoin => f.write_str(
                "the evaluation is attached to nothing; call exactly one of .span(&llmobs::export_span(..)?) \
                 or .join_tag(key, value)",
            ),
            EvaluationError::BothJoins => f.write_str(
                "the evaluation is attached both to a span and to a tag; call exactly one of .span(..) or \
                 .join_tag(..)",
            ),
            EvaluationError::InvalidSpan => f.write_str(
                "the span given to .span(..) has an empty span_id or trace_id; build it with \
                 llmobs::export_span(..)",
            ),
            EvaluationError::NonFiniteScore { value } => {
                write!(f, "the score is {value}, but scores must be finite numbers; check the value for NaN or infinity (a division by zero?) before submitting it")
            }
            EvaluationError::JsonNotObject => f.write_str(
                "a json evaluation's value must be a JSON object; wrap other values, e.g. json!({\"value\": x})",
            ),
            EvaluationError::MetadataNotJson { key, reason } => write!(
                f,
                "evaluation metadata `{key}` cannot be represented as JSON ({reason}); pass a value whose \
                 Serialize impl produces JSON (maps need string keys)"
            ),
        }
    }
}

impl std::error::Error for EvaluationError {}

/// Why [`submit_feedback`](crate::submit_feedback) sent nothing. Checked in the order listed.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Feedback, FeedbackError, Submitter};
/// let cap = llmobs::testing::Capture::new();
/// let _g = cap.context().attach();
/// let err = llmobs::submit_feedback(Feedback::boolean("thumbs", true).span_id("1").trace_id("2")).unwrap_err();
/// assert_eq!(err, FeedbackError::TargetCount { given: 2 });
/// let err = llmobs::submit_feedback(Feedback::boolean("thumbs", true).span_id("1")).unwrap_err();
/// assert_eq!(err, FeedbackError::NoSubmitter);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FeedbackError {
    /// Not exactly one of `.span`, `.span_id`, `.trace_id`, `.session_id` and `.join_key` was
    /// called.
    TargetCount {
        /// How many were.
        given: usize,
    },
    /// The target is an empty string.
    EmptyTarget {
        /// `span_id`, `trace_id`, `session_id` or `feedback_join_key`.
        target: &'static str,
    },
    /// `.submitter(..)` was not called.
    NoSubmitter,
    /// The submitter's id is empty.
    EmptySubmitterId,
    /// The label is empty.
    EmptyLabel,
    /// The label contains a `.`.
    LabelContainsDot {
        /// The label.
        label: String,
    },
    /// The score is NaN or infinite.
    NonFiniteScore {
        /// The value.
        value: f64,
    },
    /// A `json` feedback's value is not a JSON object.
    JsonNotObject,
}

impl fmt::Display for FeedbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedbackError::TargetCount { given } => write!(
                f,
                "a feedback needs exactly one target, and {given} were given; call exactly one of \
                 .span(&export_span(..)?), .span_id(..), .trace_id(..), .session_id(..) or .join_key(..)"
            ),
            FeedbackError::EmptyTarget { target } => write!(
                f,
                "the feedback's {target} is empty; give the id of what the feedback is about (for a \
                 span, the ids llmobs::export_span(..) returned)"
            ),
            FeedbackError::NoSubmitter => f.write_str(
                "the feedback has no submitter; say who gave it with .submitter(Submitter::new(user_id))",
            ),
            FeedbackError::EmptySubmitterId => {
                f.write_str("the feedback's submitter id is empty; give the id of who gave it")
            }
            FeedbackError::EmptyLabel => {
                f.write_str("the feedback label is empty; give the name of the feedback metric")
            }
            FeedbackError::LabelContainsDot { label } => write!(
                f,
                "the feedback label `{label}` contains '.', which the intake does not accept; use '_' instead"
            ),
            FeedbackError::NonFiniteScore { value } => {
                write!(f, "the score is {value}, but scores must be finite numbers; check the value for NaN or infinity (a division by zero?) before submitting it")
            }
            FeedbackError::JsonNotObject => f.write_str(
                "a json feedback's value must be a JSON object; wrap other values, e.g. json!({\"value\": x})",
            ),
        }
    }
}

impl std::error::Error for FeedbackError {}

/// Why distributed headers could not be injected or activated.
///
/// ```
/// # use llmobs_core as llmobs;
/// use std::collections::HashMap;
/// let headers: HashMap<String, String> = HashMap::new();
/// let err = llmobs::extract_distributed_headers(&headers).unwrap_err();
/// assert_eq!(err, llmobs::PropagationError::MissingContext);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropagationError {
    /// Injecting: there is no span (or activated remote context) on this thread to propagate.
    NoActiveSpan,
    /// Injecting: the current span has already finished.
    SpanFinished,
    /// Activating: the headers carry neither `x-datadog-trace-id`/`x-datadog-parent-id` nor
    /// `traceparent`.
    MissingContext,
    /// Activating: a header is present but cannot be read.
    InvalidHeader {
        /// The header name, lower-case.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for PropagationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropagationError::NoActiveSpan => f.write_str(
                "no active LLM Observability span on this thread to propagate; inject the headers inside the \
                 span that makes the outgoing request",
            ),
            PropagationError::SpanFinished => {
                f.write_str("the current span has already finished; inject the headers before it ends")
            }
            PropagationError::MissingContext => f.write_str(
                "the headers carry no trace context (x-datadog-trace-id and x-datadog-parent-id, or \
                 traceparent); make sure the caller injects them and that any proxy forwards them",
            ),
            PropagationError::InvalidHeader { name, reason } => write!(
                f,
                "the `{name}` header cannot be read: {reason}; check what the caller sends"
            ),
        }
    }
}

impl std::error::Error for PropagationError {}
