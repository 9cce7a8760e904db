//! Span identity, parenting, inheritance, guards and panics, over `llmobs::testing::capture`.

use llmobs::testing::{capture, Capture};
use llmobs::{Context, SpanKind};

#[test]
fn ids_are_built_as_the_reference_builds_them() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("root").start();
        let _t = llmobs::task("child").start();
    });
    assert_eq!(spans.len(), 2);
    let root = &spans[0];
    let child = &spans[1];
    let hex = root.trace_id.to_string();
    assert_eq!(hex.len(), 32);
    assert!(hex
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        ((root.trace_id.0 >> 96) as u64).abs_diff(secs) <= 5,
        "upper 32 bits: unix seconds"
    );
    assert_eq!((root.trace_id.0 >> 64) as u32, 0, "next 32 bits: zero");
    assert_eq!(child.trace_id, root.trace_id);
    assert_ne!(child.span_id, root.span_id);
    assert_eq!(root.parent_id, None);
    assert_eq!(child.parent_id, Some(root.span_id));
}

#[test]
fn start_is_epoch_ns_and_child_lies_within_parent() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let spans = capture(|| {
        let _wf = llmobs::workflow("root").start();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let _t = llmobs::task("child").start();
        std::thread::sleep(std::time::Duration::from_millis(2));
    });
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let (root, child) = (&spans[0], &spans[1]);
    assert!(
        root.start_ns >= before - 1_000_000 && root.start_ns <= after,
        "start in ns since the epoch"
    );
    assert!(
        root.duration_ns >= 4_000_000,
        "root spans both sleeps: {}",
        root.duration_ns
    );
    assert!(child.start_ns >= root.start_ns);
    assert!(child.start_ns + child.duration_ns <= root.start_ns + root.duration_ns);
}

#[test]
fn parent_is_the_nearest_enclosing_span() {
    let spans = capture(|| {
        let _a = llmobs::agent("a").start();
        {
            let _t = llmobs::tool("t1").start();
            let _l = llmobs::llm("l").model_name("m").start();
        }
        let _t2 = llmobs::tool("t2").start();
    });
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(by("t1").parent_id, Some(by("a").span_id));
    assert_eq!(by("l").parent_id, Some(by("t1").span_id));
    assert_eq!(by("t2").parent_id, Some(by("a").span_id));
    assert_eq!(
        by("l").agent.as_ref().map(|a| a.span_id),
        Some(by("a").span_id),
        "agent attribution"
    );
    assert_eq!(by("l").kind, SpanKind::Llm);
    assert_eq!(by("l").model_name(), Some("m"));
    assert_eq!(
        by("l").model_provider(),
        Some("unknown"),
        "provider defaults to unknown, as the reference sends it"
    );
}

#[test]
fn ml_app_and_session_are_inherited_unless_overridden() {
    let spans = capture(|| {
        let _root = llmobs::workflow("root")
            .ml_app("support-bot")
            .session_id("s-1")
            .start();
        {
            let _c = llmobs::task("child").start();
            let _g = llmobs::task("grandchild").start();
        }
        let _o = llmobs::task("override")
            .ml_app("other-app")
            .session_id(String::from("s-2"))
            .start();
        let _u = llmobs::task("under-override").start();
    });
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    for n in ["root", "child", "grandchild"] {
        assert_eq!(by(n).ml_app.as_deref(), Some("support-bot"), "{n}");
        assert_eq!(by(n).session_id.as_deref(), Some("s-1"), "{n}");
    }
    assert_eq!(by("override").ml_app.as_deref(), Some("other-app"));
    assert_eq!(by("override").session_id.as_deref(), Some("s-2"));
    assert_eq!(by("under-override").ml_app.as_deref(), Some("other-app"));
}

#[test]
fn model_provider_is_lower_cased() {
    let spans = capture(|| {
        let _l = llmobs::llm("chat")
            .model_name("claude")
            .model_provider("Anthropic")
            .start();
    });
    assert_eq!(spans[0].model_provider(), Some("anthropic"));
}

#[test]
fn guards_dropped_out_of_order_do_not_corrupt_later_parents() {
    let spans = capture(|| {
        let root = llmobs::workflow("root").start();
        let a = llmobs::task("a").start();
        let b = llmobs::task("b").start();
        drop(a); // out of order: `b` is still open above `a`
        let c = llmobs::task("c").start();
        drop(c);
        drop(b);
        let d = llmobs::task("d").start();
        drop(d);
        drop(root);
        let e = llmobs::task("e").start();
        drop(e);
    });
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(by("b").parent_id, Some(by("a").span_id));
    assert_eq!(
        by("c").parent_id,
        Some(by("b").span_id),
        "c started while b was current"
    );
    assert_eq!(
        by("d").parent_id,
        Some(by("root").span_id),
        "after a and b finished, root is current"
    );
    assert_eq!(
        by("e").parent_id,
        None,
        "after root finished, a new trace starts"
    );
    assert_ne!(by("e").trace_id, by("root").trace_id);
}

#[test]
fn a_panic_marks_the_span_and_still_unwinds_with_the_stack_intact() {
    let cap = Capture::new();
    let g = cap.context().attach();
    let outer = llmobs::workflow("outer").start();
    let result = std::panic::catch_unwind(|| {
        let _s = llmobs::task("exploding").start();
        panic!("boom: bad input xyz");
    });
    assert!(result.is_err(), "the panic still unwinds");
    let after = llmobs::task("after").start();
    drop(after);
    drop(outer);
    drop(g);
    let spans = cap.spans();
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    let err = by("exploding").error.expect("span recorded as error");
    assert_eq!(err.kind, "panic");
    assert_eq!(err.message, "boom: bad input xyz");
    assert!(
        err.stack
            .as_deref()
            .unwrap_or("")
            .contains("span_semantics.rs"),
        "location or backtrace"
    );
    assert_eq!(by("exploding").status(), "error");
    assert_eq!(
        by("after").parent_id,
        Some(by("outer").span_id),
        "stack intact after the panic"
    );
    assert!(by("outer").error.is_none());
}

