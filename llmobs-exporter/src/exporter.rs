//! An exporter: the queue, the pipeline's thread, and how they stop.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use llmobs_core::{EvaluationMetric, Sink, SpanBatch, SpanEvent};

use crate::config::{Config, Mode};
use crate::error::Error;
use crate::pipeline;
use crate::queue::{Control, Shared};
use crate::stats::{Drops, FlushReport, Stats};

/// How long shutdown waits for the worker after the flush timeout has passed.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

/// An exporter with its own queue and worker thread, independent of the global one that
/// [`crate::init`] installs. Several can run in one process (tests do).
///
/// ```no_run
/// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
/// use llmobs::{Config, Exporter, Mode};
/// let exporter = Exporter::start(Config::default().mode(Mode::Local))?;
/// // hand it to the core as the sink, or call `Sink::send_spans` directly
/// let report = exporter.flush(std::time::Duration::from_secs(5));
/// assert!(!report.timed_out);
/// # Ok::<(), llmobs::Error>(())
/// ```
pub struct Exporter {
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<()>>>,
    flush_timeout: Duration,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("mode", &self.mode())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// Validates the settings and starts the worker thread. Never blocks on the network: the
    /// Agent probe, when needed, runs on the worker, and spans queued meanwhile are kept.
    pub fn start(config: Config) -> Result<Exporter, Error> {
        config.validate()?;
        let (shared, receivers) = Shared::new(config.queue_max_spans, config.queue_max_bytes);
        let shared = Arc::new(shared);
        let (flush_timeout, shutdown_timeout) = (config.flush_timeout, config.shutdown_timeout);
        let worker_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("llmobs-exporter".into())
            .spawn(move || pipeline::run(worker_shared, config, receivers))
            .map_err(|e| Error::Spawn(e.to_string()))?;
        Ok(Exporter {
            shared,
            worker: Mutex::new(Some(handle)),
            flush_timeout,
            shutdown_timeout,
        })
    }

    /// Blocks until everything queued before the call is delivered or dropped, or `timeout`
    /// passes. Safe from any thread, including inside an async runtime (it only waits).
    pub fn flush(&self, timeout: Duration) -> FlushReport {
        self.shared.flush(timeout)
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The mode in use, or `None` while the worker is still probing for an Agent.
    pub fn mode(&self) -> Option<Mode> {
        self.shared.mode()
    }

    /// Flushes (bounded by `timeout`), stops the worker and waits for it. What is still
    /// undelivered is dropped and counted, and anything lost since the start is reported in one
    /// line on stderr. Calling it again does nothing.
    ///
    /// When a `flush()` timed out and nothing was delivered since, the intake has just been
    /// given its chance: this does not wait for it again.
    pub fn shutdown(&self, timeout: Duration) -> FlushReport {
        let handle = match self.worker.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        let Some(handle) = handle else {
            return FlushReport::default();
        };
        let timeout = if self.shared.flush_gave_up.load(SeqCst) {
            Duration::ZERO
        } else {
            timeout
        };
        let deadline = Instant::now() + timeout;
        let report = self.shared.flush(timeout);
        self.shared.stopping.store(true, SeqCst);
        let _ = self.shared.control.send(Control::Shutdown);
        // A request in flight can outlast the timeout (it is bounded by the request timeout
        // instead); the application's exit must not wait for it, so the worker is left to
        // finish on its own and account for what it held.
        let grace = deadline.max(Instant::now() + SHUTDOWN_GRACE);
        while !handle.is_finished() && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(5));
        }
        if handle.is_finished() {
            let _ = handle.join();
        } else {
            log::debug!(
                "llmobs: exporter still waiting on a request at shutdown; not waiting for it"
            );
            self.shared.abandon();
        }
        report_losses(&self.stats(), timeout);
        report
    }

    pub(crate) fn default_flush_timeout(&self) -> Duration {
        self.flush_timeout
    }

    pub(crate) fn default_shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }
}

impl Exporter {
    /// Queues the records of finished spans for delivery, as the core's sink does with the
    /// batches it hands over ([`Sink::send_spans`]).
    pub fn send_spans(&self, spans: Vec<SpanEvent>) {
        self.shared.send_spans(SpanBatch::from(spans));
    }
}

impl Sink for Exporter {
    fn send_spans(&self, spans: SpanBatch) {
        self.shared.send_spans(spans);
    }
    fn send_evaluation(&self, metric: EvaluationMetric) {
        self.shared.send_evaluation(metric);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.shutdown(self.shutdown_timeout);
    }
}

/// At shutdown, one line on stderr when anything was lost, whether or not a logger is installed
/// (as the OpenTelemetry SDK's default error handler does): how many spans and evaluations, and
/// why.
fn report_losses(stats: &Stats, timeout: Duration) {
    // What a processor dropped was dropped on purpose: counted in the stats, not reported.
    let mut by_reason: Vec<(&'static str, &'static str, u64)> = Vec::new();
    for (reason, meaning, n) in stats
        .spans_dropped
        .by_reason()
        .chain(stats.evals_dropped.by_reason())
        .filter(|(reason, _, _)| *reason != "processor_dropped")
    {
        match by_reason.iter_mut().find(|(r, _, _)| *r == reason) {
            Some(entry) => entry.2 += n,
            None => by_reason.push((reason, meaning, n)),
        }
    }
    if by_reason.is_empty() {
        return;
    }
    let lost = |d: &Drops| d.total() - d.processor_dropped;
    let why: Vec<String> = by_reason
        .into_iter()
        .map(|(reason, meaning, n)| match reason {
            "shutdown" => format!(
                "{n} still undelivered when the {:.1} s shutdown timeout passed (is the Agent or \
                 intake reachable?)",
                timeout.as_secs_f64()
            ),
            _ => format!("{n} {meaning}"),
        })
        .collect();
    eprintln!(
        "llmobs: {} spans and {} evaluations were not delivered: {}",
        lost(&stats.spans_dropped),
        lost(&stats.evals_dropped),
        why.join("; ")
    );
}
