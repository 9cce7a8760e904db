//! The per-thread span stack: where "the current span" lives.
//!
//! Sync spans are written once into a per-thread arena of compact [`Slot`]s, in start order,
//! and finished in place: the arena is the export batch, so a span's record is never moved
//! between a "stack" and a "finished" list. When no span stays open on the thread (the local
//! root finished, or an async poll ended), the whole arena is handed to the sink as one
//! [`SpanBatch`], already in start order.
//!
//! A slot whose parent is the slot below it on this thread holds no copy of what it inherits
//! (trace ids, ml_app, session, agent, test capture): it names its parent's position, and the
//! full record is built when something needs it (an error, a session or ml_app override, a
//! parent that is not a slot of this thread, a child on another thread) or, for most spans, on
//! the exporter's thread by [`SpanBatch::into_events`]. Annotations, and a name known only at
//! run time, live in the slot's own box until then. This keeps an empty span to an id, two
//! clock readings and a 64-byte write.
//!
//! Spans started under a test capture ([`crate::testing::Capture`]) are recorded the same way;
//! where they go is kept beside the arena (`Stack::routes`, by trace root) and handed over with
//! the batch, not written into the records (see [`crate::route`]).
//!
//! Frames say what is current, innermost last:
//! - `Arena(i)`: a sync span, the `i`-th slot of the arena;
//! - `Pinned(ptr)`: an async span, whose record stays inside its pinned future and is reached by
//!   pointer for the duration of one poll (so polling moves nothing);
//! - `Detached`: a detached span entered with `in_scope`;
//! - `Context`: a bare context (an attached [`crate::Context`], activated distributed headers,
//!   a test capture) that only parents new spans;
//! - `Scope`: an active annotation context ([`crate::annotation_context`]), transparent for
//!   parenting: spans started above it get its annotations. `Stack::scopes` counts the frames
//!   that carry one (scopes, and contexts that took one along), so that a span started with
//!   none on the stack pays one comparison for the feature.
//!
//! Guards find their frame by span id, so dropping guards out of order never corrupts the parent
//! of later spans.

use std::cell::RefCell;
use std::ptr::{addr_of_mut, NonNull};
use std::sync::{Arc, Mutex};

use crate::parent::ParentRef;
use crate::route::{Route, Routes};
use crate::scope::Scope;
use crate::slot::{Slot, NO_SLOT, START_MONO};
use crate::span_batch::SpanBatch;
use crate::{Annotations, SharedStr, SpanEvent, SpanId, SpanKind, TraceId};

/// A detached span's state, shared between its handle and the frames that enter it.
pub(crate) type SharedEvent = Arc<Mutex<Option<SpanEvent>>>;

pub(crate) enum Frame {
    Arena(usize),
    /// An async span's record, and where the span goes.
    Pinned(NonNull<SpanEvent>, Route),
    Detached(Box<(SharedEvent, ParentRef)>, u64),
    Context(Box<ParentRef>, u64),
    /// An annotation context; `true`: the frame owns it, and removing the frame ends it (an
    /// entered context, whose guard may be forgotten), `false`: one poll of a scoped future.
    Scope(Arc<Scope>, u64, bool),
}

impl Frame {
    /// Whether the frame carries an annotation context (counted in `Stack::scopes`).
    fn scoped(&self) -> bool {
        match self {
            Frame::Scope(..) => true,
            Frame::Context(p, _) => p.scope.is_some(),
            _ => false,
        }
    }

    /// Called when the frame leaves the stack: an entered annotation context ends with it.
    fn removed(self) {
        if let Frame::Scope(scope, _, true) = self {
            scope.end();
        }
    }
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
    arena: Vec<Slot>,
    /// Async and detached spans of the current local trace(s) that finished on this thread.
    complete: Vec<SpanEvent>,
    /// The test captures of the spans held here that belong to one: by the span id of each
    /// trace root in the arena (its descendants go where it goes) and of each span in
    /// `complete`. Empty unless a test capture is in use.
    routes: Routes,
    /// Open sync spans plus async spans being polled.
    open_spans: usize,
    /// The latest end a slot got: the mapping a batch is handed over with must cover it.
    latest: u64,
    /// How many frames carry an annotation context ([`Frame::scoped`]).
    scopes: u32,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // Thread exit: spans still open here can never finish (their guards were forgotten, or
        // live in thread-locals destroyed after this one): they end now, as errors, and leave
        // with everything else.
        self.close_above(0, THREAD_EXITED);
        self.frames.clear();
        self.scopes = 0;
        self.open_spans = 0;
        if let Some(batch) = self.take_batch(true) {
            crate::sink::dispatch_spans(batch);
        }
    }
}

