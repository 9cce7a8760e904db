//! The per-thread span stack: where "the current span" lives.
//!
//! Sync spans are written once into a per-thread arena, in start order, and finished in place:
//! the arena is the export buffer, so a span's record is never moved between a "stack" and a
//! "finished" list. When no span stays open on the thread (the local root finished, or an async
//! poll ended), the whole arena is handed to the sink as one batch, already in start order.
//!
//! Frames say what is current, innermost last:
//! - `Arena(i)`: a sync span, the `i`-th record of the arena;
//! - `Pinned(ptr)`: an async span, whose record stays inside its pinned future and is reached by
//!   pointer for the duration of one poll (so polling moves nothing);
//! - `Detached`: a detached span entered with `in_scope`;
//! - `Context`: a bare context (an attached [`crate::Context`], activated distributed headers,
//!   a test capture) that only parents new spans.
//!
//! Guards find their frame by span id, so dropping guards out of order never corrupts the parent
//! of later spans.

use std::cell::RefCell;
use std::ptr::NonNull;
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
    Arena(usize),
    Pinned(NonNull<SpanEvent>),
    Detached(Box<(SharedEvent, ParentRef)>, u64),
    Context(Box<ParentRef>, u64),
}

/// Records buffered on a thread before the finished ones are handed over even though a root is
/// still open, bounding memory for long-running roots (the reference's partial flush).
pub(crate) const PARTIAL_FLUSH_AT: usize = 512;

/// The most span slots a thread keeps reserved for its next trace.
const REUSED_CAPACITY_MAX: usize = 128;