#[test]
fn detached_spans_cross_threads_and_parent_work_entered_in_scope() {
    let spans = capture(|| {
        let _root = llmobs::workflow("root").session_id("s-9").start();
        let bg = llmobs::task("background").start_detached();
        std::thread::spawn(move || {
            bg.in_scope(|| {
                let _inner = llmobs::tool("inner").start();
            });
            bg.finish();
        })
        .join()
        .unwrap();
    });
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(by("background").parent_id, Some(by("root").span_id));
    assert_eq!(by("inner").parent_id, Some(by("background").span_id));
    assert_eq!(by("inner").session_id.as_deref(), Some("s-9"));
    assert_eq!(by("inner").trace_id, by("root").trace_id);
}

#[test]
fn dropping_a_detached_span_finishes_it_and_a_leaked_one_is_never_sent() {
    let spans = capture(|| {
        let dropped = llmobs::task("dropped").start_detached();
        drop(dropped);
        let leaked = llmobs::task("leaked").start_detached();
        std::mem::forget(leaked);
    });
    assert_eq!(
        spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["dropped"]
    );
}

#[test]
fn context_attach_carries_the_parent_into_a_thread() {
    let spans = capture(|| {
        let _root = llmobs::workflow("root").ml_app("ctx-app").start();
        let ctx = Context::current();
        std::thread::spawn(move || {
            let _g = ctx.attach();
            let _child = llmobs::task("in-thread").start();
        })
        .join()
        .unwrap();
    });
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(by("in-thread").parent_id, Some(by("root").span_id));
    assert_eq!(by("in-thread").ml_app.as_deref(), Some("ctx-app"));
}

#[test]
fn a_thread_without_the_context_starts_its_own_trace() {
    let cap = Capture::new();
    let ctx = cap.context();
    let spans_seen_elsewhere = {
        let _g = ctx.attach();
        let _root = llmobs::workflow("root").start();
        std::thread::spawn(|| {
            // No context attached: not captured, and not a child of `root`.
            let s = llmobs::task("orphan").start();
            s.is_recording()
        })
        .join()
        .unwrap()
    };
    assert!(
        !spans_seen_elsewhere,
        "outside any capture and with the SDK disabled, nothing is recorded"
    );
    assert_eq!(cap.spans().len(), 1);
}

#[test]
fn nothing_is_recorded_outside_a_capture_when_disabled() {
    let s = llmobs::workflow("free").start();
    assert!(!s.is_recording());
}

#[test]
fn parallel_captures_do_not_see_each_other() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let name: String = format!("t{i}");
                capture(move || {
                    for _ in 0..50 {
                        let _s = llmobs::task(name.clone()).start();
                    }
                })
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let spans = h.join().unwrap();
        assert_eq!(spans.len(), 50);
        assert!(spans.iter().all(|s| s.name == format!("t{i}").as_str()));
    }
}

#[test]
fn a_long_running_root_hands_children_over_early_and_keeps_its_open_spans() {
    let spans = capture(|| {
        let root = llmobs::workflow("root").start();
        let a = llmobs::agent("a").start();
        llmobs::annotate().metric("early", 1).apply().unwrap();
        for i in 0..1_200 {
            let _c = llmobs::task(format!("c{i}")).start();
            if i % 100 == 0 {
                llmobs::annotate().metric("i", i).apply().unwrap();
            }
            let _leaf = llmobs::tool("leaf").start();
        }
        // Both open spans were moved when finished children were handed over; they must still
        // be found, annotated and finished.
        llmobs::annotate().tag("late", "yes").apply().unwrap();
        let after = llmobs::tool("after").start();
        drop(after);
        drop(a);
        drop(root);
    });
    assert_eq!(spans.len(), 2_403);
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    assert_eq!(by("a").tag("late"), Some("yes"));
    assert_eq!(by("a").metric("early"), Some(1.0));
    assert_eq!(by("c500").metric("i"), Some(500.0));
    assert_eq!(by("c501").metric("i"), None);
    let c700 = by("c700");
    let leaves_of_c700 = spans
        .iter()
        .filter(|s| s.name == "leaf" && s.parent_id == Some(c700.span_id))
        .count();
    assert_eq!(leaves_of_c700, 1);
    assert_eq!(by("after").parent_id, Some(by("a").span_id));
    assert_eq!(by("c1199").parent_id, Some(by("a").span_id));
    assert_eq!(by("a").parent_id, Some(by("root").span_id));
    assert!(spans.iter().all(|s| s.trace_id == by("root").trace_id));
}

#[test]
fn a_thread_that_exits_with_a_span_open_hands_over_its_annotated_finished_spans() {
    let spans = capture(|| {
        let ctx = Context::current();
        std::thread::spawn(move || {
            let _g = ctx.attach();
            let open = llmobs::workflow("never-finished").start();
            {
                let _done = llmobs::task("done").start();
                llmobs::annotate().output(&"kept").apply().unwrap();
            }
            std::mem::forget(open);
        })
        .join()
        .unwrap();
    });
    let done = spans.iter().find(|s| s.name == "done").unwrap();
    assert_eq!(done.output_text().as_deref(), Some("kept"));
    // A span left open when its thread exits ends there, as an error that says so.
    let open = spans.iter().find(|s| s.name == "never-finished").unwrap();
    assert_eq!(open.error.as_ref().unwrap().kind, "AbandonedSpan");
    assert_eq!(done.parent_id, Some(open.span_id));
}
