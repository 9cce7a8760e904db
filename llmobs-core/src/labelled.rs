//! What an evaluation and a feedback share: a label, a typed value, tags and the optional
//! fields sent with them; how the label and value are checked, and the metric they become.
//! [`Evaluation`](crate::Evaluation) and [`Feedback`](crate::Feedback) add what they attach to
//! and their own errors.

use serde_json::{Map, Value};

use crate::annotate::MetricValue;
use crate::error::{EvaluationError, FeedbackError};
use crate::{Assessment, EvalScope, EvaluationMetric, EvaluationValue, JoinOn, Submitter};

/// Why a label or a value is refused; both public errors have a variant for each.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelError {
    EmptyLabel,
    LabelContainsDot(String),
    NonFiniteScore(f64),
    JsonNotObject,
}

impl From<LabelError> for EvaluationError {
    fn from(e: LabelError) -> Self {
        match e {
            LabelError::EmptyLabel => EvaluationError::EmptyLabel,
            LabelError::LabelContainsDot(label) => EvaluationError::LabelContainsDot { label },
            LabelError::NonFiniteScore(value) => EvaluationError::NonFiniteScore { value },
            LabelError::JsonNotObject => EvaluationError::JsonNotObject,
        }
    }
}

impl From<LabelError> for FeedbackError {
    fn from(e: LabelError) -> Self {
        match e {
            LabelError::EmptyLabel => FeedbackError::EmptyLabel,
            LabelError::LabelContainsDot(label) => FeedbackError::LabelContainsDot { label },
            LabelError::NonFiniteScore(value) => FeedbackError::NonFiniteScore { value },
            LabelError::JsonNotObject => FeedbackError::JsonNotObject,
        }
    }
}

/// A labelled value and what is sent with it.
#[derive(Debug, Clone)]
pub(crate) struct Labelled {
    label: String,
    value: Result<EvaluationValue, LabelError>,
    /// `key:value`, in the order they were added.
    pub(crate) tags: Vec<String>,
    pub(crate) ml_app: Option<String>,
    /// `None`: now.
    pub(crate) timestamp_ms: Option<u64>,
    pub(crate) assessment: Option<Assessment>,
    pub(crate) reasoning: Option<String>,
}

impl Labelled {
    fn new(label: impl Into<String>, value: Result<EvaluationValue, LabelError>) -> Self {
        Labelled {
            label: label.into(),
            value,
            tags: Vec::new(),
            ml_app: None,
            timestamp_ms: None,
            assessment: None,
            reasoning: None,
        }
    }

    pub(crate) fn score(label: impl Into<String>, value: impl MetricValue) -> Self {
        let value = value
            .to_number()
            .map(EvaluationValue::Score)
            .map_err(LabelError::NonFiniteScore);
        Labelled::new(label, value)
    }

    pub(crate) fn boolean(label: impl Into<String>, value: bool) -> Self {
        Labelled::new(label, Ok(EvaluationValue::Boolean(value)))
    }

    pub(crate) fn categorical(label: impl Into<String>, value: impl Into<String>) -> Self {
        Labelled::new(label, Ok(EvaluationValue::Categorical(value.into())))
    }

    pub(crate) fn text(label: impl Into<String>, value: impl Into<String>) -> Self {
        Labelled::new(label, Ok(EvaluationValue::Text(value.into())))
    }

    pub(crate) fn json(label: impl Into<String>, value: Value) -> Self {
        let value = if value.is_object() {
            Ok(EvaluationValue::Json(value))
        } else {
            Err(LabelError::JsonNotObject)
        };
        Labelled::new(label, value)
    }

    pub(crate) fn tag(&mut self, key: &str, value: impl std::fmt::Display) {
        self.tags.push(format!("{key}:{value}"));
    }

    /// The label is one the intake accepts: not empty, no `.`.
    pub(crate) fn check_label(&self) -> Result<(), LabelError> {
        if self.label.is_empty() {
            return Err(LabelError::EmptyLabel);
        }
        if self.label.contains('.') {
            return Err(LabelError::LabelContainsDot(self.label.clone()));
        }
        Ok(())
    }

    /// The value is one the intake accepts (a finite score, a JSON object).
    pub(crate) fn check_value(&self) -> Result<(), LabelError> {
        match &self.value {
            Ok(_) => Ok(()),
            Err(e) => Err(e.clone()),
        }
    }

    /// The metric: `ml_app` (the given one, else `default_ml_app`) first among the tags, the
    /// timestamp now unless one was given. Checks the value; the caller checks the label
    /// ([`Labelled::check_label`]) where its errors come in its order.
    pub(crate) fn into_metric(
        self,
        join_on: JoinOn,
        default_ml_app: impl FnOnce() -> String,
        eval_scope: EvalScope,
        metadata: Map<String, Value>,
        submitter: Option<Submitter>,
    ) -> Result<EvaluationMetric, LabelError> {
        let value = self.value?;
        let ml_app = self.ml_app.unwrap_or_else(default_ml_app);
        let mut tags = Vec::with_capacity(self.tags.len() + 1);
        tags.push(format!("ml_app:{ml_app}"));
        tags.extend(self.tags);
        Ok(EvaluationMetric {
            label: self.label,
            value,
            join_on,
            ml_app,
            timestamp_ms: self
                .timestamp_ms
                .unwrap_or_else(|| crate::clock::now_epoch_ns() / 1_000_000),
            tags,
            eval_scope,
            assessment: self.assessment,
            reasoning: self.reasoning,
            metadata: (!metadata.is_empty()).then_some(metadata),
            submitter,
        })
    }
}
