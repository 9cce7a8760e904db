//! The one error type of the SDK's API.
//!
//! `init` and `Config::from_env` fail only for things the user can fix before the application
//! runs (a malformed variable, an invalid ml_app, a missing API key). Once the exporter runs,
//! delivery problems are never errors for the application: they are logged, counted in
//! [`crate::Stats`] and reported by [`crate::flush`]. The runtime calls (annotate, export_span,
//! submit_evaluation, distributed headers) have error types of their own, and each converts
//! into [`Error`], so a function returning `Result<_, llmobs::Error>` can use `?` on any call.

use std::fmt;

use llmobs_core::{AnnotateError, EvaluationError, ExportError, FeedbackError, PropagationError};

/// Any error of the SDK: why the exporter could not be configured or started, or why a runtime
/// call refused its input. Messages say what to change.
///
/// `Debug` prints the same text as `Display`, so that `fn main() -> Result<(), llmobs::Error>`
/// shows the helpful message.
///
/// ```
/// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
/// fn handle() -> Result<(), llmobs::Error> {
///     let _cap = llmobs::testing::Capture::new(); // spans are recorded in this test
///     let _g = _cap.context().attach();
///     llmobs::annotate().tag("k", "v").apply()?; // outside any span: an AnnotateError
///     Ok(())
/// }
/// let err = handle().unwrap_err();
/// assert!(matches!(err, llmobs::Error::Annotate(_)));
/// assert_eq!(format!("{err:?}"), err.to_string());
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An environment variable (or the matching setter) has a value that cannot be used.
    InvalidSetting {
        /// The variable's name, e.g. `DD_LLMOBS_SAMPLE_RATE`.
        name: &'static str,
        /// The rejected value.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The ml_app name breaks the naming rule.
    InvalidMlApp {
        /// The rejected name.
        name: String,
        /// Where it came from (`DD_LLMOBS_ML_APP`, `DD_SERVICE` or `Config::ml_app`).
        source: &'static str,
    },
    /// Agentless mode was requested without an API key.
    MissingApiKey,
    /// Agentless mode was requested with an empty site.
    MissingSite,
    /// The exporter's worker thread could not be started.
    Spawn(String),
    /// An annotation was refused ([`llmobs_core::Annotate::apply`]).
    Annotate(AnnotateError),
    /// A span's ids could not be exported ([`llmobs_core::export_span`]).
    Export(ExportError),
    /// An evaluation was refused ([`llmobs_core::submit_evaluation`]).
    Evaluation(EvaluationError),
    /// A feedback was refused ([`llmobs_core::submit_feedback`]).
    Feedback(FeedbackError),
    /// Distributed headers could not be injected or read.
    Propagation(PropagationError),
}

macro_rules! from_runtime_errors {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(e: $ty) -> Self {
                Error::$variant(e)
            }
        }
    )*};
}

from_runtime_errors! {
    Annotate(AnnotateError),
    Export(ExportError),
    Evaluation(EvaluationError),
    Feedback(FeedbackError),
    Propagation(PropagationError),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The rule ml_app names must follow, quoted in [`Error::InvalidMlApp`].
///
/// The same text the attributes quote when they refuse a literal `ml_app` at compile time: both
/// come from `llmobs-rules`.
#[doc(inline)]
pub use llmobs_rules::ML_APP_RULE;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidSetting { name, value, expected } => {
                write!(f, "invalid value {value:?} for {name}: expected {expected}")
            }
            Error::InvalidMlApp { name, source } => {
                write!(f, "invalid ml_app {name:?} (from {source}): ")?;
                if let Some(problem) = llmobs_rules::ml_app_problem(name) {
                    write!(f, "{problem}; ")?;
                }
                f.write_str(ML_APP_RULE)
            }
            Error::MissingApiKey => f.write_str(
                "DD_API_KEY is required to send LLM Observability data in agentless mode; \
                 set it, or run a Datadog Agent and disable agentless mode",
            ),
            Error::MissingSite => f.write_str(
                "DD_SITE is required in agentless mode (for example `datadoghq.com` or `datadoghq.eu`)",
            ),
            Error::Spawn(e) => write!(f, "could not start the llmobs exporter thread: {e}"),
            Error::Annotate(e) => e.fmt(f),
            Error::Export(e) => e.fmt(f),
            Error::Evaluation(e) => e.fmt(f),
            Error::Feedback(e) => e.fmt(f),
            Error::Propagation(e) => e.fmt(f),
        }
    }
}

// The runtime errors are shown by `Display` itself (and reached by matching the variant), so
// they are not also reported as a `source`, which error reporters would print twice.
impl std::error::Error for Error {}