#[derive(Default)]
pub(crate) struct Stack {
    frames: Vec<Frame>,
    /// Sync spans of the current local trace(s), in start order; open ones included.
    arena: Vec<SpanEvent>,
    /// Which arena records are still open (parallel to `arena`).
    open: Vec<bool>,
    /// Open sync spans plus async spans being polled.
    open_spans: usize,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Thread exit: hand over what finished; spans still open here can never finish.
        let finished: Vec<SpanEvent> = std::mem::take(&mut self.arena)
            .into_iter()
            .zip(std::mem::take(&mut self.open))
            .filter_map(|(e, open)| (!open).then_some(e))
            .collect();
        if !finished.is_empty() {
            crate::sink::dispatch_spans(finished);
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

/// Builds a new span event as a child of the current frame (for spans that do not live in the
/// arena: async and detached spans).
#[inline]
pub(crate) fn new_child(kind: SpanKind, name: SharedStr) -> Option<SpanEvent> {
    with(|s| s.new_child(kind, name))
}

/// Starts a sync span as a child of the current frame: its record is constructed in its arena
/// slot. `setup` applies the builder's overrides; it returns `false` when the span is not
/// recorded.
#[inline]
pub(crate) fn start_span(
    kind: SpanKind,
    name: SharedStr,
    setup: impl FnOnce(&mut SpanEvent) -> bool,
) -> Option<SpanId> {
    with(|s| {
        let i = s.push_child(kind, name);
        let e = &mut s.arena[i];
        if !setup(e) {
            s.arena.pop();
            return None;
        }
        let id = e.span_id;
        e.start_ns = crate::clock::mono_ns();
        s.open.push(true);
        s.frames.push(Frame::Arena(i));
        s.open_spans += 1;
        Some(id)
    })
    .flatten()
}

/// Finishes the sync span with this id in place: stamps its times and, when no span stays open
/// on the thread, hands the arena over. `fix` runs on the record first.
#[inline]
pub(crate) fn finish_span(id: SpanId, end_mono: u64, fix: impl FnOnce(&mut SpanEvent)) {
    let batch = with(|s| {
        // The finishing span is almost always the top frame: pop it without shifting.
        let i = match s.frames.last() {
            Some(&Frame::Arena(i)) if s.arena[i].span_id == id => {
                s.frames.pop();
                i
            }
            _ => {
                let pos = s
                    .frames
                    .iter()
                    .rposition(|f| matches!(f, Frame::Arena(i) if s.arena[*i].span_id == id))?;
                let Frame::Arena(i) = s.frames.remove(pos) else {
                    return None;
                };
                i
            }
        };
        s.open[i] = false;
        s.open_spans -= 1;
        let e = &mut s.arena[i];
        fix(e);
        e.duration_ns = end_mono.saturating_sub(e.start_ns);
        e.start_ns = crate::clock::to_epoch_ns(e.start_ns);
        s.take_batch()
    })
    .flatten();
    if let Some(batch) = batch {
        crate::sink::dispatch_spans(batch);
    }
}

/// Makes the async span at `event` current for one poll. The caller guarantees the record stays
/// where it is (the future is pinned) until [`exit_pinned`] with the same pointer.
#[inline]
pub(crate) fn enter_pinned(event: NonNull<SpanEvent>) {
    with(|s| {
        s.frames.push(Frame::Pinned(event));
        s.open_spans += 1;
    });
}

/// Ends the poll of the async span entered at `at`. When the span completed, its finished record
/// joins the arena in the same step. Returns what the thread would now hand over (everything,
/// when this was its last open span): the caller holds it until its own span finishes, so an
/// async root's children leave with it even though the stack empties between polls.
#[inline]
#[must_use]
pub(crate) fn exit_pinned(
    at: NonNull<SpanEvent>,
    finished: Option<SpanEvent>,
) -> Option<Vec<SpanEvent>> {
    let mut slot = finished;
    let batch = with(|s| {
        // Matched by address, not by reading the record: the caller may already have moved the
        // finished record out of the place the frame points at.
        if let Some(pos) = s
            .frames
            .iter()
            .rposition(|f| matches!(f, Frame::Pinned(p) if *p == at))
        {
            s.frames.remove(pos);
            s.open_spans -= 1;
        }
        if let Some(e) = slot.take() {
            s.arena.push(e);
            s.open.push(false);
        }
        s.take_batch()
    })
    .flatten();
    batch.or_else(|| slot.map(|e| vec![e]))
}

/// Buffers a span finished outside the arena (async and detached spans).
pub(crate) fn finished(event: SpanEvent) {
    let mut slot = Some(event);
    let batch = with(|s| {
        if let Some(e) = slot.take() {
            s.arena.push(e);
            s.open.push(false);
        }
        s.take_batch()
    })
    .flatten();
    // Thread-local storage is already gone when a span finishes during thread teardown: the
    // span is handed over on its own.
    let batch = batch.or_else(|| slot.map(|e| vec![e]));
    if let Some(batch) = batch {
        crate::sink::dispatch_spans(batch);
    }
}

pub(crate) fn push_context(parent: ParentRef, detached: Option<SharedEvent>) -> u64 {
    let token = crate::id::SpanId::generate().0;
    with(|s| {
        s.frames.push(match detached {
            Some(event) => Frame::Detached(Box::new((event, parent)), token),
            None => Frame::Context(Box::new(parent), token),
        })
    });
    token
}

pub(crate) fn pop_context(token: u64) {
    let batch = with(|s| {
        if let Some(pos) = s.frames.iter().rposition(|f| match f {
            Frame::Context(_, t) | Frame::Detached(_, t) => *t == token,
            _ => false,
        }) {
            s.frames.remove(pos);
        }
        s.take_batch()
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

/// Runs `f` on the record of the open span with this id on this thread.
pub(crate) fn with_span_mut<R>(id: SpanId, f: impl FnOnce(&mut SpanEvent) -> R) -> Option<R> {
    with(|s| {
        for fr in s.frames.iter().rev() {
            match fr {
                Frame::Arena(i) if s.arena[*i].span_id == id => return Some(f(&mut s.arena[*i])),
                Frame::Pinned(p) => {
                    // SAFETY: the record outlives its frame (see `enter_pinned`), and the stack
                    // borrow guarantees no other reference to it is live during `f`.
                    let e = unsafe { &mut *p.as_ptr() };
                    if e.span_id == id {
                        return Some(f(e));
                    }
                }
                _ => {}
            }
        }
        None
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
        Some(Frame::Arena(i)) => Current::Span(s.arena[*i].span_id),
        // SAFETY: see `enter_pinned`.
        Some(Frame::Pinned(p)) => Current::Span(unsafe { p.as_ref() }.span_id),
        Some(Frame::Detached(d, _)) => Current::Detached(d.0.clone()),
        Some(Frame::Context(..)) => Current::Context,
    })
    .unwrap_or(Current::None)
}

/// Whether a span is open on this thread (the panic hook only records panics inside spans).
pub(crate) fn has_open_span() -> bool {
    with(|s| !s.frames.is_empty()).unwrap_or(false)
}

impl Stack {
    /// The record a frame stands for, if it is a span.
    fn frame_span(&self, f: &Frame) -> Option<&SpanEvent> {
        match f {
            Frame::Arena(i) => Some(&self.arena[*i]),
            // SAFETY: see `enter_pinned`.
            Frame::Pinned(p) => Some(unsafe { p.as_ref() }),
            _ => None,
        }
    }

    fn current_parent(&self) -> ParentRef {
        match self.frames.last() {
            None => ParentRef::default(),
            Some(f @ (Frame::Arena(_) | Frame::Pinned(_))) => self
                .frame_span(f)
                .map(ParentRef::of_span)
                .unwrap_or_default(),
            Some(Frame::Detached(d, _)) => d.1.clone(),
            Some(Frame::Context(p, _)) => (**p).clone(),
        }
    }

    /// Appends a child of the current frame to the arena, built in place, and returns its index.
    #[inline]
    fn push_child(&mut self, kind: SpanKind, name: SharedStr) -> usize {
        let span_id = SpanId::generate();
        let i = self.arena.len();
        let top = self.frames.last();
        let parent_span = match top {
            Some(Frame::Arena(p)) => Some(&self.arena[*p] as *const SpanEvent),
            Some(Frame::Pinned(p)) => Some(p.as_ptr() as *const SpanEvent),
            _ => None,
        };
        match parent_span {
            Some(p) => {
                // SAFETY: `p` points at an arena record (which `push` below may move: so every
                // field is read before it) or at a pinned async record (which nothing moves).
                let p = unsafe { &*p };
                let (trace_id, apm, parent_id) = (p.trace_id, p.apm_trace_id, p.span_id);
                let (ml_app, session_id, agent, capture) = (
                    p.ml_app.clone(),
                    p.session_id.clone(),
                    agent_for_children(p),
                    p.capture.clone(),
                );
                self.arena
                    .push(SpanEvent::new(kind, name, trace_id, span_id));
                let e = &mut self.arena[i];
                e.apm_trace_id = apm;
                e.parent_id = Some(parent_id);
                e.ml_app = ml_app;
                e.session_id = session_id;
                e.agent = agent;
                e.capture = capture;
            }
            None => {
                let e = self.new_child_with(kind, name, span_id);
                self.arena.push(e);
            }
        }
        i
    }

    #[inline]
    fn new_child(&self, kind: SpanKind, name: SharedStr) -> SpanEvent {
        self.new_child_with(kind, name, SpanId::generate())
    }

    fn new_child_with(&self, kind: SpanKind, name: SharedStr, span_id: SpanId) -> SpanEvent {
        let top = self.frames.last();
        if let Some(p) = top.and_then(|f| self.frame_span(f)) {
            let mut e = SpanEvent::new(kind, name, p.trace_id, span_id);
            e.apm_trace_id = p.apm_trace_id;
            e.parent_id = Some(p.span_id);
            e.ml_app = p.ml_app.clone();
            e.session_id = p.session_id.clone();
            e.agent = agent_for_children(p);
            e.capture = p.capture.clone();
            return e;
        }
        let parent = match top {
            Some(Frame::Detached(d, _)) => Some(&d.1),
            Some(Frame::Context(p, _)) => Some(&**p),
            _ => None,
        };
        match parent {
            None => SpanEvent::new(kind, name, TraceId::generate(), span_id),
            Some(parent) => {
                let (t, apm) = parent.trace.unwrap_or_else(|| {
                    let t = TraceId::generate();
                    (t, t)
                });
                let mut e = SpanEvent::new(kind, name, t, span_id);
                e.apm_trace_id = apm;
                e.parent_id = parent.span_id;
                e.ml_app = parent.ml_app.clone();
                e.session_id = parent.session_id.clone();
                e.agent = parent.agent.clone();
                e.capture = parent.capture.clone();
                e
            }
        }
    }

    /// The records to hand over now, if any: everything when no span is open on the thread,
    /// else the finished ones once the arena passes the partial-flush size.
    fn take_batch(&mut self) -> Option<Vec<SpanEvent>> {
        if self.arena.is_empty() {
            return None;
        }
        // With no span open, every arena record is finished (an open sync span counts in
        // `open_spans` until its guard finishes it).
        if self.open_spans == 0 {
            // The next trace on this thread is probably shaped like this one: size its arena
            // alike so it fills without reallocating.
            let cap = self.arena.len().min(REUSED_CAPACITY_MAX);
            self.open.clear();
            return Some(std::mem::replace(&mut self.arena, Vec::with_capacity(cap)));
        }
        if self.arena.len() < PARTIAL_FLUSH_AT {
            return None;
        }
        self.partial_flush()
    }

    /// Moves the finished records out, compacting the open ones and renumbering their frames.
    fn partial_flush(&mut self) -> Option<Vec<SpanEvent>> {
        let mut finished = Vec::new();
        let mut kept = Vec::new();
        let mut renumber = vec![usize::MAX; self.arena.len()];
        for (i, (e, open)) in std::mem::take(&mut self.arena)
            .into_iter()
            .zip(std::mem::take(&mut self.open))
            .enumerate()
        {
            if open {
                renumber[i] = kept.len();
                kept.push(e);
            } else {
                finished.push(e);
            }
        }
        for f in &mut self.frames {
            if let Frame::Arena(i) = f {
                *i = renumber[*i];
            }
        }
        self.open = vec![true; kept.len()];
        self.arena = kept;
        (!finished.is_empty()).then_some(finished)
    }
}
