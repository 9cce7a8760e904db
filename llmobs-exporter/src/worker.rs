//! The queue between the application and the exporter's thread, and that thread.
//!
//! The application only does a `try_send` into a bounded channel: it never blocks, never does
//! I/O, and when the queue is full the span is dropped and counted rather than slowing the
//! application down. One worker thread per exporter wakes on a timer, or early when the queue
//! passes half its bound, then drains everything, runs processors, encodes, batches and
//! delivers. Batching per tick rather than per span keeps the request count and the wake-ups
//! independent of the span rate.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{
    AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst,
};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TrySendError};
use crossbeam_utils::CachePadded;
use llmobs_core::{Annotations, EvaluationMetric, Sink, SpanBatch, SpanEvent, SpanIo};
use serde_json::Value;

use crate::batch::{Batch, Batcher, Kind};
use crate::config::{Config, Keep, Mode, Processor};
use crate::encode::Encoder;
use crate::error::Error;
use crate::local::LocalSink;
use crate::redact::Redaction;
use crate::retry::{backoff, classify_status, parse_retry_after, Verdict};
use crate::stats::{Counters, DropReason, Drops, Stats};
use crate::transport::{probe_agent, Response, Transport};

/// The span metric that counts the values redaction replaced (metric keys may not contain `.`).
pub(crate) const REDACTED_VALUES_METRIC: &str = "redacted_values";

/// How long shutdown waits for the worker after the flush timeout has passed.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

enum Item {
    Spans(SpanBatch, usize),
    Eval(Box<EvaluationMetric>, usize),
}

enum Control {
    Flush,
    Shutdown,
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Spans and evaluations delivered while the flush waited.
    pub delivered: u64,
    /// Spans and evaluations dropped while the flush waited.
    pub dropped: u64,
    /// Spans and evaluations queued before the flush that were still undelivered when it
    /// returned.
    pub pending: u64,
    /// Whether the timeout passed before everything queued before the call was settled.
    pub timed_out: bool,
}

impl std::fmt::Display for FlushReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "llmobs flush: {} delivered, {} dropped, {} pending",
            self.delivered, self.dropped, self.pending
        )?;
        if self.timed_out {
            f.write_str(
                " (timed out: the intake did not answer in time; what is pending is retried \
                 within the retry window)",
            )?;
        }
        Ok(())
    }
}

/// State shared by the application side (the sink) and the worker.
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    tx: Sender<Item>,
    wake: Sender<()>,
    control: Sender<Control>,
    /// Written by application threads only, on one cache line of their own.
    producer: CachePadded<ProducerSide>,
    /// Written by the worker only (and shutdown), on another.
    consumer: CachePadded<ConsumerSide>,
    max_units: usize,
    max_bytes: usize,
    /// Every span or evaluation delivered or dropped.
    settled: CachePadded<AtomicU64>,
    /// Flushes waiting for `settled` to reach their target.
    flush_waiters: AtomicUsize,
    settled_lock: Mutex<()>,
    settled_cv: Condvar,
    mode: AtomicU8,
    /// A flush timed out, and nothing was delivered since.
    flush_gave_up: AtomicBool,
    stopping: AtomicBool,
    /// Set when shutdown stopped waiting for the worker: what it held was counted as
    /// `shutdown` then, so its later outcomes are not counted again.
    abandoned: AtomicBool,
    accounting: Mutex<()>,
}

/// What application threads count as they hand work over. How much is queued, and how much the
/// worker has not settled yet, are differences between these totals and the worker's: no
/// counter is written by both sides, so handing a trace over touches no line the worker writes.
#[derive(Default)]
struct ProducerSide {
    /// Every span or evaluation ever handed over, accepted or not.
    handed_over: AtomicU64,
    /// Units and bytes ever accepted into the queue (both kinds).
    accepted_units: AtomicU64,
    accepted_bytes: AtomicU64,
    /// Units ever accepted, per kind (`Stats::spans_enqueued`, `evals_enqueued`).
    accepted: [AtomicU64; 2],
    /// The worker's `taken_*` totals as last read: a stale copy over-estimates the queue, so it
    /// only needs reading again when the queue looks full.
    taken_units_seen: AtomicU64,
    taken_bytes_seen: AtomicU64,
}