/// Why `Stack::close_above` ended a span: the poll it was started in ended first.
const POLL_ENDED: &str = "the span's guard was still alive when the poll it was started in \
    ended (held across `.await`, returned from the future, or forgotten); the span ends there";
/// ...or its thread exited.
const THREAD_EXITED: &str =
    "the thread exited while the span was open (its guard was never dropped); the span ends there";

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

/// A new span's record as a child of what is current on this thread, where it goes, and the
/// annotation context active here (kept outside the arena: async and detached spans).
#[inline]
pub(crate) fn new_child(
    kind: SpanKind,
    name: SharedStr,
) -> Option<(SpanEvent, Route, Option<Arc<Scope>>)> {
    let mut parent = with(|s| s.current_parent())?;
    let scope = parent.scope.take();
    let (e, route) = parent.child(kind, name, SpanId::generate(), TraceId::generate);
    Some((e, route, scope))
}

/// The annotation context active on this thread, if any.
pub(crate) fn active_scope() -> Option<Arc<Scope>> {
    with(|s| {
        if s.scopes != 0 {
            s.active_scope()
        } else {
            None
        }
    })
    .flatten()
}

/// This thread's stack, for the two hottest calls, which use it directly rather than through a
/// closure: a closure's captures are written to memory by the caller and read back by the
/// callee, which costs more than the rest of an empty span.
#[inline]
fn local() -> Option<*const RefCell<Stack>> {
    STACK.try_with(|s| s as *const RefCell<Stack>).ok()
}

/// Starts a sync span as a child of the current frame and makes it current. With `setup`, the
/// span gets its full record at once and `setup` writes the builder's overrides into it.
/// `annotations` is what the span starts with.
/// `None` when nothing is recorded (disabled, and outside any test capture).
#[inline]
pub(crate) fn start_span(
    kind: SpanKind,
    name: SharedStr,
    decorator: bool,
    setup: Option<&mut dyn FnMut(&mut SpanEvent)>,
    annotations: Option<Box<Annotations>>,
) -> Option<SpanId> {
    match name {
        SharedStr::Static(name) => {
            start_slot(kind, name, None, decorator, setup, annotations, None)
        }
        runtime => start_slot(kind, "", Some(runtime), decorator, setup, annotations, None),
    }
}

/// [`start_span`] for the attributes' spans without options: a static name, nothing else. Out
/// of line, so that an instrumented function's own frame stays small (the disabled path).
#[inline(never)]
pub(crate) fn enter_span(kind: SpanKind, name: &'static str) -> Option<SpanId> {
    start_slot(kind, name, None, true, None, None, None)
}

/// [`enter_span`] for an attribute's `llm` or `embedding` span whose model name and provider
/// are literals.
#[inline(never)]
pub(crate) fn enter_model_span(
    kind: SpanKind,
    name: &'static str,
    model: &'static [&'static str; 2],
) -> Option<SpanId> {
    start_slot(kind, name, None, true, None, None, Some(model))
}

