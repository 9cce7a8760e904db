//! Where finished spans and evaluations go: to the sink, or to the test capture
//! ([`crate::testing::Capture`]) they were started under.
//!
//! A capture is part of the span context ([`crate::parent::ParentRef::capture`]): every span
//! started under it inherits it, as it inherits its trace. The route is not written into the
//! span's record: the stack keeps the routes of the traces it holds and hands them over with the
//! batch ([`crate::SpanBatch`]), and [`crate::sink`] delivers each span where its route says.

use std::sync::{Arc, Mutex};

use crate::{EvaluationMetric, SpanEvent};

/// A test capture's inbox.
#[derive(Default)]
pub(crate) struct Collector {
    spans: Mutex<Vec<SpanEvent>>,
    evaluations: Mutex<Vec<EvaluationMetric>>,
}

/// A test capture, when spans go to one; `None`: to the sink.
pub(crate) type Route = Option<Arc<Collector>>;

/// The routes of the spans of a batch that belong to a test capture, by span id.
pub(crate) type Routes = Vec<(crate::SpanId, Arc<Collector>)>;

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

fn locked<T, R>(m: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
    match m.lock() {
        Ok(mut g) => f(&mut g),
        Err(p) => f(&mut p.into_inner()),
    }
}

impl Collector {
    pub(crate) fn push_span(&self, span: SpanEvent) {
        locked(&self.spans, |v| v.push(span));
    }

    pub(crate) fn push_evaluation(&self, m: EvaluationMetric) {
        locked(&self.evaluations, |v| v.push(m));
    }

    pub(crate) fn spans(&self) -> Vec<SpanEvent> {
        locked(&self.spans, |v| v.clone())
    }

    pub(crate) fn evaluations(&self) -> Vec<EvaluationMetric> {
        locked(&self.evaluations, |v| v.clone())
    }
}
