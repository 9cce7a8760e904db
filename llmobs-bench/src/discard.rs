//! A sink that does what the exporter does with a span short of sending it: hand it over with
//! one `try_send` into a bounded queue, then encode it to intake JSON on another thread. The
//! encoded bytes are discarded, so the bench measures the application-thread cost with a
//! consumer that keeps busy, independent of any network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use llmobs_core::{EvaluationMetric, SpanBatch};
use llmobs_exporter::{Config, Encoder};

/// What the consumer did, so a bench can say how much of the load was encoded.
///
/// Every counter is on cache lines of its own, as the exporter's are: sharing a line, each
/// hand-over would fetch it from the consumer's core.
#[derive(Debug, Default)]
pub struct Counts {
    /// Spans encoded.
    pub encoded: Line,
    /// Bytes of JSON produced.
    pub bytes: Line,
    /// Spans dropped because the queue was full.
    pub dropped: Line,
    /// Spans accepted into the queue.
    pub accepted: Line,
}

/// A counter alone on a pair of cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Line(pub AtomicU64);

impl std::ops::Deref for Line {
    type Target = AtomicU64;
    fn deref(&self) -> &AtomicU64 {
        &self.0
    }
}

/// The sink; install it with [`DiscardSink::install`].
pub struct DiscardSink {
    tx: SyncSender<SpanBatch>,
    counts: Arc<Counts>,
}

/// Batches (one per local trace) the queue holds before the sink drops.
pub const QUEUE_BATCHES: usize = 4096;

/// How long the consumer sleeps when it finds the queue empty.
const POLL_INTERVAL: Duration = Duration::from_millis(1);

impl DiscardSink {
    /// Starts the consumer thread. It ends when the sink is dropped.
    pub fn start() -> Arc<DiscardSink> {
        let (tx, rx) = sync_channel::<SpanBatch>(QUEUE_BATCHES);
        let counts = Arc::new(Counts::default());
        let encoder = Encoder::new(&Config::default().ml_app("llmobs-bench"));
        let c = counts.clone();
        std::thread::Builder::new()
            .name("discard-sink".into())
            .spawn(move || loop {
                // Polled on a timer, as the exporter's worker is: a consumer that parks on the
                // channel makes every send a wake-up system call on the application thread.
                match rx.try_recv() {
                    Ok(batch) => {
                        // As the exporter does: dropping the batch sends its slot arena back
                        // to the recording thread.
                        let batch = batch.into_events();
                        for span in &batch {
                            let encoded = encoder.encode_span(span);
                            c.bytes
                                .fetch_add(encoded.json.len() as u64, Ordering::Relaxed);
                        }
                        c.encoded.fetch_add(batch.len() as u64, Ordering::Release);
                    }
                    Err(TryRecvError::Empty) => std::thread::sleep(POLL_INTERVAL),
                    Err(TryRecvError::Disconnected) => return,
                }
            })
            .expect("spawn the discard sink's consumer");
        Arc::new(DiscardSink { tx, counts })
    }

    /// Starts a sink, installs it in the core and turns LLM Observability on.
    pub fn install() -> Arc<DiscardSink> {
        let sink = DiscardSink::start();
        llmobs_core::set_default_ml_app(Some("llmobs-bench".into()));
        llmobs_core::set_sink(Some(sink.clone()));
        llmobs_core::set_enabled(true);
        sink
    }

    /// Waits until the consumer has encoded every span accepted so far.
    pub fn drain(&self) {
        let c = &self.counts;
        while c.encoded.load(Ordering::Acquire) < c.accepted.load(Ordering::Acquire) {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }

    /// The consumer's counters.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

impl llmobs_core::Sink for DiscardSink {
    fn send_spans(&self, spans: SpanBatch) {
        let n = spans.len() as u64;
        // Counted before the send so the consumer can never have encoded more than accepted.
        self.counts.accepted.fetch_add(n, Ordering::Release);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(spans)
        {
            self.counts.accepted.fetch_sub(n, Ordering::Release);
            self.counts.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn send_evaluation(&self, _metric: EvaluationMetric) {}
}