/// Writes the slot of a new span; a `runtime` name is held in the slot's annotations box.
#[inline(always)]
fn start_slot(
    kind: SpanKind,
    name: &'static str,
    mut runtime: Option<SharedStr>,
    decorator: bool,
    setup: Option<&mut dyn FnMut(&mut SpanEvent)>,
    mut annotations: Option<Box<Annotations>>,
    model: Option<&'static [&'static str; 2]>,
) -> Option<SpanId> {
    // SAFETY: a thread's locals outlive every call made on that thread.
    let cell = unsafe { &*local()? };
    let mut guard = cell.try_borrow_mut().ok()?;
    let s = &mut *guard;
    if !crate::gate::is_enabled() && !s.capture_in_scope() {
        return None;
    }
    let span_id = SpanId::generate();
    if let Some([model, provider]) = model {
        let a = annotations.get_or_insert_with(Annotations::boxed);
        a.model_name = Some(SharedStr::Static(model));
        a.model_provider = Some(SharedStr::Static(provider));
    }
    let (parent, event) = match s.frames.last() {
        Some(&Frame::Arena(p)) => (p as u32, None),
        None => (NO_SLOT, None),
        // Under an entered annotation context's frames, the frame they sit on (contexts do not
        // parent spans); checked here, off the path of a span under a span.
        Some(_) => match s.top() {
            Some(&Frame::Arena(p)) => (p as u32, None),
            None => (NO_SLOT, None),
            Some(_) => {
                let name = runtime.take().unwrap_or(SharedStr::Static(name));
                let e = s.child_of_frame(kind, name, span_id, decorator, annotations.take());
                (NO_SLOT, Some(e))
            }
        },
    };
    if let Some(name) = runtime {
        annotations.get_or_insert_with(Annotations::boxed).name = Some(name);
    }
    let i = s.arena.len();
    s.arena.reserve(1);
    // A trace root's start is converted now (its trace id holds the second it started in);
    // every other span keeps the raw reading, converted with its whole trace on the exporter's
    // thread.
    let root = parent == NO_SLOT && event.is_none();
    let (start, flags) = if root {
        (crate::clock::mono_ns(), START_MONO)
    } else {
        (crate::clock::ticks(), 0)
    };
    // SAFETY: `reserve` made room for slot `i`, every field is written before `set_len`.
    // Field by field, straight into the arena: a `Slot` assembled on the stack first and then
    // copied is read back with wider loads than it was written with, which stalls the copy.
    // Measured (callgrind, with `arena.push(Slot { .. })` and `frames.pop()` in
    // `finish_span` instead): root + 100 children 28,581 instructions per root against 25,655.
    unsafe {
        let p = s.arena.as_mut_ptr().add(i);
        addr_of_mut!((*p).span_id).write(span_id);
        addr_of_mut!((*p).parent).write(parent);
        addr_of_mut!((*p).kind).write(kind);
        addr_of_mut!((*p).open).write(true);
        addr_of_mut!((*p).decorator).write(decorator);
        addr_of_mut!((*p).flags).write(flags);
        addr_of_mut!((*p).name).write(name);
        addr_of_mut!((*p).start).write(start);
        addr_of_mut!((*p).end).write(0);
        addr_of_mut!((*p).event).write(event);
        addr_of_mut!((*p).annotations).write(annotations);
        s.arena.set_len(i + 1);
    }
    if let Some(setup) = setup {
        setup(s.materialize(i));
    }
    // One comparison when no annotation context is active on the thread.
    if s.scopes != 0 {
        s.scope_slot(i);
    }
    s.frames.push(Frame::Arena(i));
    s.open_spans += 1;
    Some(span_id)
}

/// Finishes the sync span with this id in place: stamps its end (a [`crate::clock::ticks`]
/// reading) and, when no span stays open on the thread, hands the arena over. `fix` runs on the
/// full record first.
#[inline]
pub(crate) fn finish_span(id: SpanId, end: u64, fix: Option<&mut dyn FnMut(&mut SpanEvent)>) {
    let Some(cell) = local() else { return };
    // SAFETY: as in `start_span`.
    let Ok(mut guard) = unsafe { &*cell }.try_borrow_mut() else {
        return;
    };
    let s = &mut *guard;
    // The finishing span is almost always the top frame: pop it without shifting.
    let i = match s.frames.last() {
        Some(&Frame::Arena(i)) if s.arena[i].span_id == id => {
            // SAFETY: the last frame is an `Arena`, which owns nothing: shortening the vector
            // by one forgets it without running (or calling out to) the frames' drop glue.
            unsafe { s.frames.set_len(s.frames.len() - 1) };
            i
        }
        _ => {
            let Some(pos) = s
                .frames
                .iter()
                .rposition(|f| matches!(f, Frame::Arena(i) if s.arena[*i].span_id == id))
            else {
                return;
            };
            let Frame::Arena(i) = s.frames.remove(pos) else {
                return;
            };
            i
        }
    };
    s.open_spans -= 1;
    if let Some(fix) = fix {
        fix(s.materialize(i));
    }
    let slot = &mut s.arena[i];
    slot.open = false;
    slot.end = end;
    let scope_end = slot.parent == NO_SLOT;
    s.latest = end;
    let batch = s.take_batch(scope_end);
    drop(guard);
    if let Some(batch) = batch {
        crate::sink::dispatch_spans(batch);
    }
}