#[derive(Default)]
struct ConsumerSide {
    /// Units and bytes ever taken out of the queue by the worker.
    taken_units: AtomicU64,
    taken_bytes: AtomicU64,
    /// Units ever settled (delivered, dropped, or counted at shutdown) after being accepted, per
    /// kind. Written under `accounting`.
    settled: [AtomicU64; 2],
}

impl Shared {
    /// The counters, with what is counted on the application side.
    fn stats(&self) -> Stats {
        let mut s = self.counters.snapshot();
        s.spans_enqueued = self.producer.accepted[kind_index(Kind::Spans)].load(Relaxed);
        s.evals_enqueued = self.producer.accepted[kind_index(Kind::Evals)].load(Relaxed);
        s
    }

    /// Counts what the worker took out of the queue.
    fn taken(&self, units: usize, bytes: usize) {
        self.consumer.taken_units.fetch_add(units as u64, Relaxed);
        self.consumer.taken_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Accepted units of this kind the worker has not settled yet.
    fn in_flight(&self, kind: Kind) -> u64 {
        let k = kind_index(kind);
        self.producer.accepted[k]
            .load(SeqCst)
            .saturating_sub(self.consumer.settled[k].load(SeqCst))
    }

    /// Whether the queue has no room for `units` more units and `bytes` more bytes, reading the
    /// worker's totals again only when the copy seen last says so.
    fn queue_full(&self, units: u64, bytes: u64) -> bool {
        let p = &self.producer;
        let over = |taken_units: u64, taken_bytes: u64| {
            p.accepted_units.load(Relaxed).saturating_sub(taken_units) + units
                > self.max_units as u64
                || p.accepted_bytes.load(Relaxed).saturating_sub(taken_bytes) + bytes
                    > self.max_bytes as u64
        };
        if !over(
            p.taken_units_seen.load(Relaxed),
            p.taken_bytes_seen.load(Relaxed),
        ) {
            return false;
        }
        let (tu, tb) = (
            self.consumer.taken_units.load(Relaxed),
            self.consumer.taken_bytes.load(Relaxed),
        );
        // Only written when it moved: under overload every hand-over lands here.
        if tu > p.taken_units_seen.load(Relaxed) {
            p.taken_units_seen.fetch_max(tu, Relaxed);
        }
        if tb > p.taken_bytes_seen.load(Relaxed) {
            p.taken_bytes_seen.fetch_max(tb, Relaxed);
        }
        over(tu, tb)
    }

    fn settle(&self, n: u64) {
        self.settled.fetch_add(n, SeqCst);
        // Most settles happen with no flush waiting, some on the application thread (a full
        // queue): only then is the lock worth taking. `flush` registers before it checks
        // `settled` and we check `waiters` after adding (both SeqCst), so either it sees our
        // addition or we see it waiting.
        if self.flush_waiters.load(SeqCst) > 0 {
            // Taking the lock orders this notification after any waiter's check of `settled`.
            let _g = self.settled_lock.lock();
            self.settled_cv.notify_all();
        }
    }

    fn drop_units(&self, kind: Kind, reason: DropReason, n: u64) {
        match kind {
            Kind::Spans => self.counters.spans_dropped.add(reason, n),
            Kind::Evals => self.counters.evals_dropped.add(reason, n),
        }
        self.settle(n);
    }

    /// Settles what the worker took from the queue: delivered (`None`) or dropped.
    fn worker_settled(&self, kind: Kind, outcome: Option<DropReason>, n: u64) {
        let _g = match self.accounting.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if self.abandoned.load(SeqCst) {
            return;
        }
        self.consumer.settled[kind_index(kind)].fetch_add(n, SeqCst);
        if outcome.is_none() && n > 0 {
            self.flush_gave_up.store(false, SeqCst);
        }
        match (outcome, kind) {
            (None, Kind::Spans) => self.counters.spans_delivered.fetch_add(n, Relaxed),
            (None, Kind::Evals) => self.counters.evals_delivered.fetch_add(n, Relaxed),
            (Some(reason), _) => {
                self.drop_units(kind, reason, n);
                return;
            }
        };
        self.settle(n);
    }

    /// Counts everything the worker still holds as dropped at shutdown.
    fn abandon(&self) {
        let _g = match self.accounting.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        self.abandoned.store(true, SeqCst);
        for kind in [Kind::Spans, Kind::Evals] {
            let n = self.in_flight(kind);
            self.consumer.settled[kind_index(kind)].fetch_add(n, SeqCst);
            if n > 0 {
                self.drop_units(kind, DropReason::Shutdown, n);
            }
        }
    }

    fn enqueue(&self, item: Item, kind: Kind, units: usize, bytes: usize) {
        let p = &self.producer;
        let (units, bytes) = (units as u64, bytes as u64);
        p.handed_over.fetch_add(units, SeqCst);
        if self.stopping.load(Relaxed) {
            self.drop_units(kind, DropReason::Shutdown, units);
            return;
        }
        // Checked before anything is added, so that under overload (every trace dropped) the
        // hand-over writes nothing but `handed_over`.
        if self.queue_full(units, bytes) {
            self.drop_units(kind, DropReason::QueueFull, units);
            return;
        }
        let before = p.accepted_units.fetch_add(units, Relaxed);
        let before_bytes = p.accepted_bytes.fetch_add(bytes, Relaxed);
        let undo = || {
            p.accepted_units.fetch_sub(units, Relaxed);
            p.accepted_bytes.fetch_sub(bytes, Relaxed);
        };
        // Another thread may have filled the queue between the check and the add.
        let queued = before.saturating_sub(p.taken_units_seen.load(Relaxed));
        let queued_bytes = before_bytes.saturating_sub(p.taken_bytes_seen.load(Relaxed));
        if (queued + units > self.max_units as u64 || queued_bytes + bytes > self.max_bytes as u64)
            && self.queue_full(0, 0)
        {
            undo();
            self.drop_units(kind, DropReason::QueueFull, units);
            return;
        }
        let k = kind_index(kind);
        // Counted before the send: the worker may settle the item before `try_send` returns.
        p.accepted[k].fetch_add(units, SeqCst);
        match self.tx.try_send(item) {
            Ok(()) => {
                // Half full (as far as this thread can tell): wake the worker early.
                let (high, high_bytes) = (self.max_units as u64 / 2, self.max_bytes as u64 / 2);
                if (queued < high && queued + units >= high)
                    || (queued_bytes < high_bytes && queued_bytes + bytes >= high_bytes)
                {
                    let _ = self.wake.try_send(());
                }
            }
            Err(e) => {
                p.accepted[k].fetch_sub(units, SeqCst);
                undo();
                let reason = match e {
                    TrySendError::Full(_) => DropReason::QueueFull,
                    TrySendError::Disconnected(_) => DropReason::Shutdown,
                };
                self.drop_units(kind, reason, units);
            }
        }
    }

    pub(crate) fn send_spans(&self, spans: SpanBatch) {
        if spans.is_empty() {
            return;
        }
        let n = spans.len();
        let bytes = spans.contents().map(|(n, a)| approx_span_bytes(n, a)).sum();
        self.enqueue(Item::Spans(spans, bytes), Kind::Spans, n, bytes);
    }

    pub(crate) fn send_evaluation(&self, metric: EvaluationMetric) {
        let bytes =
            300 + metric.label.len() + metric.tags.iter().map(|t| t.len() + 4).sum::<usize>();
        self.enqueue(Item::Eval(Box::new(metric), bytes), Kind::Evals, 1, bytes);
    }

    fn mode(&self) -> Option<Mode> {
        match self.mode.load(SeqCst) {
            1 => Some(Mode::Agent),
            2 => Some(Mode::Agentless),
            3 => Some(Mode::Local),
            _ => None,
        }
    }

    fn flush(&self, timeout: Duration) -> FlushReport {
        let deadline = after(timeout);
        let target = self.producer.handed_over.load(SeqCst);
        let before = self.stats();
        let _ = self.control.send(Control::Flush);
        self.flush_waiters.fetch_add(1, SeqCst);
        let mut guard = match self.settled_lock.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut timed_out = false;
        while self.settled.load(SeqCst) < target {
            let now = Instant::now();
            if now >= deadline {
                timed_out = true;
                break;
            }
            guard = match self.settled_cv.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        drop(guard);
        self.flush_waiters.fetch_sub(1, SeqCst);
        if timed_out {
            self.flush_gave_up.store(true, SeqCst);
        }
        let after = self.stats();
        FlushReport {
            delivered: after.delivered() - before.delivered(),
            dropped: after.dropped() - before.dropped(),
            pending: target.saturating_sub(self.settled.load(SeqCst)),
            timed_out,
        }
    }
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::Spans => 0,
        Kind::Evals => 1,
    }
}

/// What an event with nothing recorded but its name takes, roughly, on the wire.
const EMPTY_SPAN_BYTES: usize = 600;

/// A rough size of a span's event, cheap enough for the application thread: no JSON is built.
/// Inline for the common span with nothing recorded, which is a length and an addition.
#[inline]
fn approx_span_bytes(name: &str, a: Option<&Annotations>) -> usize {
    match a {
        None => EMPTY_SPAN_BYTES + name.len(),
        Some(a) => approx_annotated_bytes(name, a),
    }
}

#[inline(never)]
fn approx_annotated_bytes(name: &str, a: &Annotations) -> usize {
    let io = |io: &Option<SpanIo>| match io {
        None => 0,
        Some(SpanIo::Value(v)) => approx_value_bytes(v),
        Some(SpanIo::Messages(m)) => m.iter().map(|m| m.content.len() + 48).sum(),
        Some(SpanIo::Documents(d)) => d.iter().map(|d| d.text.len() + 48).sum(),
    };
    EMPTY_SPAN_BYTES
        + name.len()
        + io(&a.input)
        + io(&a.output)
        + a.metadata
            .iter()
            .map(|(k, v)| k.len() + approx_value_bytes(v))
            .sum::<usize>()
        + a.tags
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
        + a.metrics.len() * 32
}

fn approx_value_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(approx_value_bytes).sum::<usize>(),
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, v)| k.len() + 4 + approx_value_bytes(v))
                .sum::<usize>()
        }
        _ => 8,
    }
}

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
        let (tx, rx) = bounded(config.queue_max_spans);
        let (wake, wake_rx) = bounded(1);
        let (control, control_rx) = unbounded();
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            tx,
            wake,
            control,
            producer: CachePadded::default(),
            consumer: CachePadded::default(),
            max_units: config.queue_max_spans,
            max_bytes: config.queue_max_bytes,
            flush_waiters: AtomicUsize::new(0),
            settled: CachePadded::new(AtomicU64::new(0)),
            settled_lock: Mutex::new(()),
            settled_cv: Condvar::new(),
            mode: AtomicU8::new(0),
            flush_gave_up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            accounting: Mutex::new(()),
        });
        let (flush_timeout, shutdown_timeout) = (config.flush_timeout, config.shutdown_timeout);
        let worker_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("llmobs-exporter".into())
            .spawn(move || run(worker_shared, config, rx, wake_rx, control_rx))
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

