//! Spans over futures.
//!
//! An instrumented future takes its parent when it is *created* (when the `async fn` is called),
//! not when it is first polled, so `tokio::spawn(traced_fn())` stays in the caller's trace.
//! During every poll its span is pushed on the polling thread's stack and popped afterwards, so
//! a future that migrates between worker threads keeps correct parents. Timing runs from the
//! first poll to completion; a future dropped before completion is finished as an error of type
//! `Cancelled`.

use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::parent::ParentRef;
use crate::route::Route;
use crate::scope::Scope;
use crate::span::{stamp, Outcome, PendingSpan};
use crate::stack;
use crate::{clock, Context, SpanBatch, SpanError, SpanEvent};

/// A future with a span around it: made by the attributes on `async fn` and by
/// [`Instrument::in_span`].
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F, C> {
    inner: F,
    event: Option<SpanEvent>,
    /// Where the span goes.
    route: Route,
    started: bool,
    /// The annotation context applied when the span was built.
    scope: Option<Arc<Scope>>,
    outcome: Option<C>,
    /// Descendants that finished in earlier polls, held to leave with this span.
    held: SpanBatch,
}

/// Wraps `fut` in the span `pending`; `outcome` reads the span's output or error from the
/// future's result.
#[doc(hidden)]
#[inline]
pub fn instrument<R, F, C>(pending: PendingSpan, fut: F, outcome: C) -> Instrumented<F, C>
where
    F: Future<Output = R>,
    C: FnOnce(&R, bool) -> Outcome,
{
    Instrumented {
        inner: fut,
        event: pending.event,
        route: pending.route,
        started: false,
        scope: pending.scope,
        outcome: Some(outcome),
        held: SpanBatch::new(),
    }
}

/// The span's frame on the polling thread's stack, for one poll.
///
/// Frames are removed only by this guard's `Drop`, which runs on every way out of `poll`:
/// return or unwind, whatever user code (the inner future, the outcome reader) did. So no frame
/// can outlive the poll that pushed it, and the stack never points into a future that may be
/// freed once `poll` returns. Anything pushed above the frame during the poll and still there
/// (a sync guard held across `.await` or forgotten) is closed with it.
struct PollFrame {
    at: NonNull<SpanEvent>,
    slot: *mut Option<SpanEvent>,
    held: *mut SpanBatch,
    route: Route,
    /// The stack's depth before the frame was pushed.
    depth: usize,
    end: PollEnd,
}

/// How the poll ended; `Unwound` until the poll sets another.
enum PollEnd {
    /// `poll` is unwinding: the span finishes with the panic.
    Unwound,
    /// The inner future is pending: the span stays open.
    Pending,
    /// The inner future completed: the span finishes with what was read from its value.
    Ready(Option<Outcome>),
}

impl PollFrame {
    /// Pushes the frame of the record at `slot`, which must hold one.
    ///
    /// # Safety
    /// `slot` and `held` point into a pinned future that is being polled and outlives the
    /// returned guard; between now and the guard's drop they are reached only through these
    /// pointers.
    unsafe fn enter(
        slot: *mut Option<SpanEvent>,
        held: *mut SpanBatch,
        route: &Route,
    ) -> Option<Self> {
        // SAFETY: `slot` is valid (the caller's contract); the `&mut` ends on this line.
        let at = NonNull::from(unsafe { (*slot).as_mut() }?);
        let depth = stack::enter_pinned(at, route.clone());
        Some(PollFrame {
            at,
            route: route.clone(),
            slot,
            held,
            depth,
            end: PollEnd::Unwound,
        })
    }

    /// Whether the span still wants its output captured.
    fn wants_output(&self) -> bool {
        // SAFETY: `slot` is valid for the guard's life (see `enter`); the shared reference ends
        // within this expression, and reads leave the frame's pointer usable.
        !unsafe { &*self.slot }
            .as_ref()
            .is_some_and(SpanEvent::has_explicit_output)
    }
}

impl Drop for PollFrame {
    fn drop(&mut self) {
        let end = std::mem::replace(&mut self.end, PollEnd::Unwound);
        let slot = self.slot;
        let route = self.route.take();
        match end {
            PollEnd::Pending => {
                if let Some(batch) = stack::exit_pinned(self.at, || None) {
                    // SAFETY: `held` is valid for the guard's life (see `enter`), and no other
                    // reference to it is live.
                    let held = unsafe { &mut *self.held };
                    held.append(batch);
                    if held.len() >= stack::PARTIAL_FLUSH_AT {
                        dispatch(std::mem::take(held));
                    }
                }
            }
            end => {
                let finished = stack::exit_pinned(self.at, || {
                    // SAFETY: `slot` is valid for the guard's life (see `enter`). `exit_pinned`
                    // calls this only after removing the frame that points at the record, so
                    // the stack never sees it moved.
                    let mut e = unsafe { (*slot).take() }?;
                    match end {
                        PollEnd::Ready(Some(outcome)) => outcome.apply(&mut e),
                        PollEnd::Ready(None) | PollEnd::Pending => {}
                        PollEnd::Unwound => {
                            if e.error.is_none() {
                                e.error = Some(Box::new(crate::panic::current_panic_error()));
                            }
                        }
                    }
                    stamp(&mut e, clock::mono_ns());
                    Some((e, route))
                });
                // SAFETY: as for `held` above.
                let mut batch = std::mem::take(unsafe { &mut *self.held });
                batch.append(finished.unwrap_or_default());
                dispatch(batch);
            }
        }
        debug_assert!(
            stack::depth() <= self.depth,
            "a frame pushed during the poll outlived it"
        );
    }
}

