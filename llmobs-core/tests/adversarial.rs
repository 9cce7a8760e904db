//! Safe programs that try to break the span stack: user code that panics or misbehaves at
//! every point where the SDK calls it, guards that are forgotten or outlive their scope,
//! futures dropped mid-poll. Run under Miri, AddressSanitizer and ThreadSanitizer by `.ci/run`.

extern crate llmobs_core as llmobs;

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use llmobs::testing::Capture;
use llmobs::SpanEvent;

/// An error whose `Display` fails, so `to_string()` on it panics.
#[derive(Debug)]
struct BadDisplay;
impl fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}
impl std::error::Error for BadDisplay {}

#[llmobs_macros::task]
async fn fails_badly() -> Result<u32, BadDisplay> {
    Err(BadDisplay)
}

#[llmobs_macros::task]
async fn small_step(i: u32) -> u32 {
    i
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn error_of(s: &SpanEvent) -> &llmobs::SpanError {
    s.error.as_deref().expect("the span records an error")
}

/// The span records an error of type `kind` (the end of its type name) that says it could not
/// be read.
fn assert_unreadable(s: &SpanEvent, kind: &str) {
    let e = error_of(s);
    assert!(e.kind.ends_with(kind), "{}", e.kind);
    assert!(
        e.message.starts_with("could not read the error"),
        "{}",
        e.message
    );
}

#[test]
fn an_error_whose_display_fails_is_returned_and_recorded() {
    let cap = Capture::new();
    let out = block_on(cap.context().in_scope(fails_badly));
    assert!(
        matches!(out, Err(BadDisplay)),
        "the application gets its own error back"
    );
    let spans = cap.spans();
    assert_eq!(spans.len(), 1);
    assert_unreadable(&spans[0], "BadDisplay");
}

/// The reproducer of the use-after-free: a task whose error cannot be displayed, on a runtime
/// with one worker, then a few hundred more instrumented tasks on that worker. Before the fix,
/// the first task's frame stayed on the worker's stack after tokio freed the task, and the next
/// spans read the freed future.
#[test]
fn tokio_worker_survives_an_error_whose_display_fails() {
    let cap = Capture::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let ctx = cap.context();
    let first = rt.block_on(async { tokio::spawn(ctx.in_scope(fails_badly)).await });
    let total: u32 = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..300 {
            // Half the tasks are made under the capture; the other half call an instrumented
            // fn on the worker itself, where a stale frame would be read as the parent.
            handles.push(if i % 2 == 0 {
                tokio::spawn(ctx.in_scope(|| small_step(i)))
            } else {
                tokio::spawn(async move { small_step(i).await })
            });
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    drop(rt);
    // Checked only now, so that the later tasks run on the worker whatever the first did.
    assert!(
        matches!(first, Ok(Err(BadDisplay))),
        "the task returns its own error"
    );
    assert_eq!(total, (0..300).sum::<u32>());
    let spans = cap.spans();
    assert_eq!(spans.len(), 151, "every captured task's span arrived");
    assert!(
        spans.iter().all(|s| s.parent_id.is_none()),
        "each task is a root"
    );
    assert_eq!(spans.iter().filter(|s| s.error.is_some()).count(), 1);
}

/// The same without a runtime: poll under `catch_unwind`, drop the future, start a span.
#[test]
fn a_panicking_outcome_reader_leaves_no_frame_behind() {
    let cap = Capture::new();
    let _g = cap.context().attach();
    {
        // The outcome reader is user code in the general case; here it panics outright.
        let fut = llmobs::__private::instrument(
            llmobs::task("reader_panics").pending(),
            async { 7u32 },
            |_: &u32, _| -> llmobs::__private::Outcome { panic!("outcome reader bug") },
        );
        let mut fut = Box::pin(fut);
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        }));
        drop(fut);
        // The next span must not find the freed future's frame.
        drop(llmobs::task("after").start());
        // The reader's panic is the SDK's to contain: the future completes with its value.
        assert!(matches!(polled, Ok(Poll::Ready(7))), "{polled:?}");
    }
    let spans = cap.spans();
    assert_eq!(spans.len(), 2);
    let first = spans.iter().find(|s| s.name == "reader_panics").unwrap();
    assert!(
        error_of(first).message.starts_with("could not read"),
        "{:?}",
        first.error
    );
    let after = spans.iter().find(|s| s.name == "after").unwrap();
    assert_eq!(after.parent_id, None);
}

