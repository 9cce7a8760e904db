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
use std::task::{Context as TaskContext, Poll};

use crate::span::{finish_event, Outcome, PendingSpan};
use crate::stack::{self, ParentRef};
use crate::{clock, Context, SpanError, SpanEvent, SpanId};

/// A future with a span around it: made by the attributes on `async fn` and by
/// [`Instrument::in_span`].
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F, C> {
    inner: F,
    event: Option<SpanEvent>,
    started: bool,
    outcome: Option<C>,
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
    }
}

/// Pops the span frame and records the panic if `poll` unwinds.
struct PollGuard(SpanId);

impl Drop for PollGuard {
    fn drop(&mut self) {
        let end = clock::mono_ns();
        if let Some(mut e) = stack::pop_span(self.0) {
            if e.error.is_none() {
                e.error = Some(Box::new(crate::panic::current_panic_error()));
            }
            finish_event(e, end);
        }
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
        // reached through `Pin::new_unchecked`; the other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let Some(mut event) = this.event.take() else {
            return inner.poll(cx);
        };
        if !this.started {
            this.started = true;
            event.start_ns = clock::mono_ns();
        }
        let id = event.span_id;
        stack::push_span(event);
        let guard = PollGuard(id);
        let res = inner.poll(cx);
        std::mem::forget(guard);
        let Some(mut event) = stack::pop_span(id) else {
            return res;
        };
        match res {
            Poll::Pending => {
                this.event = Some(event);
                stack::flush_if_idle();
                Poll::Pending
            }
            Poll::Ready(out) => {
                if let Some(c) = this.outcome.take() {
                    let want_output = !event.has_explicit_output();
                    c(&out, want_output).apply(&mut event);
                }
                finish_event(event, clock::mono_ns());
                Poll::Ready(out)
            }
        }
    }
}

impl<F, C> Drop for Instrumented<F, C> {
    fn drop(&mut self) {
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
            finish_event(e, now);
        }
    }
}

/// The outcome reader of [`Instrument::in_span`]: the future's value is not recorded.
pub type NoOutcome<T> = fn(&T, bool) -> Outcome;

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
