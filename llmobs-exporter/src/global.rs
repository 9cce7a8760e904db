//! The process-wide exporter that [`crate::init`] installs as the core's sink.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::Config;
use crate::error::Error;
use crate::exporter::Exporter;
use crate::queue::QueueSink;
use crate::stats::FlushReport;
use crate::stats::Stats;

static GLOBAL: Mutex<Option<Arc<Exporter>>> = Mutex::new(None);

fn global() -> MutexGuard<'static, Option<Arc<Exporter>>> {
    match GLOBAL.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn current() -> Option<Arc<Exporter>> {
    global().clone()
}

/// Keeps the global exporter running; dropping it flushes (bounded by the shutdown timeout,
/// default 3 s) and stops the exporter, and reports on stderr anything that was not delivered. Keep it alive for as long as spans should be exported, typically as a
/// `let _llmobs = ...;` at the top of `main` (not `let _ = ...`, which drops it at once).
#[must_use = "dropping the guard stops the exporter; bind it with `let _llmobs = ...`"]
#[derive(Debug)]
pub struct LlmObsGuard {
    exporter: Option<Arc<Exporter>>,
}

impl LlmObsGuard {
    /// Flushes the exporter this guard started; see [`crate::flush`].
    pub fn flush(&self, timeout: Duration) -> FlushReport {
        self.exporter
            .as_ref()
            .map(|e| e.flush(timeout))
            .unwrap_or_default()
    }

    /// The counters of the exporter this guard started.
    pub fn stats(&self) -> Stats {
        self.exporter
            .as_ref()
            .map(|e| e.stats())
            .unwrap_or_default()
    }
}

impl Drop for LlmObsGuard {
    fn drop(&mut self) {
        let Some(exporter) = self.exporter.take() else {
            return;
        };
        uninstall(&exporter);
        exporter.shutdown(exporter.default_shutdown_timeout());
    }
}

/// Removes `exporter` from the core if it is the installed one.
fn uninstall(exporter: &Arc<Exporter>) {
    let mut g = global();
    if g.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, exporter)) {
        *g = None;
        llmobs_core::set_enabled(false);
        llmobs_core::set_sink(None);
    }
}

impl Config {
    /// Starts the global exporter with these settings; see [`crate::init`].
    ///
    /// (Defined here, beside the global exporter it installs, so that the settings do not
    /// depend on the layer that uses them.)
    pub fn init(self) -> Result<LlmObsGuard, Error> {
        init_with(self)
    }
}

pub(crate) fn init_with(config: Config) -> Result<LlmObsGuard, Error> {
    config.validate()?;
    if let Some(previous) = current() {
        // A second `init` replaces the first: its spans are flushed, not lost.
        uninstall(&previous);
        previous.shutdown(previous.default_shutdown_timeout());
        eprintln!("llmobs: init() was called again: the previous exporter was flushed and stopped, and the new settings apply from now on");
    }
    if !config.enabled {
        llmobs_core::set_enabled(false);
        return Ok(LlmObsGuard { exporter: None });
    }
    let ml_app = config.resolved_ml_app();
    let exporter = Arc::new(Exporter::start(config)?);
    llmobs_core::set_default_ml_app(Some(ml_app.into()));
    llmobs_core::set_sink(Some(Arc::new(QueueSink(exporter.shared()))));
    *global() = Some(exporter.clone());
    llmobs_core::set_enabled(true);
    Ok(LlmObsGuard {
        exporter: Some(exporter),
    })
}

/// Starts LLM Observability with settings from the environment (see [`Config::from_env`]) and
/// returns the guard that stops it.
///
/// Never blocks on the network and does not fail when no Agent is reachable: the mode is
/// chosen on the exporter's thread (an explicit mode, else agentless if enabled, else the
/// Agent if its `/info` offers the EVP proxy, else agentless if an API key is set, else local
/// mode). Fails only for settings the user must fix.
///
/// ```no_run
/// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
/// fn main() -> Result<(), llmobs::Error> {
///     let _llmobs = llmobs::init()?;
///     // ... run the application ...
///     Ok(())
/// }
/// ```
pub fn init() -> Result<LlmObsGuard, Error> {
    Config::from_env()?.init()
}

/// Blocks until everything queued before the call is delivered or dropped, bounded by the
/// configured flush timeout. Does nothing when the exporter is not running.
pub fn flush() -> FlushReport {
    match current() {
        Some(e) => e.flush(e.default_flush_timeout()),
        None => FlushReport::default(),
    }
}

/// Like [`flush`], waiting at most `timeout` instead of the configured flush timeout.
pub fn flush_with_timeout(timeout: Duration) -> FlushReport {
    current().map(|e| e.flush(timeout)).unwrap_or_default()
}

/// The global exporter's counters (all zero when it is not running).
pub fn stats() -> Stats {
    let mut stats = current().map(|e| e.stats()).unwrap_or_default();
    stats.spans_dropped.no_exporter = llmobs_core::spans_dropped_without_sink();
    stats.spans_dropped.sink_panicked += llmobs_core::spans_lost_to_sink_panics();
    stats.evals_dropped.sink_panicked += llmobs_core::evaluations_lost_to_sink_panics();
    stats
}

/// Flushes and stops the global exporter now, as dropping its guard would. Idempotent.
pub fn shutdown() -> FlushReport {
    match current() {
        Some(e) => {
            uninstall(&e);
            e.shutdown(e.default_shutdown_timeout())
        }
        None => FlushReport::default(),
    }
}