/// The sink installed in the core for the global exporter: only the application-side half.
pub(crate) struct QueueSink(pub(crate) Arc<Shared>);

impl Sink for QueueSink {
    fn send_spans(&self, spans: SpanBatch) {
        self.0.send_spans(spans);
    }
    fn send_evaluation(&self, metric: EvaluationMetric) {
        self.0.send_evaluation(metric);
    }
}

/// The mode to start in, and whether it is local mode chosen only because no Agent answered
/// (then the worker keeps looking for one).
///
/// An Agent the user configured is never replaced by local mode: on a production host a
/// sidecar Agent may start after the application, and until it answers, spans wait (within the
/// queue, retry buffer and retry window) rather than being printed and written to a local file.
fn resolve_mode(config: &Config) -> (Mode, bool) {
    if let Some(m) = config.mode {
        return (m, false);
    }
    let timeout = config.request_timeout.min(Duration::from_secs(2));
    match config.agentless {
        Some(true) => (Mode::Agentless, false),
        Some(false) => (Mode::Agent, false),
        None => {
            if probe_agent(&config.agent_url, timeout) {
                (Mode::Agent, false)
            } else if config.api_key.as_ref().is_some_and(|k| !k.0.is_empty()) {
                // As the reference does: an API key and no Agent with the EVP proxy.
                (Mode::Agentless, false)
            } else if config.agent_configured {
                log::warn!(
                    "llmobs: the Datadog Agent at {} does not answer yet; spans are kept and sent \
                     once it does",
                    config.agent_url
                );
                (Mode::Agent, false)
            } else {
                (Mode::Local, true)
            }
        }
    }
}