/// Makes the async span at `event` current for one poll, and returns the stack's depth before
/// it. The caller guarantees the record stays where it is (the future is pinned) until
/// [`exit_pinned`] with the same pointer, which must run before the poll returns or unwinds
/// (`instrument::PollFrame` is the one caller, and calls it from its `Drop`).
#[inline]
pub(crate) fn enter_pinned(event: NonNull<SpanEvent>, route: Route) -> usize {
    with(|s| {
        let depth = s.frames.len();
        s.frames.push(Frame::Pinned(event, route));
        s.open_spans += 1;
        depth
    })
    .unwrap_or(0)
}

/// Ends the poll of the async span entered at `at`: removes its frame, closing whatever was
/// pushed above it during the poll and is still there, then runs `finish`, which takes the
/// span's record out of the future when the span completed; that record joins the thread's
/// finished spans in the same step. Returns what the thread would now hand over (everything,
/// when this was its last open span): the caller holds it until its own span finishes, so an
/// async root's children leave with it even though the stack empties between polls.
#[inline]
#[must_use]
pub(crate) fn exit_pinned(
    at: NonNull<SpanEvent>,
    finish: impl FnOnce() -> Option<(SpanEvent, Route)>,
) -> Option<SpanBatch> {
    let mut finish = Some(finish);
    let batch = with(|s| {
        // Matched by address, not by reading the record.
        if let Some(pos) = s
            .frames
            .iter()
            .rposition(|f| matches!(f, Frame::Pinned(p, _) if *p == at))
        {
            s.close_above(pos + 1, POLL_ENDED);
            s.frames.pop();
            s.open_spans -= 1;
        }
        debug_assert!(
            !s.frames
                .iter()
                .any(|f| matches!(f, Frame::Pinned(p, _) if *p == at)),
            "the frame of a finished poll is still on the stack"
        );
        // The frame is gone: the record may be moved now.
        if let Some((e, route)) = finish.take().and_then(|f| f()) {
            s.push_complete(e, route);
        }
        s.take_batch(true)
    })
    .flatten();
    // Without a stack (thread teardown) the frame was never pushed either.
    batch.or_else(|| {
        finish
            .and_then(|f| f())
            .map(|(e, r)| SpanBatch::routed(e, r))
    })
}

/// The number of frames on this thread's stack.
pub(crate) fn depth() -> usize {
    with(|s| s.frames.len()).unwrap_or(0)
}

/// Buffers a span finished outside the arena (async and detached spans).
pub(crate) fn finished(event: SpanEvent, route: Route) {
    let mut slot = Some((event, route));
    let batch = with(|s| {
        if let Some((e, route)) = slot.take() {
            s.push_complete(e, route);
        }
        s.take_batch(true)
    })
    .flatten();
    // Thread-local storage is already gone when a span finishes during thread teardown: the
    // span is handed over on its own.
    let batch = batch.or_else(|| slot.map(|(e, r)| SpanBatch::routed(e, r)));
    if let Some(batch) = batch {
        crate::sink::dispatch_spans(batch);
    }
}

pub(crate) fn push_context(parent: ParentRef, detached: Option<SharedEvent>) -> u64 {
    let token = crate::id::SpanId::generate().0;
    with(|s| {
        s.push_frame(match detached {
            Some(event) => Frame::Detached(Box::new((event, parent)), token),
            None => Frame::Context(Box::new(parent), token),
        })
    });
    token
}

/// Makes an annotation context active on this thread until [`pop_context`] with the token.
pub(crate) fn push_scope(scope: Arc<Scope>, owned: bool) -> u64 {
    let token = crate::id::SpanId::generate().0;
    with(|s| s.push_frame(Frame::Scope(scope, token, owned)));
    token
}

