//! The per-thread span stack: where "the current span" lives.
//!
//! A frame is either an active span owned by the stack (a sync guard's span, or an async span
//! for the duration of one poll), a detached span entered with `in_scope`, or a bare context
//! (an attached [`crate::Context`], activated distributed headers, a test capture) that only
//! parents new spans. Guards find their frame by id, so dropping guards out of order never
//! corrupts the parent of later spans.
//!
//! Finished spans collect in a per-thread buffer that is handed to the sink when no span stays
//! open on the thread (the local root finished, or an async poll ended), so the hot path touches
//! no shared queue per span.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use crate::span_event::AgentAttribution;
use crate::testing::Collector;
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
    pub capture: Option<Arc<Collector>>,
}

impl ParentRef {
    pub(crate) fn of_span(e: &SpanEvent) -> Self {
        ParentRef {
            trace: Some((e.trace_id, e.apm_trace_id)),
            span_id: Some(e.span_id),
            ml_app: e.ml_app.clone(),
            session_id: e.session_id.clone(),
            agent: agent_for_children(e),
            capture: e.capture.clone(),
        }
    }
}

fn agent_for_children(e: &SpanEvent) -> Option<AgentAttribution> {
    if e.kind == SpanKind::Agent {
        Some(AgentAttribution {
            span_id: e.span_id,
            name: Some(e.name.clone()),
        })
    } else {
        e.agent.clone()
    }
}

/// A detached span's state, shared between its handle and the frames that enter it.
pub(crate) type SharedEvent = Arc<Mutex<Option<SpanEvent>>>;

pub(crate) enum Frame {
    Span(SpanEvent),
    Detached {
        event: SharedEvent,
        parent: ParentRef,
        token: u64,
    },
    Context {
        parent: ParentRef,
        token: u64,
    },
}

/// Spans buffered on a thread before they are handed over even though a root is still open,
/// bounding memory for long-running roots (the reference's partial flush).
const PARTIAL_FLUSH_AT: usize = 512;

/// The most span slots a thread keeps reserved for its next trace.
const REUSED_CAPACITY_MAX: usize = 128;

#[derive(Default)]
pub(crate) struct Stack {
    frames: Vec<Frame>,
    finished: Vec<SpanEvent>,
    open_spans: usize,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if !self.finished.is_empty() {
            crate::sink::dispatch_spans(std::mem::take(&mut self.finished));
        }
    }
}

thread_local! {
    static STACK: RefCell<Stack> = RefCell::new(Stack::default());
}

#[inline]
fn with<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    STACK
        .try_with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s)))
        .ok()
        .flatten()
}

/// Builds a new span event as a child of the current frame.
#[inline]
pub(crate) fn new_child(kind: SpanKind, name: SharedStr) -> Option<SpanEvent> {
    with(|s| s.new_child(kind, name))
}

/// Starts a span as a child of the current frame and pushes it, in one access to the stack so
/// the record is built in place. `setup` applies the builder's overrides; it returns `false`
/// to drop the span (not recorded).
#[inline]
pub(crate) fn start_span(
    kind: SpanKind,
    name: SharedStr,
    setup: impl FnOnce(&mut SpanEvent) -> bool,
) -> Option<SpanId> {
    with(|s| {
        let e = s.new_child(kind, name);
        s.frames.push(Frame::Span(e));
        let Some(Frame::Span(e)) = s.frames.last_mut() else {
            return None;
        };
        if !setup(e) {
            s.frames.pop();
            return None;
        }
        let id = e.span_id;
        e.start_ns = crate::clock::mono_ns();
        s.open_spans += 1;
        Some(id)
    })
    .flatten()
}

/// Finishes the active span with this id: stamps its times, moves it to the finished buffer and
/// hands the buffer over when no span stays open. `fix` runs on the record first.
#[inline]
pub(crate) fn finish_span(id: SpanId, end_mono: u64, fix: impl FnOnce(&mut SpanEvent)) {
    let batch = with(|s| {
        let pos = match s.frames.last() {
            Some(Frame::Span(e)) if e.span_id == id => s.frames.len() - 1,
            _ => s
                .frames
                .iter()
                .rposition(|f| matches!(f, Frame::Span(e) if e.span_id == id))?,
        };
        let Frame::Span(mut e) = s.frames.remove(pos) else {
            return None;
        };
        s.open_spans -= 1;
        fix(&mut e);
        e.duration_ns = end_mono.saturating_sub(e.start_ns);
        e.start_ns = crate::clock::to_epoch_ns(e.start_ns);
        s.finished.push(e);
        s.take_if_full_or_idle()
    })
    .flatten();
    if let Some(batch) = batch {
        crate::sink::dispatch_spans(batch);
    }
}

/// The parent a span created now would get, for [`crate::Context::current`].
pub(crate) fn current_parent() -> ParentRef {
    with(|s| s.current_parent()).unwrap_or_default()
}

pub(crate) fn push_span(event: SpanEvent) {
    with(|s| {
        s.open_spans += 1;
        s.frames.push(Frame::Span(event));
    });
}

/// Removes the span frame with this id (normally the top one) and returns its event.
pub(crate) fn pop_span(id: SpanId) -> Option<SpanEvent> {
    with(|s| {
        let pos = s
            .frames
            .iter()
            .rposition(|f| matches!(f, Frame::Span(e) if e.span_id == id))?;
        s.open_spans -= 1;
        match s.frames.remove(pos) {
            Frame::Span(e) => Some(e),
            _ => None,
        }
    })
    .flatten()
}

