//! The queue between the application and the exporter's thread: the application's half.
//!
//! The application only does a `try_send` into a bounded channel: it never blocks, never does
//! I/O, and when the queue is full the span is dropped and counted rather than slowing the
//! application down. What is queued, taken and settled is counted here, on both sides, so that
//! [`crate::Exporter::flush`] can wait for everything queued before it without a message round
//! trip through the worker.

use std::sync::atomic::{
    AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst,
};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use crossbeam_utils::CachePadded;
use llmobs_core::{Annotations, EvaluationMetric, Sink, SpanBatch, SpanIo};
use serde_json::Value;

use crate::config::Mode;
use crate::payload::PayloadKind;
use crate::stats::{Counters, DropReason, FlushReport, Stats};

/// What the application hands over: a trace (or part of one) or an evaluation, with its
/// approximate size in bytes.
pub(crate) enum Item {
    Spans(SpanBatch, usize),
    Eval(Box<EvaluationMetric>, usize),
}

/// What `flush` and `shutdown` ask of the worker.
pub(crate) enum Control {
    Flush,
    Shutdown,
}

/// State shared by the application side (the sink) and the worker.
pub(crate) struct Shared {
    pub(crate) control: Sender<Control>,
    pub(crate) counters: Counters,
    tx: Sender<Item>,
    wake: Sender<()>,
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
    pub(crate) flush_gave_up: AtomicBool,
    pub(crate) stopping: AtomicBool,
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

/// The worker's ends of the channels.
pub(crate) struct Receivers {
    pub(crate) items: Receiver<Item>,
    pub(crate) wake: Receiver<()>,
    pub(crate) control: Receiver<Control>,
}

impl Shared {
    /// The queue for these bounds (in spans and evaluations, and in approximate bytes).
    pub(crate) fn new(max_units: usize, max_bytes: usize) -> (Shared, Receivers) {
        let (tx, items) = crossbeam_channel::bounded(max_units);
        let (wake, wake_rx) = crossbeam_channel::bounded(1);
        let (control, control_rx) = crossbeam_channel::unbounded();
        let shared = Shared {
            counters: Counters::default(),
            tx,
            wake,
            control,
            producer: CachePadded::default(),
            consumer: CachePadded::default(),
            max_units,
            max_bytes,
            flush_waiters: AtomicUsize::new(0),
            settled: CachePadded::new(AtomicU64::new(0)),
            settled_lock: Mutex::new(()),
            settled_cv: Condvar::new(),
            mode: AtomicU8::new(0),
            flush_gave_up: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            accounting: Mutex::new(()),
        };
        let receivers = Receivers {
            items,
            wake: wake_rx,
            control: control_rx,
        };
        (shared, receivers)
    }

    /// Publishes the mode the worker chose.
    pub(crate) fn set_mode(&self, mode: Mode) {
        let n = match mode {
            Mode::Agent => 1,
            Mode::Agentless => 2,
            Mode::Local => 3,
            Mode::Otlp => 4,
        };
        self.mode.store(n, SeqCst);
    }

    /// The counters, with what is counted on the application side.
    pub(crate) fn stats(&self) -> Stats {
        let mut s = self.counters.snapshot();
        s.spans_enqueued = self.producer.accepted[0].load(Relaxed);
        s.evals_enqueued = self.producer.accepted[1].load(Relaxed);
        s
    }

    /// Counts what the worker took out of the queue.
    pub(crate) fn taken(&self, units: usize, bytes: usize) {
        self.consumer.taken_units.fetch_add(units as u64, Relaxed);
        self.consumer.taken_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Accepted units of this kind the worker has not settled yet.
    fn in_flight(&self, kind: PayloadKind) -> u64 {
        let k = kind.index();
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

    fn drop_units(&self, kind: PayloadKind, reason: DropReason, n: u64) {
        match kind {
            PayloadKind::Spans => self.counters.spans_dropped.add(reason, n),
            PayloadKind::Evaluations => self.counters.evals_dropped.add(reason, n),
        }
        self.settle(n);
    }

    /// Records what became of units the worker took from the queue: `counted` of them
    /// delivered (`outcome` is `None`) or dropped for `outcome`, and `settled` of them done
    /// with everywhere they go (what `flush` waits for). The two differ only with several
    /// destinations: the counters follow the first, settlement waits for every one.
    pub(crate) fn worker_settled(
        &self,
        kind: PayloadKind,
        outcome: Option<DropReason>,
        counted: u64,
        settled: u64,
    ) {
        let _g = match self.accounting.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if self.abandoned.load(SeqCst) {
            return;
        }
        self.consumer.settled[kind.index()].fetch_add(settled, SeqCst);
        match (outcome, kind) {
            (None, _) if counted > 0 => {
                self.flush_gave_up.store(false, SeqCst);
                match kind {
                    PayloadKind::Spans => &self.counters.spans_delivered,
                    PayloadKind::Evaluations => &self.counters.evals_delivered,
                }
                .fetch_add(counted, Relaxed);
            }
            (None, _) => {}
            (Some(reason), PayloadKind::Spans) => self.counters.spans_dropped.add(reason, counted),
            (Some(reason), PayloadKind::Evaluations) => {
                self.counters.evals_dropped.add(reason, counted)
            }
        }
        if settled > 0 {
            self.settle(settled);
        }
    }

    /// Counts everything the worker still holds as dropped at shutdown.
    pub(crate) fn abandon(&self) {
        let _g = match self.accounting.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        self.abandoned.store(true, SeqCst);
        for kind in [PayloadKind::Spans, PayloadKind::Evaluations] {
            let n = self.in_flight(kind);
            self.consumer.settled[kind.index()].fetch_add(n, SeqCst);
            if n > 0 {
                self.drop_units(kind, DropReason::Shutdown, n);
            }
        }
    }

    fn enqueue(&self, item: Item, kind: PayloadKind, units: usize, bytes: usize) {
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
        let k = kind.index();
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
        self.enqueue(Item::Spans(spans, bytes), PayloadKind::Spans, n, bytes);
    }

    pub(crate) fn send_evaluation(&self, metric: EvaluationMetric) {
        let bytes =
            300 + metric.label.len() + metric.tags.iter().map(|t| t.len() + 4).sum::<usize>();
        self.enqueue(
            Item::Eval(Box::new(metric), bytes),
            PayloadKind::Evaluations,
            1,
            bytes,
        );
    }

    pub(crate) fn mode(&self) -> Option<Mode> {
        match self.mode.load(SeqCst) {
            1 => Some(Mode::Agent),
            2 => Some(Mode::Agentless),
            3 => Some(Mode::Local),
            4 => Some(Mode::Otlp),
            _ => None,
        }
    }

    pub(crate) fn flush(&self, timeout: Duration) -> FlushReport {
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

/// The sink installed in the core for the global exporter: only the application-side half.
pub(crate) struct QueueSink(pub(crate) std::sync::Arc<Shared>);

impl Sink for QueueSink {
    fn send_spans(&self, spans: SpanBatch) {
        self.0.send_spans(spans);
    }
    fn send_evaluation(&self, metric: EvaluationMetric) {
        self.0.send_evaluation(metric);
    }
}

/// `Instant::now() + d`, saturating: a huge timeout means "practically never" instead of an
/// overflow panic (`Duration::MAX` is a reasonable thing to pass to a flush).
pub(crate) fn after(d: Duration) -> Instant {
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