/// Local mode chosen because no Agent answered: where and when to look for one again.
struct AgentWatch {
    url: String,
    timeout: Duration,
    every: Duration,
    next: Instant,
    /// What the worker sends through once the Agent answers.
    transport: Transport,
}

enum Delivery {
    Delivered,
    Rejected,
    Failed,
}

struct Worker {
    shared: Arc<Shared>,
    encoder: Encoder,
    processors: Vec<Processor>,
    redaction: Option<Arc<Redaction>>,
    transport: Option<Transport>,
    local: Option<LocalSink>,
    agent_watch: Option<AgentWatch>,
    spans: Batcher,
    evals: Batcher,
    kept: VecDeque<Batch>,
    kept_bytes: usize,
    retry_buffer_bytes: usize,
    max_attempts: u32,
    retry_window: Duration,
    initial_backoff: Duration,
    retry_after_cap: Duration,
    interval: Duration,
    next_retry: Instant,
    /// Whether the last request of this tick failed: then the rest is kept without trying, so
    /// an outage does not cost a timeout per batch.
    intake_down: bool,
    last_warning: HashMap<&'static str, Instant>,
}

fn run(
    shared: Arc<Shared>,
    config: Config,
    rx: Receiver<Item>,
    wake: Receiver<()>,
    control: Receiver<Control>,
) {
    let (mode, watch) = resolve_mode(&config);
    shared.mode.store(
        match mode {
            Mode::Agent => 1,
            Mode::Agentless => 2,
            Mode::Local => 3,
        },
        SeqCst,
    );
    log::debug!("llmobs: exporter mode {}", mode.as_str());
    let (transport, local) = match mode {
        Mode::Local => {
            let l = LocalSink::new(config.local_file.clone(), config.print_local_tree);
            l.announce();
            (None, Some(l))
        }
        m => (Some(Transport::new(&config, m)), None),
    };
    let agent_watch = watch.then(|| AgentWatch {
        url: config.agent_url.clone(),
        timeout: config.request_timeout.min(Duration::from_secs(2)),
        every: config.agent_probe_interval,
        next: Instant::now() + config.agent_probe_interval,
        transport: Transport::new(&config, Mode::Agent),
    });
    let mut w = Worker {
        shared: shared.clone(),
        encoder: Encoder::new(&config),
        processors: config.processors.clone(),
        redaction: config.redaction.clone(),
        transport,
        local,
        agent_watch,
        spans: Batcher::new(Kind::Spans, config.payload_size_bytes),
        evals: Batcher::new(Kind::Evals, config.payload_size_bytes),
        kept: VecDeque::new(),
        kept_bytes: 0,
        retry_buffer_bytes: config.retry_buffer_bytes,
        max_attempts: config.max_attempts,
        retry_window: config.retry_window,
        initial_backoff: config.initial_backoff,
        retry_after_cap: config.retry_after_cap,
        interval: config.interval,
        next_retry: Instant::now(),
        intake_down: false,
        last_warning: HashMap::new(),
    };
    let mut next_tick = after(config.interval);
    loop {
        let mut stop = false;
        let mut forced = false;
        crossbeam_channel::select! {
            recv(wake) -> _ => {}
            recv(control) -> msg => match msg {
                Ok(Control::Flush) => forced = true,
                Ok(Control::Shutdown) | Err(_) => stop = true,
            },
            default(next_tick.saturating_duration_since(Instant::now())) => {}
        }
        let now = Instant::now();
        if now >= next_tick {
            forced = true;
            next_tick = after(config.interval);
        }
        if !stop {
            w.watch_for_agent();
        }
        let ticked = catch_unwind(AssertUnwindSafe(|| w.tick(&rx, forced || stop)));
        if ticked.is_err() {
            log::error!("llmobs: exporter tick failed unexpectedly; continuing");
        }
        if stop {
            w.drop_kept();
            break;
        }
    }
}

