//! Carrying "the current span" across threads and into spawned futures.
//!
//! Sync code finds its parent on the thread-local stack. A new thread or a spawned task starts
//! with an empty stack, so the parent has to be carried explicitly: take [`Context::current`]
//! where the work is created and [`Context::attach`] it where the work runs, or wrap a future
//! with [`crate::Instrument::in_current_span`].

use std::marker::PhantomData;

use crate::parent::ParentRef;
use crate::stack::{self, SharedEvent};

/// A snapshot of the current span context: trace, parent span, ml_app and session.
///
/// ```
/// # use llmobs_core as llmobs;
/// let root = llmobs::workflow("root").start();
/// let ctx = llmobs::Context::current();
/// std::thread::spawn(move || {
///     let _g = ctx.attach();
///     let _child = llmobs::task("child").start(); // parent: `root`
/// }).join().unwrap();
/// drop(root);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub(crate) parent: ParentRef,
}

impl Context {
    /// The context of the current span on this thread (empty if there is none).
    pub fn current() -> Self {
        Context {
            parent: stack::current_parent(),
        }
    }

    /// Whether the context names no trace.
    pub fn is_empty(&self) -> bool {
        self.parent.trace.is_none() && self.parent.capture.is_none()
    }

    /// Makes this context current on this thread until the guard is dropped: spans started
    /// meanwhile are children of the context's span.
    pub fn attach(&self) -> ContextGuard {
        ContextGuard::push(self.parent.clone(), None)
    }

    /// Runs `f` with this context current. Use it to *create* an instrumented future under the
    /// context: an `async fn` with an attribute takes its parent when it is called, so
    /// `handler().with_context(ctx)` would be too late for the handler's own span.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// # async fn handler() {}
    /// let root = llmobs::workflow("root").start();
    /// let ctx = llmobs::Context::current();
    /// drop(root);
    /// let fut = ctx.in_scope(|| handler()); // spans `handler` creates are children of `root`
    /// # drop(fut);
    /// ```
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = self.attach();
        f()
    }
}

/// Keeps a [`Context`] current on this thread until dropped.
#[must_use = "the context is detached as soon as this guard is dropped"]
#[derive(Debug)]
pub struct ContextGuard {
    token: u64,
    /// The scope of one poll: frames still above it when it ends are closed with it.
    poll: bool,
    _not_send: PhantomData<*const ()>,
}

impl ContextGuard {
    pub(crate) fn push(parent: ParentRef, detached: Option<SharedEvent>) -> Self {
        ContextGuard {
            token: stack::push_context(parent, detached),
            poll: false,
            _not_send: PhantomData,
        }
    }

    /// A guard that changes nothing (for a span that is not recorded).
    pub(crate) fn noop() -> Self {
        ContextGuard {
            token: 0,
            poll: false,
            _not_send: PhantomData,
        }
    }

    /// The context of one poll of a future ([`crate::WithContext`]).
    pub(crate) fn push_poll(parent: ParentRef) -> Self {
        ContextGuard {
            token: stack::push_context(parent, None),
            poll: true,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        // Tokens are span ids, never 0.
        if self.token != 0 {
            stack::pop_context(self.token, self.poll);
        }
    }
}
