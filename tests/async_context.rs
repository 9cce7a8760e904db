//! Context propagation into futures and threads on a multi-thread tokio runtime.

use llmobs::testing::Capture;
use llmobs::{Context, Instrument};
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// Yields to the scheduler many times so the task has every chance to move between workers.
async fn hop(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

#[test]
fn in_current_span_keeps_spawned_tasks_in_the_callers_trace() {
    let cap = Capture::new();
    let rt = runtime();
    rt.block_on(
        async {
            let root = llmobs::workflow("root").session_id("s-async").start();
            let mut handles = Vec::new();
            for i in 0..8 {
                handles.push(tokio::spawn(
                    async move {
                        hop(20).await;
                        let t = llmobs::task(format!("task-{i}")).start();
                        drop(t);
                    }
                    .in_current_span(),
                ));
            }
            drop(root);
            for h in handles {
                h.await.unwrap();
            }
        }
        .with_context(cap.context()),
    );
    let spans = cap.spans();
    let root = spans.iter().find(|s| s.name == "root").unwrap();
    let tasks: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("task-"))
        .collect();
    assert_eq!(tasks.len(), 8);
    for t in tasks {
        assert_eq!(t.parent_id, Some(root.span_id));
        assert_eq!(t.trace_id, root.trace_id);
        assert_eq!(t.session_id.as_deref(), Some("s-async"));
    }
}

#[test]
fn a_spawned_task_without_the_context_is_not_in_the_trace() {
    let cap = Capture::new();
    let rt = runtime();
    let recorded_elsewhere = rt.block_on(
        async {
            let _root = llmobs::workflow("root").start();
            tokio::spawn(async { llmobs::task("detached-task").start().is_recording() })
                .await
                .unwrap()
        }
        .with_context(cap.context()),
    );
    assert!(
        !recorded_elsewhere,
        "context is carried explicitly, never guessed"
    );
    assert_eq!(cap.spans().len(), 1);
}

#[test]
fn context_attach_in_spawned_blocking_threads() {
    let cap = Capture::new();
    let rt = runtime();
    rt.block_on(
        async {
            let root = llmobs::agent("root").start();
            let ctx = Context::current();
            let h = tokio::task::spawn_blocking(move || {
                let _g = ctx.attach();
                let _t = llmobs::tool("blocking-tool").start();
            });
            drop(root);
            h.await.unwrap();
        }
        .with_context(cap.context()),
    );
    let spans = cap.spans();
    let root = spans.iter().find(|s| s.name == "root").unwrap();
    let tool = spans.iter().find(|s| s.name == "blocking-tool").unwrap();
    assert_eq!(tool.parent_id, Some(root.span_id));
    assert_eq!(tool.agent.as_ref().map(|a| a.span_id), Some(root.span_id));
}

#[test]
fn many_concurrent_traces_never_mix() {
    let cap = Capture::new();
    let rt = runtime();
    rt.block_on(
        async {
            let mut handles = Vec::new();
            for i in 0..32 {
                let ctx = Context::current();
                handles.push(tokio::spawn(
                    async move {
                        let root = llmobs::workflow(format!("root-{i}")).start();
                        let child_ctx = Context::current();
                        drop(root);
                        for j in 0..4 {
                            // The span takes its parent when the future is created.
                            let fut = {
                                let _g = child_ctx.attach();
                                async move {
                                    hop(5).await;
                                    tokio::time::sleep(Duration::from_millis(1)).await;
                                    hop(5).await;
                                }
                                .in_span(llmobs::task(format!("child-{i}-{j}")))
                            };
                            tokio::spawn(fut).await.unwrap();
                        }
                    }
                    .with_context(ctx),
                ));
            }
            for h in handles {
                h.await.unwrap();
            }
        }
        .with_context(cap.context()),
    );
    let spans = cap.spans();
    assert_eq!(spans.len(), 32 * 5);
    for i in 0..32 {
        let root = spans
            .iter()
            .find(|s| s.name == format!("root-{i}").as_str())
            .unwrap();
        for j in 0..4 {
            let c = spans
                .iter()
                .find(|s| s.name == format!("child-{i}-{j}").as_str())
                .unwrap();
            assert_eq!(c.parent_id, Some(root.span_id), "child-{i}-{j}");
            assert_eq!(c.trace_id, root.trace_id);
        }
    }
}