pub(crate) fn push_context(parent: ParentRef, detached: Option<SharedEvent>) -> u64 {
    let token = crate::id::SpanId::generate().0;
    with(|s| {
        s.frames.push(match detached {
            Some(event) => Frame::Detached {
                event,
                parent,
                token,
            },
            None => Frame::Context { parent, token },
        })
    });
    token
}

pub(crate) fn pop_context(token: u64) {
    let buffered = with(|s| {
        if let Some(pos) = s.frames.iter().rposition(|f| match f {
            Frame::Context { token: t, .. } | Frame::Detached { token: t, .. } => *t == token,
            Frame::Span(_) => false,
        }) {
            s.frames.remove(pos);
        }
        s.take_if_idle()
    })
    .flatten();
    if let Some(batch) = buffered {
        crate::sink::dispatch_spans(batch);
    }
}

/// Runs `f` on the event of the active span with this id on this thread.
pub(crate) fn with_span_mut<R>(id: SpanId, f: impl FnOnce(&mut SpanEvent) -> R) -> Option<R> {
    with(|s| {
        s.frames
            .iter_mut()
            .rev()
            .find_map(|fr| match fr {
                Frame::Span(e) if e.span_id == id => Some(e),
                _ => None,
            })
            .map(f)
    })
    .flatten()
}

/// What the top frame is, for annotating "the current span".
pub(crate) enum Current {
    None,
    Context,
    Span(SpanId),
    Detached(SharedEvent),
}

pub(crate) fn current() -> Current {
    with(|s| match s.frames.last() {
        None => Current::None,
        Some(Frame::Span(e)) => Current::Span(e.span_id),
        Some(Frame::Detached { event, .. }) => Current::Detached(event.clone()),
        Some(Frame::Context { .. }) => Current::Context,
    })
    .unwrap_or(Current::None)
}

/// Buffers a finished span and hands the buffer over when the thread has no open span left.
pub(crate) fn finished(event: SpanEvent) {
    let mut slot = Some(event);
    let batch = with(|s| {
        s.finished.extend(slot.take());
        s.take_if_full_or_idle()
    })
    .flatten();
    // Thread-local storage is already gone when a span finishes during thread teardown:
    // the span is handed over on its own.
    let batch = batch.or_else(|| slot.map(|e| vec![e]));
    if let Some(batch) = batch {
        crate::sink::dispatch_spans(batch);
    }
}

/// Whether a span is open on this thread (the panic hook only records panics inside spans).
pub(crate) fn has_open_span() -> bool {
    with(|s| s.open_spans > 0 || !s.frames.is_empty()).unwrap_or(false)
}

impl Stack {
    fn current_parent(&self) -> ParentRef {
        match self.frames.last() {
            None => ParentRef::default(),
            Some(Frame::Span(e)) => ParentRef::of_span(e),
            Some(Frame::Detached { parent, .. }) | Some(Frame::Context { parent, .. }) => {
                parent.clone()
            }
        }
    }

    #[inline]
    fn new_child(&self, kind: SpanKind, name: SharedStr) -> SpanEvent {
        let span_id = SpanId::generate();
        let mut e = match self.frames.last() {
            None => {
                let t = TraceId::generate();
                SpanEvent::new(kind, name, t, span_id)
            }
            Some(Frame::Span(p)) => {
                let mut e = SpanEvent::new(kind, name, p.trace_id, span_id);
                e.apm_trace_id = p.apm_trace_id;
                e.parent_id = Some(p.span_id);
                e.ml_app = p.ml_app.clone();
                e.session_id = p.session_id.clone();
                e.agent = agent_for_children(p);
                e.capture = p.capture.clone();
                e
            }
            Some(Frame::Detached { parent, .. }) | Some(Frame::Context { parent, .. }) => {
                let (t, apm) = match parent.trace {
                    Some(ids) => ids,
                    None => {
                        let t = TraceId::generate();
                        (t, t)
                    }
                };
                let mut e = SpanEvent::new(kind, name, t, span_id);
                e.apm_trace_id = apm;
                e.parent_id = parent.span_id;
                e.ml_app = parent.ml_app.clone();
                e.session_id = parent.session_id.clone();
                e.agent = parent.agent.clone();
                e.capture = parent.capture.clone();
                e
            }
        };
        e.start_ns = 0;
        e
    }

    fn take_if_full_or_idle(&mut self) -> Option<Vec<SpanEvent>> {
        if self.open_spans == 0 || self.finished.len() >= PARTIAL_FLUSH_AT {
            // The next trace on this thread is probably shaped like this one: size its buffer
            // alike so it fills without reallocating.
            let cap = self.finished.len().min(REUSED_CAPACITY_MAX);
            Some(std::mem::replace(
                &mut self.finished,
                Vec::with_capacity(cap),
            ))
        } else {
            None
        }
    }

    fn take_if_idle(&mut self) -> Option<Vec<SpanEvent>> {
        if self.open_spans == 0 && !self.finished.is_empty() {
            Some(std::mem::take(&mut self.finished))
        } else {
            None
        }
    }
}

/// Hands buffered spans over if no span is open on this thread (end of an async poll).
pub(crate) fn flush_if_idle() {
    if let Some(Some(batch)) = with(|s| s.take_if_idle()) {
        crate::sink::dispatch_spans(batch);
    }
}
