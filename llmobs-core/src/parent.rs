//! What a new span inherits from where it starts, and the one place a child's record is built.
//!
//! A span's parent may be a full record ([`SpanEvent`]), a compact slot of the span stack, an
//! attached [`crate::Context`] or remote headers: each is first turned into a [`ParentRef`], and
//! [`ParentRef::child`] builds the child's record from it. What a child inherits (trace ids,
//! parent id, ml_app, session, agent attribution, test capture) is decided here only.

use std::sync::Arc;

use crate::route::Route;
use crate::scope::Scope;
use crate::span_event::AgentAttribution;
use crate::{SharedStr, SpanEvent, SpanId, SpanKind, TraceId};

/// What a new span inherits from where it starts.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParentRef {
    /// `(llmobs trace id, apm trace id)`; `None` starts a new trace.
    pub trace: Option<(TraceId, TraceId)>,
    pub span_id: Option<SpanId>,
    pub ml_app: Option<SharedStr>,
    pub session_id: Option<SharedStr>,
    pub agent: Option<AgentAttribution>,
    /// The test capture the spans started here go to.
    pub capture: Route,
    /// The annotation context active here, carried to where this is attached.
    pub scope: Option<Arc<Scope>>,
}

impl ParentRef {
    /// What a child of the span `e` inherits; `capture` is where `e` goes.
    pub(crate) fn of_span(e: &SpanEvent, capture: Route) -> Self {
        ParentRef {
            trace: Some((e.trace_id, e.apm_trace_id)),
            ml_app: e.ml_app.clone(),
            session_id: e.session_id.clone(),
            agent: e.agent.clone(),
            capture,
            span_id: None,
            scope: None,
        }
        .descend(e.span_id, e.kind, || e.name.clone())
    }

    /// What a child of a span inherits, given what that span inherited (`self`, with its trace
    /// filled in) and its own identity: its id, and itself as the agent when it is an agent
    /// span.
    #[inline]
    pub(crate) fn descend(
        mut self,
        span_id: SpanId,
        kind: SpanKind,
        name: impl FnOnce() -> SharedStr,
    ) -> Self {
        self.span_id = Some(span_id);
        if kind == SpanKind::Agent {
            self.agent = Some(AgentAttribution {
                span_id,
                name: Some(name()),
            });
        }
        self
    }

    /// A new span's record under this parent, and where the span goes. A parent that names no
    /// trace starts a new one, with the id `new_trace` gives.
    pub(crate) fn child(
        self,
        kind: SpanKind,
        name: SharedStr,
        span_id: SpanId,
        new_trace: impl FnOnce() -> TraceId,
    ) -> (SpanEvent, Route) {
        let (t, apm) = self.trace.unwrap_or_else(|| {
            let t = new_trace();
            (t, t)
        });
        let mut e = SpanEvent::new(kind, name, t, span_id);
        e.apm_trace_id = apm;
        e.parent_id = self.span_id;
        e.ml_app = self.ml_app;
        e.session_id = self.session_id;
        e.agent = self.agent;
        (e, self.capture)
    }
}
