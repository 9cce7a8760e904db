//! The boundary through which finished spans and evaluations leave the core.
//!
//! Core never does I/O: a finished local trace is handed to the installed [`Sink`] as one batch
//! (children are held with their local root and leave together, as the reference does). The
//! exporter's sink only does a non-blocking `try_send` into a bounded queue.

use std::sync::{Arc, RwLock};

use crate::{EvaluationMetric, SpanEvent};

/// Where finished spans and evaluations go. Implementations must not block.
pub trait Sink: Send + Sync + 'static {
    /// Takes the finished spans of one local trace (or part of one).
    fn send_spans(&self, spans: Vec<SpanEvent>);
    /// Takes one validated evaluation metric.
    fn send_evaluation(&self, metric: EvaluationMetric);
}

static SINK: RwLock<Option<Arc<dyn Sink>>> = RwLock::new(None);

/// Installs the process-wide sink and returns the previous one. `None` uninstalls.
pub fn set_sink(sink: Option<Arc<dyn Sink>>) -> Option<Arc<dyn Sink>> {
    match SINK.write() {
        Ok(mut g) => std::mem::replace(&mut *g, sink),
        Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), sink),
    }
}

pub(crate) fn current() -> Option<Arc<dyn Sink>> {
    SINK.read().ok().and_then(|g| g.clone())
}

/// Hands a batch of finished spans to the test captures they belong to and the rest to the sink.
pub(crate) fn dispatch_spans(mut spans: Vec<SpanEvent>) {
    if spans.iter().any(|s| s.capture.is_some()) {
        let mut rest = Vec::with_capacity(spans.len());
        for mut span in spans.drain(..) {
            match span.capture.take() {
                Some(c) => c.push_span(span),
                None => rest.push(span),
            }
        }
        spans = rest;
        if spans.is_empty() {
            return;
        }
    }
    if !crate::gate::is_enabled() {
        return;
    }
    if let Some(sink) = current() {
        sink.send_spans(spans);
    }
}
