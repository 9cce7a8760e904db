//! Exporting a span's ids, and building and submitting evaluations of spans.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::annotate::MetricValue;
use crate::error::{EvaluationError, ExportError};
use crate::labelled::Labelled;
use crate::span_ref::{self, Missing, SpanRef};
use crate::{Assessment, EvalScope, EvaluationMetric, ExportedSpan, JoinOn};

/// The ids of a span, to attach an evaluation to it later (possibly from another process).
///
/// `None` exports the current span of this thread. The argument is a trait object rather than a
/// generic so that `export_span(None)` needs no type annotation.
///
/// When nothing is recorded (LLM Observability off or never initialised, or a span handle made
/// while it was off), this returns `Ok` with empty ids, which [`submit_evaluation`] accepts and
/// drops: code written for the enabled case runs unchanged when it is off.
///
/// ```
/// # use llmobs_core as llmobs;
/// # fn main() -> Result<(), llmobs::ExportError> {
/// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
/// let chat = llmobs::llm("chat").start();
/// let current = llmobs::export_span(None)?;
/// let same = llmobs::export_span(Some(&chat))?;
/// assert_eq!(current, same);
/// assert_eq!(current.trace_id.len(), 32);
/// # Ok(()) }
/// ```
pub fn export_span(span: Option<&dyn SpanRef>) -> Result<ExportedSpan, ExportError> {
    span_ref::with_event(span, |e| ExportedSpan {
        span_id: e.span_id.to_string(),
        trace_id: e.trace_id.to_string(),
    })
    .or_else(|m| match m {
        // Nothing is recorded: a value that `submit_evaluation` accepts and drops.
        Missing::NoSpan { quiet: true } | Missing::NotRecording => Ok(ExportedSpan::unrecorded()),
        Missing::NoSpan { quiet: false } => Err(ExportError::NoActiveSpan),
        Missing::Finished => Err(ExportError::SpanFinished),
    })
}

/// An evaluation of a span (or of its trace): a labelled score, category, boolean or JSON
/// object, attached to the span by its ids or to every span carrying a tag.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Assessment, Evaluation};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
/// let chat = llmobs::llm("chat").start();
/// let exported = llmobs::export_span(None)?;
/// llmobs::submit_evaluation(
///     Evaluation::score("harmfulness", 0.1)
///         .span(&exported)
///         .tag("evaluation_provider", "ragas")
///         .assessment(Assessment::Pass)
///         .reasoning("no harmful content"),
/// )?;
/// llmobs::submit_evaluation(Evaluation::categorical("sentiment", "positive").join_tag("conversation", "c-1"))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "an evaluation is only sent by `llmobs::submit_evaluation`"]
pub struct Evaluation {
    labelled: Labelled,
    span: Option<ExportedSpan>,
    join_tag: Option<(String, String)>,
    metadata: Result<Map<String, Value>, EvaluationError>,
    eval_scope: EvalScope,
}

impl From<Labelled> for Evaluation {
    fn from(labelled: Labelled) -> Self {
        Evaluation {
            labelled,
            span: None,
            join_tag: None,
            metadata: Ok(Map::new()),
            eval_scope: EvalScope::Span,
        }
    }
}

impl Evaluation {
    /// A `score` evaluation: any integer or finite float.
    pub fn score(label: impl Into<String>, value: impl MetricValue) -> Self {
        Labelled::score(label, value).into()
    }

    /// A `categorical` evaluation.
    pub fn categorical(label: impl Into<String>, value: impl Into<String>) -> Self {
        Labelled::categorical(label, value).into()
    }

    /// A `boolean` evaluation.
    pub fn boolean(label: impl Into<String>, value: bool) -> Self {
        Labelled::boolean(label, value).into()
    }

    /// A `json` evaluation; the value must be a JSON object.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// let eval = llmobs::Evaluation::json("checks", serde_json::json!({"grounded": true, "citations": 2}));
    /// # drop(eval);
    /// ```
    pub fn json(label: impl Into<String>, value: Value) -> Self {
        Labelled::json(label, value).into()
    }

    /// Attaches the evaluation to a span, by the ids [`export_span`] returned.
    pub fn span(mut self, span: &ExportedSpan) -> Self {
        self.span = Some(span.clone());
        self
    }

