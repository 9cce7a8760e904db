//! Counters of what the exporter did, so losses are visible instead of silent.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

/// Why spans or evaluations were dropped, as counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drops {
    /// The queue was full (by count or bytes) when the application handed them over.
    pub queue_full: u64,
    /// The intake answered with a non-retryable 4xx.
    pub payload_rejected: u64,
    /// Every attempt failed within the retry window.
    pub retries_exhausted: u64,
    /// A failed request could not be kept for later because the retry buffer was full.
    pub buffer_full: u64,
    /// A processor returned [`crate::Keep::No`] or panicked.
    pub processor_dropped: u64,
    /// The exporter shut down before they could be delivered.
    pub shutdown: u64,
    /// Spans that finished when no exporter was installed: open while it shut down or was
    /// replaced (process-wide, only in [`crate::stats()`]).
    pub no_exporter: u64,
    /// The sink or the destination panicked while taking them (a bug in a custom
    /// [`llmobs_core::Sink`], or in the exporter's delivery); what the core's sink lost is
    /// process-wide and only in [`crate::stats()`]. The panic did not reach the application, and
    /// the exporter went on with the next batch.
    pub sink_panicked: u64,
}

impl Drops {
    /// The non-zero counts, each with its field's name and what it means in one line of text.
    pub(crate) fn by_reason(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> {
        [
            (
                "queue_full",
                "dropped because the queue was full (raise DD_LLMOBS_QUEUE_MAX_SPANS?)",
                self.queue_full,
            ),
            (
                "payload_rejected",
                "rejected by the intake",
                self.payload_rejected,
            ),
            (
                "retries_exhausted",
                "dropped after the intake failed for the whole retry window",
                self.retries_exhausted,
            ),
            (
                "buffer_full",
                "dropped because the retry buffer was full",
                self.buffer_full,
            ),
            (
                "processor_dropped",
                "dropped by a span processor",
                self.processor_dropped,
            ),
            ("shutdown", "undelivered at shutdown", self.shutdown),
            (
                "no_exporter",
                "finished after the exporter stopped",
                self.no_exporter,
            ),
            (
                "sink_panicked",
                "lost to a panic in the sink",
                self.sink_panicked,
            ),
        ]
        .into_iter()
        .filter(|(_, _, n)| *n > 0)
    }

    /// The sum of every reason.
    pub fn total(&self) -> u64 {
        self.queue_full
            + self.no_exporter
            + self.payload_rejected
            + self.retries_exhausted
            + self.buffer_full
            + self.processor_dropped
            + self.shutdown
            + self.sink_panicked
    }
}

/// A snapshot of the exporter's counters since it started. With destinations added by
/// [`crate::Config::destination`], the delivery counters are those of the built-in destination
/// (the Datadog Agent or intake, or local mode).
///
/// ```no_run
/// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
/// let _llmobs = llmobs::init()?;
/// // ... run the application ...
/// let stats = llmobs::stats();
/// if stats.spans_dropped.total() > 0 {
///     eprintln!("llmobs dropped spans: {:?}", stats.spans_dropped);
/// }
/// # Ok::<(), llmobs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Spans accepted into the queue.
    pub spans_enqueued: u64,
    /// Spans delivered (or, in local mode, written to the file).
    pub spans_delivered: u64,
    /// Spans dropped, by reason.
    pub spans_dropped: Drops,
    /// Evaluations accepted into the queue.
    pub evals_enqueued: u64,
    /// Evaluations delivered.
    pub evals_delivered: u64,
    /// Evaluations dropped, by reason.
    pub evals_dropped: Drops,
    /// Payloads sent (HTTP requests; in local mode, lines written), retries included.
    pub requests: u64,
    /// Requests that were attempts after a failure.
    pub retries: u64,
    /// Payload bytes sent (or written) successfully.
    pub bytes_sent: u64,
    /// Spans whose input and output were dropped for exceeding the event size limit.
    pub spans_truncated: u64,
}

impl Stats {
    /// Spans and evaluations delivered.
    pub fn delivered(&self) -> u64 {
        self.spans_delivered + self.evals_delivered
    }
    /// Spans and evaluations dropped.
    pub fn dropped(&self) -> u64 {
        self.spans_dropped.total() + self.evals_dropped.total()
    }
}

/// What a flush achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
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

#[derive(Default)]
pub(crate) struct DropCounters {
    pub(crate) queue_full: AtomicU64,
    pub(crate) payload_rejected: AtomicU64,
    pub(crate) retries_exhausted: AtomicU64,
    pub(crate) buffer_full: AtomicU64,
    pub(crate) processor_dropped: AtomicU64,
    pub(crate) shutdown: AtomicU64,
    pub(crate) sink_panicked: AtomicU64,
}

/// A reason for dropping, naming a field of [`Drops`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    QueueFull,
    PayloadRejected,
    RetriesExhausted,
    BufferFull,
    ProcessorDropped,
    Shutdown,
    /// The destination (HTTP delivery or the local file) panicked on the batch.
    SinkPanicked,
}

impl DropCounters {
    pub(crate) fn add(&self, reason: DropReason, n: u64) {
        let c = match reason {
            DropReason::QueueFull => &self.queue_full,
            DropReason::PayloadRejected => &self.payload_rejected,
            DropReason::RetriesExhausted => &self.retries_exhausted,
            DropReason::BufferFull => &self.buffer_full,
            DropReason::ProcessorDropped => &self.processor_dropped,
            DropReason::Shutdown => &self.shutdown,
            DropReason::SinkPanicked => &self.sink_panicked,
        };
        c.fetch_add(n, Relaxed);
    }

    fn snapshot(&self) -> Drops {
        Drops {
            queue_full: self.queue_full.load(Relaxed),
            payload_rejected: self.payload_rejected.load(Relaxed),
            retries_exhausted: self.retries_exhausted.load(Relaxed),
            buffer_full: self.buffer_full.load(Relaxed),
            processor_dropped: self.processor_dropped.load(Relaxed),
            shutdown: self.shutdown.load(Relaxed),
            no_exporter: 0,
            sink_panicked: self.sink_panicked.load(Relaxed),
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    // What was enqueued is counted with the queue's own totals (`queue::Shared::stats`).
    pub(crate) spans_delivered: AtomicU64,
    // Written by application threads (a full queue) as well as by the worker.
    pub(crate) spans_dropped: CachePadded<DropCounters>,
    pub(crate) evals_delivered: AtomicU64,
    pub(crate) evals_dropped: DropCounters,
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) spans_truncated: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            spans_enqueued: 0,
            spans_delivered: self.spans_delivered.load(Relaxed),
            spans_dropped: self.spans_dropped.snapshot(),
            evals_enqueued: 0,
            evals_delivered: self.evals_delivered.load(Relaxed),
            evals_dropped: self.evals_dropped.snapshot(),
            requests: self.requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            spans_truncated: self.spans_truncated.load(Relaxed),
        }
    }
}
