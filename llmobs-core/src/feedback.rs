//! Feedback from the application's users (a thumbs-up, a rating, a comment), attached to a span,
//! a trace, a session or a key of the application's own, and sent beside evaluations.
//!
//! Feedback often arrives long after the request, from another process (a web handler that
//! receives the thumbs-up): so its target is plain ids, and a join key lets the application
//! attach it to whatever it can name, such as an order id.

use serde_json::{Map, Value};

use crate::annotate::MetricValue;
use crate::error::FeedbackError;
use crate::labelled::Labelled;
use crate::{Assessment, EvalScope, EvaluationMetric, ExportedSpan, JoinOn, Submitter};

/// A feedback: a labelled value given by someone ([`Submitter`]) about exactly one target.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Feedback, Submitter};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let cap = llmobs::testing::Capture::new(); let _g = cap.context().attach();
/// let answer = {
///     let _chat = llmobs::llm("chat").start();
///     llmobs::export_span(None)?
/// };
/// // Later, when the user clicks a thumb:
/// llmobs::submit_feedback(
///     Feedback::boolean("thumbs_up", true)
///         .submitter(Submitter::new("user-42").kind("end_user"))
///         .span(&answer),
/// )?;
/// // A comment about a whole conversation, and a rating joined on the application's order id:
/// llmobs::submit_feedback(
///     Feedback::text("comment", "great answer").submitter(Submitter::new("user-42")).session_id("chat-7"),
/// )?;
/// llmobs::submit_feedback(
///     Feedback::score("rating", 4.5).submitter(Submitter::new("user-42")).join_key("order-1042").tag("source", "web"),
/// )?;
/// assert_eq!(cap.evaluations().len(), 3);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a feedback is only sent by `llmobs::submit_feedback`"]
pub struct Feedback {
    labelled: Labelled,
    submitter: Option<Submitter>,
    /// Every target given; exactly one is valid.
    targets: Vec<JoinOn>,
    /// A span target that was not recorded: the feedback is accepted and dropped.
    unrecorded_span: bool,
}

impl From<Labelled> for Feedback {
    fn from(labelled: Labelled) -> Self {
        Feedback {
            labelled,
            submitter: None,
            targets: Vec::new(),
            unrecorded_span: false,
        }
    }
}

impl Feedback {
    /// A `score` feedback, such as a rating: any integer or finite float.
    pub fn score(label: impl Into<String>, value: impl MetricValue) -> Self {
        Labelled::score(label, value).into()
    }

    /// A `boolean` feedback, such as a thumbs-up.
    pub fn boolean(label: impl Into<String>, value: bool) -> Self {
        Labelled::boolean(label, value).into()
    }

    /// A `categorical` feedback: one of the application's labels.
    pub fn categorical(label: impl Into<String>, value: impl Into<String>) -> Self {
        Labelled::categorical(label, value).into()
    }

    /// A `text` feedback: what the user wrote.
    pub fn text(label: impl Into<String>, value: impl Into<String>) -> Self {
        Labelled::text(label, value).into()
    }

    /// A `json` feedback; the value must be a JSON object.
    pub fn json(label: impl Into<String>, value: Value) -> Self {
        Labelled::json(label, value).into()
    }

    /// Who gave the feedback (required).
    pub fn submitter(mut self, submitter: Submitter) -> Self {
        self.submitter = Some(submitter);
        self
    }

    /// Targets a span, by the ids [`export_span`](crate::export_span) returned; only the span id
    /// is sent, as the reference does.
    pub fn span(mut self, span: &ExportedSpan) -> Self {
        self.unrecorded_span |= !span.is_recorded();
        self.targets.push(JoinOn::SpanId(span.span_id.clone()));
        self
    }

    /// Targets a span by its id (decimal, as `export_span` gives it).
    pub fn span_id(mut self, span_id: impl Into<String>) -> Self {
        self.targets.push(JoinOn::SpanId(span_id.into()));
        self
    }

    /// Targets a whole trace, by its LLM Observability trace id.
    pub fn trace_id(mut self, trace_id: impl Into<String>) -> Self {
        self.targets.push(JoinOn::TraceId(trace_id.into()));
        self
    }