/// A future whose inner poll panics: the frame goes with the unwinding, the span records it.
#[test]
fn a_panicking_inner_poll_leaves_no_frame_behind() {
    let cap = Capture::new();
    let _g = cap.context().attach();
    {
        let fut = llmobs::Instrument::in_span(
            async {
                let _child = llmobs::tool("child").start();
                panic!("inner bug")
            },
            llmobs::task("inner_panics"),
        );
        let mut fut = Box::pin(fut);
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        }));
        assert!(polled.is_err());
        drop(fut);
    }
    drop(llmobs::task("after").start());
    let spans = cap.spans();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let outer = spans.iter().find(|s| s.name == "inner_panics").unwrap();
    assert_eq!(error_of(outer).kind, "panic");
    let after = spans.iter().find(|s| s.name == "after").unwrap();
    assert_eq!(after.parent_id, None);
}

#[llmobs_macros::task]
fn sync_fails_badly() -> Result<u32, BadDisplay> {
    Err(BadDisplay)
}

#[test]
fn a_sync_function_returns_an_error_whose_display_fails() {
    let (out, spans) = llmobs::testing::capture_with_result(sync_fails_badly);
    assert!(matches!(out, Err(BadDisplay)));
    assert_eq!(spans.len(), 1);
    assert_unreadable(&spans[0], "BadDisplay");
}

/// An error with only `Debug`, and that `Debug` panics.
struct PanickyDebug;
impl fmt::Debug for PanickyDebug {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Debug bug")
    }
}

#[llmobs_macros::task]
fn debug_panics() -> Result<(), PanickyDebug> {
    Err(PanickyDebug)
}

#[llmobs_macros::task]
async fn debug_panics_async() -> Result<(), PanickyDebug> {
    Err(PanickyDebug)
}

#[test]
fn an_error_whose_debug_panics_is_returned_and_recorded() {
    let (out, spans) = llmobs::testing::capture_with_result(debug_panics);
    assert!(out.is_err());
    assert_unreadable(&spans[0], "PanickyDebug");

    let (out, spans) = llmobs::testing::capture_with_result(|| block_on(debug_panics_async()));
    assert!(out.is_err());
    assert_unreadable(&spans[0], "PanickyDebug");
}

/// An error whose `source()` panics.
#[derive(Debug)]
struct PanickySource;
impl fmt::Display for PanickySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("top-level failure")
    }
}
impl std::error::Error for PanickySource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        panic!("source bug")
    }
}

#[llmobs_macros::task]
async fn source_panics() -> Result<(), PanickySource> {
    Err(PanickySource)
}

#[test]
fn an_error_whose_source_panics_is_returned_and_recorded() {
    let (out, spans) = llmobs::testing::capture_with_result(|| block_on(source_panics()));
    assert!(out.is_err());
    assert_unreadable(&spans[0], "PanickySource");
}

fn abandoned(s: &SpanEvent) -> bool {
    s.error.as_ref().is_some_and(|e| e.kind == "AbandonedSpan")
}

/// A guard forgotten on a thread's top level keeps its span open, but a capture (or any
/// attached context) on that thread starts afresh: its spans are roots and leave as soon as
/// they finish.
#[test]
fn a_capture_after_a_forgotten_guard_sees_its_spans() {
    std::thread::spawn(|| {
        let outer = Capture::new();
        {
            let _g = outer.context().attach();
            std::mem::forget(llmobs::workflow("forgotten").start());
        }
        for round in 0..3 {
            let spans = llmobs::testing::capture(|| {
                let _root = llmobs::workflow("fresh").start();
                drop(llmobs::task("child").start());
            });
            assert_eq!(spans.len(), 2, "round {round}: {spans:#?}");
            assert_eq!(
                spans[0].parent_id, None,
                "a new trace, not a child of the forgotten span"
            );
            assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
        }
        // An empty context on top of the forgotten span starts new traces too.
        let cap = Capture::new();
        let _g = cap.context().attach();
        let before = cap.spans().len();
        drop(llmobs::workflow("under_capture").start());
        assert_eq!(
            cap.spans().len(),
            before + 1,
            "handed over when it finished"
        );
        assert!(
            outer.spans().is_empty(),
            "the forgotten span never finished"
        );
    })
    .join()
    .unwrap();
}

/// A sync guard forgotten inside a poll is closed when the poll ends: the thread is clean for
/// the next task, and the span is reported as abandoned.
#[test]
fn a_guard_forgotten_in_a_poll_is_closed_with_the_poll() {
    let cap = Capture::new();
    let _g = cap.context().attach();
    block_on(llmobs::Instrument::in_span(
        async {
            std::mem::forget(llmobs::tool("forgotten").start());
            std::mem::forget(llmobs::Context::default().attach());
        },
        llmobs::task("poll"),
    ));
    assert!(
        !llmobs::Context::current().is_empty(),
        "the capture is still current"
    );
    drop(llmobs::task("next").start());
    let spans = cap.spans();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let poll = spans.iter().find(|s| s.name == "poll").unwrap();
    let forgotten = spans.iter().find(|s| s.name == "forgotten").unwrap();
    let next = spans.iter().find(|s| s.name == "next").unwrap();
    assert!(poll.error.is_none());
    assert!(abandoned(forgotten), "{:?}", forgotten.error);
    assert_eq!(forgotten.parent_id, Some(poll.span_id));
    assert_eq!(
        next.parent_id, None,
        "the next span is not a child of the forgotten one"
    );
}

