//! Process-wide defaults that spans fall back to, set once by `init()`.

use std::sync::RwLock;

use crate::SharedStr;

/// The `ml_app` used when a span names none and `DD_LLMOBS_ML_APP`/`DD_SERVICE` are unset.
pub const DEFAULT_ML_APP: &str = "unnamed-ml-app";

static ML_APP: RwLock<Option<SharedStr>> = RwLock::new(None);

/// Sets the configured ml_app (already resolved from `DD_LLMOBS_ML_APP`, then `DD_SERVICE`).
pub fn set_default_ml_app(ml_app: Option<SharedStr>) {
    if let Ok(mut g) = ML_APP.write() {
        *g = ml_app;
    }
}

/// The configured ml_app, or [`DEFAULT_ML_APP`].
pub fn default_ml_app() -> SharedStr {
    ML_APP
        .read()
        .ok()
        .and_then(|g| g.clone())
        .unwrap_or(SharedStr::Static(DEFAULT_ML_APP))
}