/// Removes the context frame `token` names. A `poll` scope (the context of one poll of a
/// future) also closes what is still above it: a guard cannot outlive the poll it was made in.
pub(crate) fn pop_context(token: u64, poll: bool) {
    let batch = with(|s| {
        if let Some(pos) = s.frames.iter().rposition(|f| match f {
            Frame::Context(_, t) | Frame::Detached(_, t) | Frame::Scope(_, t, _) => *t == token,
            _ => false,
        }) {
            if poll {
                s.close_above(pos + 1, POLL_ENDED);
            }
            let frame = s.frames.remove(pos);
            s.scopes -= u32::from(frame.scoped());
            frame.removed();
        }
        s.take_batch(true)
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

/// The open span with this id on this thread: where to find its record.
fn find(s: &Stack, id: SpanId) -> Option<Found> {
    s.frames.iter().rev().find_map(|fr| match fr {
        Frame::Arena(i) if s.arena[*i].span_id == id => Some(Found::Arena(*i)),
        // SAFETY: the record outlives its frame (see `enter_pinned`).
        Frame::Pinned(p, _) if unsafe { p.as_ref() }.span_id == id => Some(Found::Pinned(*p)),
        _ => None,
    })
}

enum Found {
    Arena(usize),
    Pinned(NonNull<SpanEvent>),
}

/// Runs `f` on the full record of the open span with this id on this thread, building the
/// record first if the span had none.
pub(crate) fn with_span_mut<R>(id: SpanId, f: impl FnOnce(&mut SpanEvent) -> R) -> Option<R> {
    with(|s| match find(s, id)? {
        Found::Arena(i) => {
            let e = s.materialize(i);
            let before = (e.ml_app.clone(), e.session_id.clone());
            let r = f(e);
            let e = s.materialize(i);
            if (&e.ml_app, &e.session_id) != (&before.0, &before.1) {
                s.freeze_finished_descendants(i, before);
            }
            Some(r)
        }
        // SAFETY: see `enter_pinned`; the stack borrow guarantees no other reference to the
        // record is live during `f`.
        Found::Pinned(p) => Some(f(unsafe { &mut *p.as_ptr() })),
    })
    .flatten()
}

/// Runs `f` on the kind and the annotations of the open span with this id, where the span
/// keeps them: in its slot while it has no full record, so annotating builds none. `None` if
/// the span is not open.
pub(crate) fn with_annotations_mut<R>(
    id: SpanId,
    f: impl FnOnce(SpanKind, &mut Option<Box<Annotations>>) -> R,
) -> Option<R> {
    with(|s| match find(s, id)? {
        Found::Arena(i) => {
            let slot = &mut s.arena[i];
            Some(match &mut slot.event {
                Some(e) => f(e.kind, &mut e.annotations),
                None => f(slot.kind, &mut slot.annotations),
            })
        }
        // SAFETY: see `enter_pinned`; the stack borrow guarantees no other reference to the
        // record is live during `f`.
        Found::Pinned(p) => {
            let e = unsafe { &mut *p.as_ptr() };
            Some(f(e.kind, &mut e.annotations))
        }
    })
    .flatten()
}

/// Whether the open span with this id still wants its output captured: no annotation set its
/// output explicitly.
pub(crate) fn output_wanted(id: SpanId) -> bool {
    with(|s| match find(s, id)? {
        Found::Arena(i) => {
            let slot = &s.arena[i];
            let a = match &slot.event {
                Some(e) => e.annotations.as_deref(),
                None => slot.annotations.as_deref(),
            };
            Some(!a.is_some_and(|a| a.output_explicit))
        }
        // SAFETY: see `enter_pinned`.
        Found::Pinned(p) => Some(
            !unsafe { p.as_ref() }
                .annotations
                .as_ref()
                .is_some_and(|a| a.output_explicit),
        ),
    })
    .flatten()
    .unwrap_or(false)
}

/// What the top frame is, for annotating "the current span".
pub(crate) enum Current {
    None,
    Context,
    Span(SpanId),
    Detached(SharedEvent),
}

pub(crate) fn current() -> Current {
    with(|s| match s.top() {
        None => Current::None,
        Some(Frame::Arena(i)) => Current::Span(s.arena[*i].span_id),
        // SAFETY: see `enter_pinned`.
        Some(Frame::Pinned(p, _)) => Current::Span(unsafe { p.as_ref() }.span_id),
        Some(Frame::Detached(d, _)) => Current::Detached(d.0.clone()),
        Some(Frame::Context(..) | Frame::Scope(..)) => Current::Context,
    })
    .unwrap_or(Current::None)
}

impl Stack {
    /// Closes every frame but the lowest `keep`: they belong to guards that can no longer be
    /// dropped in time. Their sync spans end now with an
    /// `AbandonedSpan` error saying `why`; the guards' later drops then find nothing to do.
    #[cold]
    fn close_above(&mut self, keep: usize, why: &'static str) {
        if self.frames.len() <= keep {
            return;
        }
        let end = crate::clock::ticks();
        while self.frames.len() > keep {
            match self.frames.pop() {
                Some(Frame::Arena(i)) => {
                    self.open_spans -= 1;
                    let e = self.materialize(i);
                    if e.error.is_none() {
                        e.error = Some(Box::new(crate::SpanError {
                            kind: "AbandonedSpan".into(),
                            message: why.into(),
                            stack: None,
                        }));
                    }
                    let slot = &mut self.arena[i];
                    slot.open = false;
                    slot.end = end;
                    self.latest = end;
                }
                // Inner polls remove their own frames before returning, so none is left here;
                // the pointer is not read either way.
                Some(Frame::Pinned(..)) => self.open_spans -= 1,
                Some(f @ Frame::Context(..)) | Some(f @ Frame::Scope(..)) => {
                    self.scopes -= u32::from(f.scoped());
                    f.removed();
                }
                Some(Frame::Detached(..)) | None => {}
            }
        }
    }

    /// Whether spans started now belong to a test capture. Out of line: only a disabled SDK
    /// asks, and the empty span's code stays small.
    #[cold]
    #[inline(never)]
    fn capture_in_scope(&self) -> bool {
        self.current_parent().capture.is_some()
    }

    /// The full record of a span started under a frame that is not a slot (a context or an
    /// async span). Out of line, for the same reason.
    #[cold]
    #[inline(never)]
    fn child_of_frame(
        &mut self,
        kind: SpanKind,
        name: SharedStr,
        span_id: SpanId,
        decorator: bool,
        annotations: Option<Box<Annotations>>,
    ) -> Box<SpanEvent> {
        let (mut e, route) = self
            .current_parent()
            .child(kind, name, span_id, TraceId::generate);
        if let Some(c) = route {
            self.routes.push((span_id, c));
        }
        e.decorator = decorator;
        e.annotations = annotations;
        Box::new(e)
    }

    fn current_parent(&self) -> ParentRef {
        let mut r = match self.top() {
            None => ParentRef::default(),
            Some(Frame::Arena(i)) => self.child_ref(*i),
            // SAFETY: see `enter_pinned`.
            Some(Frame::Pinned(p, route)) => {
                ParentRef::of_span(unsafe { p.as_ref() }, route.clone())
            }
            Some(Frame::Detached(d, _)) => d.1.clone(),
            Some(Frame::Context(p, _)) => (**p).clone(),
            // `top` skips scopes.
            Some(Frame::Scope(..)) => ParentRef::default(),
        };
        if self.scopes != 0 {
            r.scope = self.active_scope();
        }
        r
    }

    /// The innermost frame that is not an annotation context: what parents a new span.
    fn top(&self) -> Option<&Frame> {
        self.frames
            .iter()
            .rev()
            .find(|f| !matches!(f, Frame::Scope(..)))
    }

    fn push_frame(&mut self, frame: Frame) {
        self.scopes += u32::from(frame.scoped());
        self.frames.push(frame);
    }

    /// The innermost annotation context on the stack.
    fn active_scope(&self) -> Option<Arc<Scope>> {
        self.frames.iter().rev().find_map(|f| match f {
            Frame::Scope(scope, ..) => Some(scope.clone()),
            Frame::Context(p, _) => p.scope.clone(),
            _ => None,
        })
    }

    /// Applies the annotation context active here to the sync span just written in slot `i`.
    #[cold]
    #[inline(never)]
    fn scope_slot(&mut self, i: usize) {
        let Some(scope) = self.active_scope() else {
            return;
        };
        let slot = &mut self.arena[i];
        let (mut name, mut session) = (None, None);
        match &mut slot.event {
            Some(e) => {
                scope.apply(slot.kind, &mut name, &mut e.annotations, &mut session);
                if let Some(n) = name {
                    e.name = n;
                }
                if session.is_some() {
                    e.session_id = session;
                }
            }
            None => {
                scope.apply(slot.kind, &mut name, &mut slot.annotations, &mut session);
                if let Some(n) = name {
                    slot.annotations.get_or_insert_with(Annotations::boxed).name = Some(n);
                }
                if session.is_some() {
                    self.materialize(i).session_id = session;
                }
            }
        }
    }

    /// What a child of slot `i` inherits: found by walking up to the nearest slot with a full
    /// record (or the trace's root), then down again.
    fn child_ref(&self, i: usize) -> ParentRef {
        let mut chain = Vec::new();
        let mut j = i;
        loop {
            let s = &self.arena[j];
            if s.event.is_some() || s.parent == NO_SLOT {
                break;
            }
            chain.push(j);
            j = s.parent as usize;
        }
        let top = &self.arena[j];
        let mut r = match &top.event {
            Some(e) => ParentRef::of_span(e, self.route_of(j)),
            // A trace root started with nothing current: no test capture either.
            None => top.child_ref(ParentRef::default()),
        };
        for &k in chain.iter().rev() {
            r = self.arena[k].child_ref(r);
        }
        r
    }

    /// The test capture of slot `i`'s span: its trace root's.
    fn route_of(&self, mut i: usize) -> Route {
        if self.routes.is_empty() {
            return None;
        }
        while self.arena[i].parent != NO_SLOT {
            i = self.arena[i].parent as usize;
        }
        self.route_by_id(self.arena[i].span_id)
    }

    fn route_by_id(&self, id: SpanId) -> Route {
        let (_, c) = self.routes.iter().find(|(s, _)| *s == id)?;
        Some(c.clone())
    }

    /// Buffers an async or detached span that finished here, with where it goes.
    fn push_complete(&mut self, e: SpanEvent, route: Route) {
        if let Some(c) = route {
            self.routes.push((e.span_id, c));
        }
        self.complete.push(e);
    }

    /// The routes of the spans leaving now (finished slots and every span in `complete`),
    /// keeping those of the open slots, each under its own id (open slots are renumbered or
    /// lose their parent when the finished ones leave). Call before the slots move.
    fn take_routes(&mut self) -> Routes {
        if self.routes.is_empty() {
            return Routes::new();
        }
        let (mut out, mut stay) = (Routes::new(), Routes::new());
        for i in 0..self.arena.len() {
            if let Some(c) = self.route_of(i) {
                let entry = (self.arena[i].span_id, c);
                if self.arena[i].open {
                    stay.push(entry);
                } else {
                    out.push(entry);
                }
            }
        }
        for e in &self.complete {
            if let Some(c) = self.route_by_id(e.span_id) {
                out.push((e.span_id, c));
            }
        }
        self.routes = stay;
        out
    }

    /// The full record of slot `i`, built from what it inherits if it had none.
    fn materialize(&mut self, i: usize) -> &mut SpanEvent {
        if self.arena[i].event.is_none() {
            let slot = &self.arena[i];
            let mut e = if slot.parent == NO_SLOT {
                slot.build_event(None)
            } else {
                let parent = self.child_ref(slot.parent as usize);
                slot.build_event(Some(&parent))
            };
            self.arena[i].give_annotations(&mut e);
            self.arena[i].event = Some(Box::new(e));
        }
        match &mut self.arena[i].event {
            Some(e) => e,
            None => unreachable!("the record was built above"),
        }
    }

    /// Gives the finished descendants of slot `i` that still inherit from it their full records,
    /// with the ml_app and session `i` had before they changed to what it holds now: a span
    /// inherits what its ancestors hold when it finishes, as in the reference.
    #[cold]
    fn freeze_finished_descendants(
        &mut self,
        i: usize,
        before: (Option<SharedStr>, Option<SharedStr>),
    ) {
        let now = {
            let e = self.materialize(i);
            (
                std::mem::replace(&mut e.ml_app, before.0),
                std::mem::replace(&mut e.session_id, before.1),
            )
        };
        for j in i + 1..self.arena.len() {
            if !self.arena[j].open && self.inherits_from(j, i) {
                self.materialize(j);
            }
        }
        let e = self.materialize(i);
        (e.ml_app, e.session_id) = now;
    }

    /// Whether slot `j` has no record of its own and inherits, through slots without one,
    /// from slot `i`.
    fn inherits_from(&self, j: usize, i: usize) -> bool {
        let mut k = j;
        while self.arena[k].event.is_none() && self.arena[k].parent != NO_SLOT {
            k = self.arena[k].parent as usize;
            if k == i {
                return true;
            }
        }
        false
    }

    /// The slots to hand over now, if any: everything when no span is open on the thread,
    /// else the finished ones once the arena passes the partial-flush size, or once an
    /// attached context has nothing open above it. `scope_end` says that may be the case now
    /// (false for a finished span that has a parent slot, which is still open above the
    /// context: the common case, kept to one comparison).
    #[inline]
    fn take_batch(&mut self, scope_end: bool) -> Option<SpanBatch> {
        if self.arena.is_empty() && self.complete.is_empty() {
            return None;
        }
        // With no span open, every slot is finished (an open sync span counts in `open_spans`
        // until its guard finishes it).
        if self.open_spans == 0 {
            // The next trace on this thread is probably shaped like this one: size its arena
            // alike so it fills without reallocating.
            let routes = self.take_routes();
            let cap = self.arena.len().min(REUSED_CAPACITY_MAX);
            let (next, origin) = crate::recycle::next_arena(cap);
            let slots = std::mem::replace(&mut self.arena, next);
            let complete = std::mem::take(&mut self.complete);
            return Some(SpanBatch {
                slots,
                complete,
                origin,
                routes,
                map: crate::clock::tick_map(self.latest),
            });
        }
        // An attached context is a fresh start: once no span started under it is open, what
        // finished leaves, whatever stays open below it (an outer span, or one whose guard was
        // forgotten). So a capture or a new trace on such a thread is not held back.
        if scope_end && matches!(self.top(), Some(Frame::Context(..) | Frame::Detached(..))) {
            return self.split_if_finished();
        }
        if self.arena.len() + self.complete.len() < PARTIAL_FLUSH_AT {
            return None;
        }
        self.split_finished()
    }

    /// [`Self::split_finished`], if anything finished.
    #[cold]
    fn split_if_finished(&mut self) -> Option<SpanBatch> {
        if self.complete.is_empty() && self.arena.iter().all(|s| s.open) {
            return None;
        }
        self.split_finished()
    }

    /// Moves the finished slots out, keeping the open ones (renumbered, with their frames).
    /// A slot that stays, or whose parent stays, gets its full record first, since the two can
    /// no longer find each other by position.
    fn split_finished(&mut self) -> Option<SpanBatch> {
        let n = self.arena.len();
        let routes = self.take_routes();
        for i in 0..n {
            let s = &self.arena[i];
            let parent_stays = s.parent != NO_SLOT && self.arena[s.parent as usize].open;
            if s.open || parent_stays {
                self.materialize(i);
            }
        }
        let mut finished = Vec::new();
        let mut kept = Vec::new();
        let mut renumber = vec![NO_SLOT; n];
        for (i, mut slot) in std::mem::take(&mut self.arena).into_iter().enumerate() {
            if slot.event.is_some() || slot.parent == NO_SLOT {
                slot.parent = NO_SLOT;
            } else {
                slot.parent = renumber[slot.parent as usize];
            }
            if slot.open {
                renumber[i] = kept.len() as u32;
                kept.push(slot);
            } else {
                renumber[i] = finished.len() as u32;
                finished.push(slot);
            }
        }
        for f in &mut self.frames {
            if let Frame::Arena(i) = f {
                *i = renumber[*i] as usize;
            }
        }
        self.arena = kept;
        let batch = SpanBatch {
            slots: finished,
            complete: std::mem::take(&mut self.complete),
            origin: crate::recycle::origin(),
            routes,
            map: crate::clock::tick_map(self.latest),
        };
        (!batch.is_empty()).then_some(batch)
    }
}
