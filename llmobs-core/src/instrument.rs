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
use std::task::{Context as TaskContext, Poll};

use crate::span::{stamp, Outcome, PendingSpan};
use crate::stack::{self, ParentRef};
use crate::{clock, Context, SpanBatch, SpanError, SpanEvent};

/// A future with a span around it: made by the attributes on `async fn` and by
/// [`Instrument::in_span`].
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F, C> {
    inner: F,
    event: Option<SpanEvent>,
    started: bool,
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
        started: false,
        outcome: Some(outcome),
        held: SpanBatch::new(),
    }
}

/// Ends the poll's frame and, if `poll` unwinds, finishes the span with the panic.
struct PollGuard {
    at: NonNull<SpanEvent>,
    slot: *mut Option<SpanEvent>,
    held: *mut SpanBatch,
}

impl Drop for PollGuard {
    /// Only runs when `poll` unwinds (the normal path forgets the guard).
    fn drop(&mut self) {
        let end = clock::mono_ns();
        // SAFETY: `slot` points into the pinned future whose `poll` is unwinding. The record is
        // taken out only after its frame is removed, so the stack never sees it moved.
        let mut batch = std::mem::take(unsafe { &mut *self.held });
        batch.append(stack::exit_pinned(self.at, None).unwrap_or_default());
        if let Some(mut e) = unsafe { (*self.slot).take() } {
            if e.error.is_none() {
                e.error = Some(Box::new(crate::panic::current_panic_error()));
            }
            stamp(&mut e, end);
            batch.push(e);
        }
        dispatch(batch);
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
        // reached through `Pin::new_unchecked`. `event` is not moved while the future is pinned
        // either, which is what lets the span stack point at it during a poll.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let slot: *mut Option<SpanEvent> = &mut this.event;
        // SAFETY: `slot` comes from a live `&mut`; from here on the record is reached through
        // raw pointers only, so the frame's pointer and ours do not conflict.
        let Some(event) = (unsafe { (*slot).as_mut() }) else {
            return inner.poll(cx);
        };
        if !this.started {
            this.started = true;
            event.start_ns = clock::mono_ns();
        }
        let at = NonNull::from(event);
        stack::enter_pinned(at);
        let guard = PollGuard {
            at,
            slot,
            held: &mut this.held,
        };
        let res = inner.poll(cx);
        std::mem::forget(guard);
        match res {
            Poll::Pending => {
                if let Some(batch) = stack::exit_pinned(at, None) {
                    this.held.append(batch);
                    if this.held.len() >= stack::PARTIAL_FLUSH_AT {
                        dispatch(std::mem::take(&mut this.held));
                    }
                }
                Poll::Pending
            }
            Poll::Ready(out) => {
                // The outcome reader may run user code (`Serialize`/`Debug`), so it runs while
                // the frame is still valid, and the record is only read through `slot` after.
                let want_output = !unsafe { &*slot }
                    .as_ref()
                    .is_some_and(SpanEvent::has_explicit_output);
                let outcome = this.outcome.take().map(|c| c(&out, want_output));
                let end = clock::mono_ns();
                // SAFETY: no reference to the record is live; taking it out ends what the frame
                // points at, and `exit_pinned` removes the frame before anything reads the stack.
                let finished = unsafe { (*slot).take() }.map(|mut event| {
                    if let Some(o) = outcome {
                        o.apply(&mut event);
                    }
                    stamp(&mut event, end);
                    event
                });
                let mut batch = std::mem::take(&mut this.held);
                batch.append(stack::exit_pinned(at, finished).unwrap_or_default());
                dispatch(batch);
                Poll::Ready(out)
            }
        }
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
            batch.push(e);
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
/// use llmobs_core::Instrument;
/// # async fn work() {}
/// let root = llmobs_core::workflow("root").start();
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
    /// use llmobs_core::Instrument;
    /// # async fn fetch() -> u32 { 1 }
    /// let fut = fetch().in_span(llmobs_core::retrieval("fetch_docs"));
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
        let _g = crate::context::ContextGuard::push(this.parent.clone(), None);
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}
