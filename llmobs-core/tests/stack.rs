//! The span stack, its slot arena and pinned futures, through the public API: where spans go
//! when test captures nest on one thread, traces larger than the partial flush, futures and
//! detached spans that move between threads, futures dropped between polls. Run under Miri and
//! the sanitizers by `.ci/run` with the rest of the core's tests.

extern crate llmobs_core as llmobs;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use llmobs::testing::Capture;
use llmobs::{Instrument, SpanEvent};

/// Pending once, then ready: a future that must be polled twice.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

fn names(spans: &[SpanEvent]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

/// A capture attached inside a span of another capture: the spans that finish together in one
/// hand-over still reach the capture each was started under.
#[test]
fn nested_captures_on_one_thread_each_see_their_own_spans() {
    let (outer, inner) = (Capture::new(), Capture::new());
    {
        let _a = outer.context().attach();
        let root = llmobs::workflow("outer_root").start();
        drop(llmobs::task("outer_child").start());
        {
            let _b = inner.context().attach();
            let r = llmobs::workflow("inner_root").start();
            drop(llmobs::task("inner_child").start());
            drop(r);
        }
        drop(llmobs::task("outer_late").start());
        drop(root);
    }
    let (o, i) = (outer.spans(), inner.spans());
    assert_eq!(names(&o), ["outer_root", "outer_child", "outer_late"]);
    assert_eq!(names(&i), ["inner_root", "inner_child"]);
    assert!(o[1..].iter().all(|s| s.parent_id == Some(o[0].span_id)));
    assert_eq!(
        i[0].parent_id, None,
        "a capture's context starts a new trace"
    );
    assert_eq!(i[1].parent_id, Some(i[0].span_id));
    assert_ne!(i[0].trace_id, o[0].trace_id);
}

/// More spans than the partial flush holds, under one open root: the finished ones leave in
/// several hand-overs, and the spans that stay behind (renumbered in the arena) keep their
/// parents and their capture. One child carries a full record of its own (a session).
#[test]
fn a_trace_larger_than_the_partial_flush_keeps_its_parents() {
    const N: usize = 700;
    let cap = Capture::new();
    {
        let _g = cap.context().attach();
        let root = llmobs::workflow("root").start();
        let open = llmobs::task("open_child").session_id("s-1").start();
        for _ in 0..N {
            drop(llmobs::task("leaf").start());
        }
        let last = llmobs::task("after_flush").start();
        drop(open);
        drop(last);
        drop(root);
    }
    let spans = cap.spans();
    assert_eq!(spans.len(), N + 3);
    let root = &spans[0];
    assert_eq!(root.name, "root");
    let open = spans.iter().find(|s| s.name == "open_child").unwrap();
    assert_eq!(open.session_id.as_deref(), Some("s-1"));
    for s in &spans[1..] {
        let parent = if s.name == "open_child" { root } else { open };
        assert_eq!(s.parent_id, Some(parent.span_id), "{}", s.name);
        assert_eq!(s.trace_id, root.trace_id);
        assert!(s.error.is_none(), "{:?}", s.error);
    }
    let after = spans.iter().find(|s| s.name == "after_flush").unwrap();
    assert_eq!(after.session_id.as_deref(), Some("s-1"), "inherited");
}

/// A future polled on one thread, then moved to another and finished there: its children on
/// the second thread have it as parent, and everything reaches the capture it was made under.
#[test]
fn a_future_moved_between_threads_keeps_its_parent_and_capture() {
    let cap = Capture::new();
    let mut fut = {
        let _g = cap.context().attach();
        Box::pin(
            async {
                drop(llmobs::task("before").start());
                YieldOnce(false).await;
                drop(llmobs::task("after").start());
            }
            .in_span(llmobs::workflow("moved")),
        )
    };
    assert!(poll_once(&mut fut).is_pending());
    std::thread::spawn(move || {
        assert!(poll_once(&mut fut).is_ready());
    })
    .join()
    .unwrap();
    let spans = cap.spans();
    assert_eq!(names(&spans), ["moved", "before", "after"]);
    assert!(spans[1..]
        .iter()
        .all(|s| s.parent_id == Some(spans[0].span_id)));
    assert!(spans.iter().all(|s| s.error.is_none()));
}

/// A future dropped between polls, on another thread: its span ends as cancelled, the child
/// that finished in the first poll leaves with it, and both reach the capture.
#[test]
fn a_future_dropped_between_polls_is_cancelled_into_its_capture() {
    let cap = Capture::new();
    let mut fut = {
        let _g = cap.context().attach();
        Box::pin(
            async {
                drop(llmobs::task("done").start());
                YieldOnce(false).await;
                unreachable!("never polled again");
            }
            .in_span(llmobs::task("dropped")),
        )
    };
    assert!(poll_once(&mut fut).is_pending());
    assert!(cap.spans().is_empty(), "held until the future's span ends");
    std::thread::spawn(move || drop(fut)).join().unwrap();
    let spans = cap.spans();
    assert_eq!(names(&spans), ["dropped", "done"]);
    assert_eq!(spans[0].error.as_ref().unwrap().kind, "Cancelled");
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
}

/// A detached span moved to another thread, entered and finished there.
#[test]
fn a_detached_span_finished_on_another_thread_reaches_its_capture() {
    let cap = Capture::new();
    let bg = {
        let _g = cap.context().attach();
        llmobs::agent("bg").start_detached()
    };
    std::thread::spawn(move || {
        bg.in_scope(|| drop(llmobs::tool("lookup").start()));
        bg.finish();
    })
    .join()
    .unwrap();
    let spans = cap.spans();
    assert_eq!(names(&spans), ["bg", "lookup"]);
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    let agent = spans[1].agent.as_ref().expect("attributed to the agent");
    assert_eq!(agent.span_id, spans[0].span_id);
}

/// The root's guard dropped before its child's: both finish normally, in one trace.
#[test]
fn a_root_finished_before_its_child_keeps_the_child() {
    let cap = Capture::new();
    {
        let _g = cap.context().attach();
        let root = llmobs::workflow("root").start();
        let child = llmobs::task("child").start();
        drop(root);
        drop(llmobs::task("grandchild").start());
        drop(child);
    }
    let spans = cap.spans();
    assert_eq!(names(&spans), ["root", "child", "grandchild"]);
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    assert_eq!(spans[2].parent_id, Some(spans[1].span_id));
    assert!(spans.iter().all(|s| s.error.is_none()));
}

/// A thread that exits while an instrumented future it polled is still pending, and while it
/// holds a sync span whose guard was forgotten: the sync span ends as abandoned and reaches the
/// capture; the future's span, owned by the future, finishes when the future is dropped.
#[test]
fn a_thread_exiting_with_a_pending_future_and_a_forgotten_guard() {
    let cap = Capture::new();
    let ctx = cap.context();
    let fut = std::thread::spawn(move || {
        let _g = ctx.attach();
        std::mem::forget(llmobs::workflow("forgotten").start());
        let mut fut = Box::pin(YieldOnce(false).in_span(llmobs::task("pending")));
        assert!(poll_once(&mut fut).is_pending());
        fut
    })
    .join()
    .unwrap();
    let spans = cap.spans();
    assert_eq!(names(&spans), ["forgotten"]);
    assert_eq!(spans[0].error.as_ref().unwrap().kind, "AbandonedSpan");
    drop(fut);
    let spans = cap.spans();
    assert_eq!(names(&spans), ["forgotten", "pending"]);
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    assert_eq!(spans[1].error.as_ref().unwrap().kind, "Cancelled");
}

#[llmobs_macros::llm(model_name = "m", model_provider = "P")]
fn chat() {}

/// An attribute's literal model reaches the span both as a compact slot (under a sync parent)
/// and as a full record (started straight under a context).
#[test]
fn an_attribute_model_reaches_slots_and_full_records() {
    let cap = Capture::new();
    {
        let _g = cap.context().attach();
        chat();
        let _root = llmobs::workflow("root").start();
        chat();
    }
    let spans = cap.spans();
    let chats: Vec<_> = spans.iter().filter(|s| s.name == "chat").collect();
    assert_eq!(chats.len(), 2);
    for c in chats {
        assert_eq!((c.model_name(), c.model_provider()), (Some("m"), Some("p")));
    }
}