    /// Attaches the evaluation to the spans tagged `key:value`.
    pub fn join_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.join_tag = Some((key.into(), value.into()));
        self
    }

    /// Adds a tag to the evaluation; tags are sent in the order they were added.
    pub fn tag(mut self, key: impl AsRef<str>, value: impl std::fmt::Display) -> Self {
        self.labelled.tag(key.as_ref(), value);
        self
    }

    /// Sets the ml_app; by default the current span's, else the configured one.
    pub fn ml_app(mut self, ml_app: impl Into<String>) -> Self {
        self.labelled.ml_app = Some(ml_app.into());
        self
    }

    /// Sets when the evaluation was made, in milliseconds since the Unix epoch (default: now).
    pub fn timestamp_ms(mut self, timestamp_ms: u64) -> Self {
        self.labelled.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Says whether the evaluated output passed.
    pub fn assessment(mut self, assessment: Assessment) -> Self {
        self.labelled.assessment = Some(assessment);
        self
    }

    /// Explains the evaluation.
    pub fn reasoning(mut self, reasoning: impl Into<String>) -> Self {
        self.labelled.reasoning = Some(reasoning.into());
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let key = key.into();
        if let Ok(map) = &mut self.metadata {
            match serde_json::to_value(&value) {
                Ok(v) => {
                    map.insert(key, v);
                }
                Err(e) => {
                    self.metadata = Err(EvaluationError::MetadataNotJson {
                        key,
                        reason: e.to_string(),
                    })
                }
            }
        }
        self
    }

    /// Judges the whole trace rather than the span (default [`EvalScope::Span`]).
    pub fn eval_scope(mut self, scope: EvalScope) -> Self {
        self.eval_scope = scope;
        self
    }

    /// Validates and resolves the evaluation into the metric that is sent.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// let m = llmobs::Evaluation::boolean("grounded", true).join_tag("k", "v").ml_app("app").into_metric().unwrap();
    /// assert_eq!(m.tags, ["ml_app:app"]);
    /// ```
    pub fn into_metric(self) -> Result<EvaluationMetric, EvaluationError> {
        self.labelled.check_label()?;
        let join_on = match (self.span, self.join_tag) {
            (Some(s), None) => {
                if s.span_id.is_empty() || s.trace_id.is_empty() {
                    return Err(EvaluationError::InvalidSpan);
                }
                JoinOn::Span(s)
            }
            (None, Some((key, value))) => JoinOn::Tag { key, value },
            (None, None) => return Err(EvaluationError::NoJoin),
            (Some(_), Some(_)) => return Err(EvaluationError::BothJoins),
        };
        self.labelled.check_value()?;
        let metadata = self.metadata?;
        let default_ml_app = || {
            crate::stack::current_parent()
                .ml_app
                .unwrap_or_else(crate::default_ml_app)
                .to_string()
        };
        Ok(self
            .labelled
            .into_metric(join_on, default_ml_app, self.eval_scope, metadata, None)?)
    }
}

/// Validates an evaluation and sends it: to the test capture in scope if there is one, else to
/// the exporter.
///
/// When nothing is recorded (LLM Observability is off or was never initialised, and no test
/// capture is in scope), this does nothing and returns `Ok(())`, as does an evaluation of a span
/// that was not recorded ([`ExportedSpan::is_recorded`]): turning observability off never
/// turns into an error of the application. Use a test capture to see validation errors in tests.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::Evaluation;
/// let cap = llmobs::testing::Capture::new();
/// let _g = cap.context().attach();
/// llmobs::submit_evaluation(Evaluation::boolean("grounded", true).join_tag("conversation", "c-1")).unwrap();
/// assert_eq!(cap.evaluations()[0].label, "grounded");
/// ```
pub fn submit_evaluation(evaluation: Evaluation) -> Result<(), EvaluationError> {
    // Off means off: with nothing recorded, nothing is checked or sent.
    let capture = crate::stack::current_parent().capture;
    let recording = crate::gate::is_enabled() || capture.is_some();
    if !recording || evaluation.span.as_ref().is_some_and(|s| !s.is_recorded()) {
        return Ok(());
    }
    let metric = evaluation.into_metric()?;
    // An evaluation made under a test capture goes to it, else to the sink.
    match capture {
        Some(c) => c.push_evaluation(metric),
        None => crate::sink::dispatch_evaluation(metric),
    }
    Ok(())
}