impl<R, F, C> Future for Instrumented<F, C>
where
    F: Future<Output = R>,
    C: FnOnce(&R, bool) -> Outcome,
{
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<R> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self` and only
        // reached through `Pin::new_unchecked`. `event` and `held` are not moved while the
        // future is pinned either, which is what lets the span stack point at the record during
        // a poll.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        // From here on the record and the held batch are reached through these raw pointers
        // only, so the frame's pointer and ours do not conflict.
        let slot: *mut Option<SpanEvent> = &mut this.event;
        let held: *mut SpanBatch = &mut this.held;
        if !this.started {
            // SAFETY: `slot` comes from a live `&mut`, and no frame points at the record yet.
            if let Some(e) = unsafe { (*slot).as_mut() } {
                this.started = true;
                e.start_ns = clock::mono_ns();
                if let Some(scope) = stack::active_scope() {
                    scope.apply_to_event(this.scope.as_ref(), e);
                }
                this.scope = None;
            }
        }
        // SAFETY: `this` is pinned and being polled, so both pointers stay valid until the
        // guard drops at the end of this function; nothing else reaches those fields meanwhile.
        let Some(mut frame) = (unsafe { PollFrame::enter(slot, held, &this.route) }) else {
            return inner.poll(cx);
        };
        let res = inner.poll(cx);
        frame.end = match &res {
            Poll::Pending => PollEnd::Pending,
            // The outcome reader may run user code (`Serialize`, `Display`, `Debug`), so it runs
            // while the frame is still there, and under panic isolation: the value is the
            // application's, whatever reading it does.
            Poll::Ready(out) => {
                let want_output = frame.wants_output();
                PollEnd::Ready(this.outcome.take().map(|read| {
                    crate::panic::quietly(|| read(out, want_output))
                        .unwrap_or_else(|_| Outcome::error(crate::outcome::unreadable_outcome()))
                }))
            }
        };
        drop(frame);
        res
    }
}

impl<F, C> Drop for Instrumented<F, C> {
    fn drop(&mut self) {
        let mut batch = std::mem::take(&mut self.held);
        if let Some(mut e) = self.event.take() {
            let now = clock::mono_ns();
            if !self.started {
                e.start_ns = now;
            }
            e.error = Some(Box::new(SpanError {
                kind: "Cancelled".into(),
                message: "the future was dropped before it completed".into(),
                stack: None,
            }));
            stamp(&mut e, now);
            batch.push_routed(e, self.route.take());
        }
        dispatch(batch);
    }
}

/// The outcome reader of [`Instrument::in_span`]: the future's value is not recorded.
pub type NoOutcome<T> = fn(&T, bool) -> Outcome;

fn dispatch(batch: SpanBatch) {
    if !batch.is_empty() {
        crate::sink::dispatch_spans(batch);
    }
}

/// Carries a span context into a future: `fut.in_current_span()` for work you spawn.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::Instrument;
/// # async fn work() {}
/// let root = llmobs::workflow("root").start();
/// let fut = work().in_current_span(); // spans inside `work` are children of `root`
/// # drop(fut); drop(root);
/// ```
pub trait Instrument: Future + Sized {
    /// Runs this future, on whatever thread polls it, under the span current now.
    fn in_current_span(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }

    /// Runs this future inside a new span. The span's parent is the span current now; it is
    /// active during every poll, times from the first poll to completion, and is finished as
    /// `Cancelled` if the future is dropped first. (A [`crate::Span`] guard is bound to its
    /// thread and cannot be held across `.await`; this is the async equivalent.)
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// use llmobs::Instrument;
    /// # async fn fetch() -> u32 { 1 }
    /// let fut = fetch().in_span(llmobs::retrieval("fetch_docs"));
    /// # drop(fut);
    /// ```
    fn in_span(self, span: crate::SpanBuilder) -> Instrumented<Self, NoOutcome<Self::Output>> {
        instrument(span.pending(), self, |_, _| Outcome::none())
    }

    /// Runs this future under the given context.
    fn with_context(self, context: Context) -> WithContext<Self> {
        WithContext {
            inner: self,
            parent: context.parent,
        }
    }
}

impl<F: Future> Instrument for F {}

/// A future that runs under a [`Context`]. Made by [`Instrument`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WithContext<F> {
    inner: F,
    parent: ParentRef,
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned and never moved; `parent` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // A poll scope: frames left above it when the poll ends are closed with it.
        let _g = crate::context::ContextGuard::push_poll(this.parent.clone());
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}
