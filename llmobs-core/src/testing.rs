//! Capturing spans in tests, with no network.
//!
//! A capture is part of the span context: spans started under it (on this thread, or in threads
//! and futures that the context is carried into) are delivered to it instead of the exporter,
//! even when LLM Observability was never initialised. Captures running in parallel tests do not
//! see each other's spans.

use std::sync::Arc;

use crate::parent::ParentRef;
use crate::route::Collector;
use crate::{Context, EvaluationMetric, SpanEvent};

/// A live capture. Attach its [`context`](Capture::context) where spans should be recorded, then
/// read [`spans`](Capture::spans).
///
/// ```
/// # use llmobs_core as llmobs;
/// let cap = llmobs::testing::Capture::new();
/// {
///     let _g = cap.context().attach();
///     let _s = llmobs::task("step").start();
/// }
/// assert_eq!(cap.spans()[0].name, "step");
/// ```
#[derive(Debug)]
pub struct Capture {
    collector: Arc<Collector>,
}

impl Default for Capture {
    fn default() -> Self {
        Self::new()
    }
}

impl Capture {
    /// Starts a capture.
    pub fn new() -> Self {
        crate::panic::install_hook();
        crate::gate::capture_started();
        Capture {
            collector: Arc::new(Collector::default()),
        }
    }

    /// The context under which spans are captured: attach it, or run futures with it.
    pub fn context(&self) -> Context {
        Context {
            parent: ParentRef {
                capture: Some(self.collector.clone()),
                ..ParentRef::default()
            },
        }
    }

    /// The finished spans seen so far, in start order (roots before their children).
    pub fn spans(&self) -> Vec<SpanEvent> {
        let mut v = self.collector.spans();
        v.sort_by_key(|s| s.start_ns);
        v
    }

    /// The evaluations submitted under the capture so far.
    pub fn evaluations(&self) -> Vec<EvaluationMetric> {
        self.collector.evaluations()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        crate::gate::capture_ended();
    }
}

/// Runs `f` and returns the spans it finished, in start order.
///
/// ```
/// # use llmobs_core as llmobs;
/// let spans = llmobs::testing::capture(|| {
///     let _wf = llmobs::workflow("handle").start();
///     let _t = llmobs::task("step").start();
/// });
/// assert_eq!(spans.len(), 2);
/// assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
/// ```
pub fn capture<R>(f: impl FnOnce() -> R) -> Vec<SpanEvent> {
    capture_with_result(f).1
}

/// Runs `f` and returns its result together with the spans it finished.
pub fn capture_with_result<R>(f: impl FnOnce() -> R) -> (R, Vec<SpanEvent>) {
    let cap = Capture::new();
    let r = {
        let _g = cap.context().attach();
        f()
    };
    let spans = cap.spans();
    (r, spans)
}