impl Worker {
    /// In local mode chosen because no Agent answered, looks for one when due; from its first
    /// answer on, everything goes to it.
    fn watch_for_agent(&mut self) {
        let Some(watch) = &mut self.agent_watch else {
            return;
        };
        let now = Instant::now();
        if now < watch.next {
            return;
        }
        if !probe_agent(&watch.url, watch.timeout) {
            watch.next = now + watch.every;
            return;
        }
        if let Some(watch) = self.agent_watch.take() {
            // Said where local mode said it started: on stderr.
            eprintln!(
                "llmobs: a Datadog Agent answered at {}; local mode ends, spans go to the Agent from now on",
                watch.url
            );
            if let Some(local) = &mut self.local {
                local.print_pending();
            }
            self.local = None;
            self.transport = Some(watch.transport);
            self.shared.mode.store(1, SeqCst);
        }
    }

    fn warn(&mut self, key: &'static str, msg: impl FnOnce() -> String) {
        let now = Instant::now();
        let due = self
            .last_warning
            .get(key)
            .is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(60));
        if due {
            self.last_warning.insert(key, now);
            log::warn!("llmobs: {}", msg());
        }
    }

    fn tick(&mut self, rx: &Receiver<Item>, retry_now: bool) {
        self.intake_down = false;
        if !self.kept.is_empty() && (retry_now || Instant::now() >= self.next_retry) {
            self.retry_kept();
        }
        // Bounded by what is queued now, so a producer faster than us cannot keep the tick
        // from ever sending.
        let n = rx.len();
        for item in rx.try_iter().take(n) {
            match item {
                Item::Spans(spans, bytes) => {
                    self.shared.taken(spans.len(), bytes);
                    // Dropping the batch sends its slot arena back to the recording thread.
                    let events = spans.into_events();
                    self.process_spans(events);
                }
                Item::Eval(metric, bytes) => {
                    self.shared.taken(1, bytes);
                    let json = self.encoder.encode_eval(&metric);
                    if let Some(b) = self.evals.push(&json) {
                        self.dispatch(b);
                    }
                }
            }
        }
        if let Some(b) = self.spans.finish() {
            self.dispatch(b);
        }
        if let Some(b) = self.evals.finish() {
            self.dispatch(b);
        }
        if let Some(local) = &mut self.local {
            local.print_pending();
        }
    }

    /// Processes, encodes and batches spans; returns the records it is done with.
    fn process_spans(&mut self, mut spans: Vec<SpanEvent>) -> Vec<SpanEvent> {
        // The reference sends a trace's spans in start order (root first), whatever order they
        // finished in.
        spans.sort_by_key(|s| s.start_ns);
        let kept =
            if self.processors.is_empty() && self.redaction.as_ref().is_none_or(|r| r.is_empty()) {
                // Nothing can rewrite or drop a span: skip the pass and its second vector.
                spans
            } else {
                self.apply_processors(spans)
            };
        if let Some(local) = &mut self.local {
            local.print_trace(&kept);
        }
        for span in &kept {
            let encoder = &self.encoder;
            let (cut, truncated) = self
                .spans
                .push_with(|body| encoder.encode_span_into(span, body));
            if truncated {
                self.shared.counters.spans_truncated.fetch_add(1, Relaxed);
            }
            if let Some(b) = cut {
                self.dispatch(b);
            }
        }
        kept
    }

    /// Runs the processors, then redaction, on each span; the spans left to send.
    fn apply_processors(&mut self, spans: Vec<SpanEvent>) -> Vec<SpanEvent> {
        let mut kept = Vec::with_capacity(spans.len());
        let mut dropped = 0u64;
        'spans: for mut span in spans {
            for p in &self.processors {
                match catch_unwind(AssertUnwindSafe(|| p(&mut span))) {
                    Ok(Keep::Yes) => {}
                    Ok(Keep::No) => {
                        dropped += 1;
                        continue 'spans;
                    }
                    Err(_) => {
                        // A processor that panicked may have redacted only part of the span.
                        log::error!("llmobs: a span processor panicked; the span was dropped");
                        dropped += 1;
                        continue 'spans;
                    }
                }
            }
            // After the processors, so whatever they added is covered too and spans they drop
            // cost no scan; before the local tree and the encoder, so nothing the SDK prints,
            // writes or sends holds the original text.
            if let Some(r) = &self.redaction {
                match catch_unwind(AssertUnwindSafe(|| r.redact_span(&mut span))) {
                    Ok(0) => {}
                    Ok(n) => {
                        span.annotations_mut()
                            .metrics
                            .insert(REDACTED_VALUES_METRIC.into(), (n as u64).into());
                    }
                    Err(_) => {
                        // Half-redacted is not redacted: never send it.
                        log::error!("llmobs: redaction failed on a span; the span was dropped");
                        dropped += 1;
                        continue 'spans;
                    }
                }
            }
            kept.push(span);
        }
        if dropped > 0 {
            self.shared
                .worker_settled(Kind::Spans, Some(DropReason::ProcessorDropped), dropped);
        }
        kept
    }

    fn delivered(&self, batch: &Batch) {
        self.shared.worker_settled(batch.kind, None, batch.units);
    }

    fn dispatch(&mut self, batch: Batch) {
        if let Some(local) = &mut self.local {
            // A destination that panics loses this batch, counted; the worker goes on.
            let Ok(written) = catch_unwind(AssertUnwindSafe(|| local.write_payload(&batch.body)))
            else {
                self.destination_panicked(batch);
                return;
            };
            match written {
                Ok(()) => self.delivered(&batch),
                Err(e) => {
                    self.warn("local", || {
                        format!("could not append to the local payload file: {e}")
                    });
                    self.shared.worker_settled(
                        batch.kind,
                        Some(DropReason::PayloadRejected),
                        batch.units,
                    );
                }
            }
            self.recycle(batch);
            return;
        }
        if self.intake_down {
            self.keep(batch);
            return;
        }
        let Ok(delivery) = catch_unwind(AssertUnwindSafe(|| self.deliver(&batch))) else {
            self.destination_panicked(batch);
            return;
        };
        match delivery {
            Delivery::Delivered => self.delivered(&batch),
            Delivery::Rejected => self.shared.worker_settled(
                batch.kind,
                Some(DropReason::PayloadRejected),
                batch.units,
            ),
            Delivery::Failed => {
                self.intake_down = true;
                self.keep(batch);
                return;
            }
        }
        self.recycle(batch);
    }

    #[cold]
    fn destination_panicked(&mut self, batch: Batch) {
        self.warn("panicked", || {
            "the destination panicked on a batch; it was dropped and counted (sink_panicked)"
                .to_owned()
        });
        self.shared
            .worker_settled(batch.kind, Some(DropReason::SinkPanicked), batch.units);
    }

    /// Gives a settled body's memory back to its batcher for the next body.
    fn recycle(&mut self, batch: Batch) {
        match batch.kind {
            Kind::Spans => self.spans.recycle(batch.body),
            Kind::Evals => self.evals.recycle(batch.body),
        }
    }

    /// Keeps a failed batch for a later tick while the retry window and buffer allow.
    fn keep(&mut self, mut batch: Batch) {
        let now = Instant::now();
        let first = *batch.first_failure.get_or_insert(now);
        self.next_retry = now + self.interval;
        if self.shared.stopping.load(SeqCst) {
            self.shared
                .worker_settled(batch.kind, Some(DropReason::Shutdown), batch.units);
        } else if now.duration_since(first) >= self.retry_window {
            let units = batch.units;
            self.warn("exhausted", || {
                format!("dropping {units} LLMObs events after retrying for the whole retry window")
            });
            self.shared
                .worker_settled(batch.kind, Some(DropReason::RetriesExhausted), batch.units);
        } else if self.kept_bytes + batch.body.len() > self.retry_buffer_bytes {
            self.warn("buffer", || {
                "retry buffer full, dropping LLMObs events".to_owned()
            });
            self.shared
                .worker_settled(batch.kind, Some(DropReason::BufferFull), batch.units);
        } else {
            self.kept_bytes += batch.body.len();
            self.kept.push_back(batch);
        }
    }

    fn retry_kept(&mut self) {
        let pending: Vec<Batch> = self.kept.drain(..).collect();
        self.kept_bytes = 0;
        for batch in pending {
            self.dispatch(batch);
        }
    }

    fn drop_kept(&mut self) {
        while let Some(b) = self.kept.pop_front() {
            self.shared
                .worker_settled(b.kind, Some(DropReason::Shutdown), b.units);
        }
        self.kept_bytes = 0;
    }

    fn deliver(&mut self, batch: &Batch) -> Delivery {
        let Some(transport) = &self.transport else {
            return Delivery::Failed;
        };
        let what = match batch.kind {
            Kind::Spans => "span",
            Kind::Evals => "evaluation",
        };
        let mut last_error = String::new();
        for attempt in 0..self.max_attempts {
            self.shared.counters.requests.fetch_add(1, Relaxed);
            if attempt > 0 {
                self.shared.counters.retries.fetch_add(1, Relaxed);
            }
            let wait = match transport.send(batch.kind, &batch.body) {
                Response::Status {
                    code,
                    retry_after,
                    body,
                } => match classify_status(code) {
                    Verdict::Delivered => {
                        self.shared
                            .counters
                            .bytes_sent
                            .fetch_add(batch.body.len() as u64, Relaxed);
                        return Delivery::Delivered;
                    }
                    Verdict::Reject => {
                        let (units, url) = (batch.units, transport.url(batch.kind).to_owned());
                        self.warn("rejected", || {
                            format!("failed to send {units} LLMObs {what} events to {url}, got response code {code}: {body}")
                        });
                        return Delivery::Rejected;
                    }
                    Verdict::Retry(_) => {
                        last_error = format!("response code {code}");
                        retry_after
                            .and_then(|v| parse_retry_after(&v, self.retry_after_cap))
                            .unwrap_or_else(|| backoff(self.initial_backoff, attempt))
                    }
                },
                Response::Failed(e) => {
                    last_error = e;
                    backoff(self.initial_backoff, attempt)
                }
            };
            if attempt + 1 < self.max_attempts && !self.sleep(wait) {
                break;
            }
        }
        let (units, url) = (batch.units, transport.url(batch.kind).to_owned());
        self.warn("failed", || {
            format!(
                "failed to send {units} LLMObs {what} events to {url}: {last_error}; will retry"
            )
        });
        Delivery::Failed
    }

    /// Sleeps unless the exporter is stopping; returns whether it slept the whole time.
    fn sleep(&self, d: Duration) -> bool {
        let end = after(d);
        loop {
            if self.shared.stopping.load(SeqCst) {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}

/// `Instant::now() + d`, saturating: a huge timeout means "practically never" instead of an
/// overflow panic (`Duration::MAX` is a reasonable thing to pass to `flush_timeout`).
fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    #[test]
    fn a_huge_timeout_is_a_far_deadline_not_a_panic() {
        let far = after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(365 * 24 * 3600));
        assert!(after(Duration::from_millis(5)) <= Instant::now() + Duration::from_millis(5));
    }
}