    /// Targets a conversation, by its session id.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.targets.push(JoinOn::SessionId(session_id.into()));
        self
    }

    /// Targets whatever the application joins on later (`feedback_join_key`), such as an order or
    /// ticket id.
    pub fn join_key(mut self, key: impl Into<String>) -> Self {
        self.targets.push(JoinOn::FeedbackJoinKey(key.into()));
        self
    }

    /// Adds a tag; tags are sent in the order they were added, after `ml_app`.
    pub fn tag(mut self, key: impl AsRef<str>, value: impl std::fmt::Display) -> Self {
        self.labelled.tag(key.as_ref(), value);
        self
    }

    /// Sets the ml_app (default: the configured one, as the reference does: feedback usually
    /// arrives outside the request's spans).
    pub fn ml_app(mut self, ml_app: impl Into<String>) -> Self {
        self.labelled.ml_app = Some(ml_app.into());
        self
    }

    /// Sets when the feedback was given, in milliseconds since the Unix epoch (default, and for
    /// `0`: now).
    pub fn timestamp_ms(mut self, timestamp_ms: u64) -> Self {
        self.labelled.timestamp_ms = Some(timestamp_ms).filter(|t| *t != 0);
        self
    }

    /// Says whether the feedback judges the output a pass or a fail.
    pub fn assessment(mut self, assessment: Assessment) -> Self {
        self.labelled.assessment = Some(assessment);
        self
    }

    /// Explains the feedback.
    pub fn reasoning(mut self, reasoning: impl Into<String>) -> Self {
        self.labelled.reasoning = Some(reasoning.into());
        self
    }

    /// Validates and resolves the feedback into the metric that is sent (its
    /// [`submitter`](EvaluationMetric::submitter) is set).
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// use llmobs::{Feedback, FeedbackError, JoinOn, Submitter};
    /// let m = Feedback::boolean("thumbs", true).submitter(Submitter::new("u")).trace_id("ab").ml_app("app")
    ///     .into_metric().unwrap();
    /// assert_eq!((m.join_on, m.tags), (JoinOn::TraceId("ab".into()), vec!["ml_app:app".to_string()]));
    /// let err = Feedback::boolean("thumbs", true).submitter(Submitter::new("u")).into_metric().unwrap_err();
    /// assert_eq!(err, FeedbackError::TargetCount { given: 0 });
    /// ```
    pub fn into_metric(self) -> Result<EvaluationMetric, FeedbackError> {
        let mut targets = self.targets;
        if targets.len() != 1 {
            return Err(FeedbackError::TargetCount {
                given: targets.len(),
            });
        }
        let target = targets.remove(0);
        if let Some(field) = target.empty_feedback_target() {
            return Err(FeedbackError::EmptyTarget { target: field });
        }
        let submitter = self.submitter.ok_or(FeedbackError::NoSubmitter)?;
        if submitter.id.is_empty() {
            return Err(FeedbackError::EmptySubmitterId);
        }
        self.labelled.check_label()?;
        let default_ml_app = || crate::default_ml_app().to_string();
        Ok(self.labelled.into_metric(
            target,
            default_ml_app,
            EvalScope::Span,
            Map::new(),
            Some(submitter),
        )?)
    }
}

/// Validates a feedback and sends it beside the evaluations: to the test capture in scope if
/// there is one, else to the exporter.
///
/// As with [`submit_evaluation`](crate::submit_evaluation), when nothing is recorded (LLM
/// Observability off or never initialised, no test capture in scope) this does nothing and
/// returns `Ok(())`, as does a feedback about a span that was not recorded.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Feedback, Submitter};
/// let cap = llmobs::testing::Capture::new();
/// let _g = cap.context().attach();
/// llmobs::submit_feedback(Feedback::categorical("sentiment", "positive").submitter(Submitter::new("u1")).session_id("s1")).unwrap();
/// assert_eq!(cap.evaluations()[0].submitter.as_ref().unwrap().id, "u1");
/// ```
pub fn submit_feedback(feedback: Feedback) -> Result<(), FeedbackError> {
    let capture = crate::stack::current_parent().capture;
    let recording = crate::gate::is_enabled() || capture.is_some();
    if !recording || (feedback.unrecorded_span && feedback.targets.len() == 1) {
        return Ok(());
    }
    let metric = feedback.into_metric()?;
    match capture {
        Some(c) => c.push_evaluation(metric),
        None => crate::sink::dispatch_evaluation(metric),
    }
    Ok(())
}