#[test]
fn in_span_times_from_first_poll_and_parents_children_across_workers() {
    let cap = Capture::new();
    let rt = runtime();
    rt.block_on(
        async {
            let fut = async {
                hop(50).await;
                // started during a later poll, possibly on another worker thread
                let _inner = llmobs::tool("inner").start();
            }
            .in_span(llmobs::agent("outer"));
            // A long gap between creation and first poll, so the bound below is far from noise.
            tokio::time::sleep(Duration::from_millis(300)).await;
            tokio::spawn(fut).await.unwrap();
        }
        .with_context(cap.context()),
    );
    let spans = cap.spans();
    let outer = spans.iter().find(|s| s.name == "outer").unwrap();
    let inner = spans.iter().find(|s| s.name == "inner").unwrap();
    assert_eq!(inner.parent_id, Some(outer.span_id));
    assert!(
        outer.duration_ns < 250_000_000,
        "timing starts at first poll, not at creation 300 ms earlier: {}",
        outer.duration_ns
    );
}

#[test]
fn a_future_dropped_before_completion_is_recorded_as_cancelled() {
    let cap = Capture::new();
    let rt = runtime();
    rt.block_on(
        async {
            let slow = tokio::time::sleep(Duration::from_secs(30)).in_span(llmobs::task("slow"));
            let r = tokio::time::timeout(Duration::from_millis(10), slow).await;
            assert!(r.is_err());
        }
        .with_context(cap.context()),
    );
    let spans = cap.spans();
    let err = spans[0].error.as_ref().expect("cancelled span is an error");
    assert_eq!(err.kind, "Cancelled");
}

#[llmobs::workflow]
async fn traced_handler() -> u32 {
    traced_step().await
}

#[llmobs::tool]
async fn traced_step() -> u32 {
    tokio::task::yield_now().await;
    7
}

#[test]
fn an_instrumented_future_created_in_scope_of_a_remote_context_is_its_child() {
    let cap = Capture::new();
    let (remote_trace, remote_span) = {
        let _g = cap.context().attach();
        let upstream = llmobs::agent("upstream").start();
        let ctx = Context::current();
        drop(upstream);
        // Created under the context (as an async handler would be), polled elsewhere later.
        let fut = ctx.in_scope(traced_handler);
        let rt = runtime();
        assert_eq!(rt.block_on(rt.spawn(fut)).unwrap(), 7);
        let spans = cap.spans();
        let up = spans.iter().find(|s| s.name == "upstream").unwrap().clone();
        (up.trace_id, up.span_id)
    };
    let spans = cap.spans();
    let handler = spans.iter().find(|s| s.name == "traced_handler").unwrap();
    let step = spans.iter().find(|s| s.name == "traced_step").unwrap();
    assert_eq!(handler.parent_id, Some(remote_span));
    assert_eq!(handler.trace_id, remote_trace);
    assert_eq!(step.parent_id, Some(handler.span_id));
}

#[llmobs::task]
async fn panics_after_a_yield() -> u32 {
    tokio::task::yield_now().await;
    let _child = llmobs::tool("child_before_panic").start();
    panic!("async boom")
}

#[test]
fn a_panic_inside_an_instrumented_async_fn_marks_its_span_and_keeps_the_stack_intact() {
    let cap = Capture::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let fut = cap.context().in_scope(|| {
        async {
            let r = tokio::spawn(cap.context().in_scope(panics_after_a_yield)).await;
            assert!(
                r.is_err(),
                "the panic still unwinds (tokio reports it as a JoinError)"
            );
            // The stack is intact on this thread: a new span is a child of the capture's root.
            let _after = llmobs::task("after").start();
        }
        .in_span(llmobs::workflow("root"))
    });
    rt.block_on(fut);
    let spans = cap.spans();
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    let err = by("panics_after_a_yield")
        .error
        .expect("panicked span is an error");
    assert_eq!(err.kind, "panic");
    assert_eq!(err.message, "async boom");
    assert_eq!(
        by("child_before_panic").parent_id,
        Some(by("panics_after_a_yield").span_id)
    );
    assert!(
        by("child_before_panic").error.is_some(),
        "the child unwound too"
    );
    assert_eq!(by("after").parent_id, Some(by("root").span_id));
}
