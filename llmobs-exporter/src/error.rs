//! Errors of configuration and start-up.
//!
//! Only `init` and `Config::from_env` can fail, and only for things the user can fix before the
//! application runs (a malformed variable, an invalid ml_app, a missing API key). Once the
//! exporter runs, delivery problems are never errors for the application: they are logged,
//! counted in [`crate::Stats`] and reported by [`crate::flush`].

use std::fmt;

/// Why the exporter could not be configured or started. Messages say what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// The rule ml_app names must follow, quoted in [`Error::InvalidMlApp`].
pub const ML_APP_RULE: &str = "an ml_app name must be lower-case, use only letters a-z, digits and \
    `_ - : . /`, be at most 193 characters long, and contain no consecutive or trailing underscores";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidSetting { name, value, expected } => {
                write!(f, "invalid value {value:?} for {name}: expected {expected}")
            }
            Error::InvalidMlApp { name, source } => {
                write!(f, "invalid ml_app {name:?} (from {source}): {ML_APP_RULE}")
            }
            Error::MissingApiKey => f.write_str(
                "DD_API_KEY is required to send LLM Observability data in agentless mode; \
                 set it, or run a Datadog Agent and disable agentless mode",
            ),
            Error::MissingSite => f.write_str(
                "DD_SITE is required in agentless mode (for example `datadoghq.com` or `datadoghq.eu`)",
            ),
            Error::Spawn(e) => write!(f, "could not start the llmobs exporter thread: {e}"),
        }
    }
}

impl std::error::Error for Error {}
