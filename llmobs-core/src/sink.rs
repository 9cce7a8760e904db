//! The boundary through which finished spans and evaluations leave the core.
//!
//! Core never does I/O: a finished local trace is handed to the installed [`Sink`] as one batch
//! (children are held with their local root and leave together, as the reference does). The
//! exporter's sink only does a non-blocking `try_send` into a bounded queue.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::{EvaluationMetric, SpanBatch};

/// Where finished spans and evaluations go. Implementations must not block.
///
/// A panic in an implementation never reaches the application: what the sink was given is
/// counted as lost ([`spans_lost_to_sink_panics`]) and the application goes on.
pub trait Sink: Send + Sync + 'static {
    /// Takes the finished spans of one local trace (or part of one). Build their records with
    /// [`SpanBatch::into_events`] on another thread: it is the costly half of a span.
    fn send_spans(&self, spans: SpanBatch);
    /// Takes one validated evaluation metric.
    fn send_evaluation(&self, metric: EvaluationMetric);
}

static SINK: RwLock<Option<Arc<dyn Sink>>> = RwLock::new(None);

/// Bumped whenever the sink changes, so threads can keep a cached copy and check it with one
/// relaxed load instead of taking the lock for every trace.
static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CACHED: RefCell<(u64, Option<Arc<dyn Sink>>)> = const { RefCell::new((0, None)) };
}

/// Installs the process-wide sink and returns the previous one. `None` uninstalls.
pub fn set_sink(sink: Option<Arc<dyn Sink>>) -> Option<Arc<dyn Sink>> {
    let prev = match SINK.write() {
        Ok(mut g) => std::mem::replace(&mut *g, sink),
        Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), sink),
    };
    GENERATION.fetch_add(1, Ordering::Release);
    prev
}

fn global() -> Option<Arc<dyn Sink>> {
    SINK.read().ok().and_then(|g| g.clone())
}

/// Runs `f` with the installed sink, from this thread's cache when it is current (no lock and no
/// reference-count traffic on the hot path).
pub(crate) fn with_current<R>(f: impl FnOnce(&dyn Sink) -> R) -> Option<R> {
    let generation = GENERATION.load(Ordering::Acquire);
    let mut f = Some(f);
    let cached = CACHED.try_with(|c| {
        // A sink that records spans of its own re-enters here: it then takes the slow path.
        let mut c = c.try_borrow_mut().ok()?;
        if c.0 != generation {
            *c = (generation, global());
        }
        let sink = c.1.as_deref()?;
        f.take().map(|f| f(sink))
    });
    match cached {
        Ok(Some(r)) => Some(r),
        _ => {
            let f = f.take()?;
            global().map(|s| f(&*s))
        }
    }
}

pub(crate) fn current() -> Option<Arc<dyn Sink>> {
    global()
}

/// Hands a batch of finished spans to the test captures they belong to and the rest to the sink.
pub(crate) fn dispatch_spans(mut spans: SpanBatch) {
    // Only spans started under a test capture have a route: only then are the records built
    // here rather than on the exporter's thread.
    if !spans.routes.is_empty() {
        let mut routes = std::mem::take(&mut spans.routes);
        routes.sort_unstable_by_key(|(id, _)| id.0);
        let mut rest = Vec::new();
        for span in spans.into_events() {
            match routes.binary_search_by_key(&span.span_id.0, |(id, _)| id.0) {
                Ok(i) => routes[i].1.push_span(span),
                Err(_) => rest.push(span),
            }
        }
        if rest.is_empty() {
            return;
        }
        spans = SpanBatch::from(rest);
    }
    let n = spans.len() as u64;
    if !crate::gate::is_enabled() {
        DROPPED_WITHOUT_SINK.fetch_add(n, Ordering::Relaxed);
        return;
    }
    match with_current(|sink| catch_unwind(AssertUnwindSafe(|| sink.send_spans(spans)))) {
        Some(Ok(())) => {}
        // Recorded while enabled but finished after the exporter was shut down or replaced.
        None => {
            DROPPED_WITHOUT_SINK.fetch_add(n, Ordering::Relaxed);
        }
        Some(Err(_)) => sink_panicked(&LOST_TO_SINK_PANICS.0, n),
    }
}

// Spans leave from guards' `Drop`, also while a panic unwinds, and from the thread-local
// destructor of the span stack: a panic escaping the sink there would abort the process. So
// every call into the sink is isolated; what a panicking sink was given is counted as lost.

static DROPPED_WITHOUT_SINK: AtomicU64 = AtomicU64::new(0);

/// `(spans, evaluations)` lost because the sink panicked while taking them.
static LOST_TO_SINK_PANICS: (AtomicU64, AtomicU64) = (AtomicU64::new(0), AtomicU64::new(0));

#[cold]
fn sink_panicked(counter: &AtomicU64, n: u64) {
    if counter.fetch_add(n, Ordering::Relaxed) == 0 {
        log::error!(
            "llmobs: the span sink panicked; what it was given is lost and counted, and the \
             application goes on (see llmobs_core::spans_lost_to_sink_panics)"
        );
    }
}

/// Spans lost because the installed [`Sink`] panicked while taking them, since the process
/// started. The panic does not reach the application.
pub fn spans_lost_to_sink_panics() -> u64 {
    LOST_TO_SINK_PANICS.0.load(Ordering::Relaxed)
}

/// Evaluations lost because the installed [`Sink`] panicked while taking them, since the
/// process started.
pub fn evaluations_lost_to_sink_panics() -> u64 {
    LOST_TO_SINK_PANICS.1.load(Ordering::Relaxed)
}

/// Spans that finished when no exporter was installed (LLM Observability was turned off, or the
/// exporter shut down, while they were open), since the process started. They are not sent.
pub fn spans_dropped_without_sink() -> u64 {
    DROPPED_WITHOUT_SINK.load(Ordering::Relaxed)
}

/// Hands an evaluation to the sink (the caller routes those of a test capture).
pub(crate) fn dispatch_evaluation(metric: EvaluationMetric) {
    if !crate::gate::is_enabled() {
        return;
    }
    if let Some(sink) = current() {
        if catch_unwind(AssertUnwindSafe(|| sink.send_evaluation(metric))).is_err() {
            sink_panicked(&LOST_TO_SINK_PANICS.1, 1);
        }
    }
}