/// The same through `in_current_span` (a context, not a span, around the poll).
#[test]
fn a_guard_forgotten_under_in_current_span_is_closed_with_the_poll() {
    let cap = Capture::new();
    let _g = cap.context().attach();
    block_on(llmobs::Instrument::in_current_span(async {
        std::mem::forget(llmobs::tool("forgotten").start());
    }));
    drop(llmobs::task("next").start());
    let spans = cap.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert!(abandoned(&spans[0]));
    assert_eq!(spans[1].parent_id, None);
}

/// A sync guard returned out of a future outlives the poll that started it: the span ends with
/// the poll, and dropping the guard later does nothing.
#[test]
fn a_guard_returned_from_a_future_ends_with_the_poll() {
    let cap = Capture::new();
    let _g = cap.context().attach();
    let guard = block_on(llmobs::Instrument::in_span(
        async { llmobs::tool("escaped").start() },
        llmobs::task("poll"),
    ));
    assert_eq!(cap.spans().len(), 2);
    drop(llmobs::task("next").start());
    drop(guard);
    let spans = cap.spans();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    assert!(abandoned(
        spans.iter().find(|s| s.name == "escaped").unwrap()
    ));
    assert_eq!(
        spans.iter().find(|s| s.name == "next").unwrap().parent_id,
        None
    );
}

/// Guards dropped out of order are not forgotten guards: nothing is abandoned.
#[test]
fn guards_dropped_out_of_order_are_not_abandoned() {
    struct Handler {
        _ctx: llmobs::ContextGuard,
        _span: llmobs::Span,
    }
    let cap = Capture::new();
    let _g = cap.context().attach();
    let root = llmobs::workflow("root").start();
    let ctx = llmobs::Context::current();
    drop(root);
    let h = Handler {
        _ctx: ctx.attach(),
        _span: llmobs::task("handler").start(),
    };
    drop(h); // the context guard drops first
    let spans = cap.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert!(spans.iter().all(|s| s.error.is_none()), "{spans:#?}");
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
}

/// A thread that exits with a span open (its guard forgotten) still sends what finished, and
/// the open span as abandoned.
#[test]
fn a_thread_exiting_with_a_forgotten_guard_sends_its_spans() {
    let cap = Capture::new();
    let ctx = cap.context();
    std::thread::spawn(move || {
        let _g = ctx.attach();
        let root = llmobs::workflow("root").start();
        drop(llmobs::task("done").start());
        std::mem::forget(root);
    })
    .join()
    .unwrap();
    let spans = cap.spans();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert!(abandoned(&spans[0]), "{:?}", spans[0].error);
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    assert!(spans[1].error.is_none());
}

/// An annotation context forgotten inside a poll is removed with the poll (the instrumented
/// future's frame closes what was pushed above it), and one forgotten outside any poll stays on
/// its thread without changing parents: the frames' count of scopes stays in step either way.
#[test]
fn forgotten_annotation_contexts_never_corrupt_the_stack() {
    let cap = Capture::new();
    let _g = cap.context().attach();
    block_on(llmobs::Instrument::in_span(
        async {
            std::mem::forget(llmobs::annotation_context().tag("leak", 1).enter());
            drop(llmobs::task("inside").start());
        },
        llmobs::task("poll"),
    ));
    drop(llmobs::task("after_poll").start());
    std::thread::spawn({
        let ctx = cap.context();
        move || {
            let _g = ctx.attach();
            std::mem::forget(llmobs::annotation_context().tag("thread", 1).enter());
            let _root = llmobs::workflow("root").start();
            // A scoped future polled to completion and one dropped mid-way.
            block_on(
                llmobs::annotation_context()
                    .tag("fut", 1)
                    .scope(small_step(1)),
            );
            let mut pending =
                Box::pin(llmobs::annotation_context().tag("dropped", 1).scope(async {
                    std::future::pending::<()>().await;
                }));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(pending.as_mut().poll(&mut cx).is_pending());
            drop(pending);
            drop(llmobs::task("child").start());
        }
    })
    .join()
    .unwrap();
    let spans = cap.spans();
    let named = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    assert_eq!(named("inside").tag("leak"), Some("1"));
    assert_eq!(named("after_poll").tag("leak"), None);
    assert_eq!(named("after_poll").parent_id, None);
    let (root, step, child) = (named("root"), named("small_step"), named("child"));
    assert_eq!(
        (step.tag("fut"), step.tag("thread")),
        (Some("1"), Some("1"))
    );
    assert_eq!((child.tag("fut"), child.tag("dropped")), (None, None));
    assert_eq!(child.parent_id, Some(root.span_id));
}
