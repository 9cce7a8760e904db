//! Sessions, ml_app and user tags: what a root passes down and what a child may override.

use llmobs::testing::capture;

#[test]
fn a_roots_session_is_inherited_by_every_descendant() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").session_id("sess-1").start();
        let _agent = llmobs::agent("agent").start();
        let _tool = llmobs::tool("tool").start();
    });
    assert_eq!(spans.len(), 3);
    for s in &spans {
        assert_eq!(s.session_id.as_deref(), Some("sess-1"), "{}", s.name);
    }
}

#[test]
fn a_childs_session_applies_to_itself_and_below_only() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").session_id("sess-root").start();
        {
            let _child = llmobs::task("child").session_id("sess-child").start();
            let _grandchild = llmobs::task("grandchild").start();
        }
        let _sibling = llmobs::task("sibling").start();
    });
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    assert_eq!(by_name("wf").session_id.as_deref(), Some("sess-root"));
    assert_eq!(by_name("child").session_id.as_deref(), Some("sess-child"));
    assert_eq!(
        by_name("grandchild").session_id.as_deref(),
        Some("sess-child")
    );
    assert_eq!(by_name("sibling").session_id.as_deref(), Some("sess-root"));
}

#[test]
fn a_new_trace_starts_without_a_session() {
    let spans = capture(|| {
        drop(llmobs::workflow("first").session_id("s").start());
        drop(llmobs::workflow("second").start());
    });
    assert_eq!(spans[1].session_id, None);
    assert_ne!(spans[0].trace_id, spans[1].trace_id);
}

#[test]
fn ml_app_is_inherited_and_overridable() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").ml_app("override-app").start();
        {
            let _child = llmobs::task("child").ml_app("child-app").start();
            let _grandchild = llmobs::task("grandchild").start();
        }
        let _sibling = llmobs::task("sibling").start();
    });
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    assert_eq!(by_name("wf").ml_app.as_deref(), Some("override-app"));
    assert_eq!(by_name("child").ml_app.as_deref(), Some("child-app"));
    assert_eq!(by_name("grandchild").ml_app.as_deref(), Some("child-app"));
    assert_eq!(by_name("sibling").ml_app.as_deref(), Some("override-app"));
}

#[test]
fn ml_app_is_not_normalised() {
    let name = format!("My App/With Spaces ÄÖ:colon,comma {}", "x".repeat(300));
    let spans = capture(|| drop(llmobs::workflow("wf").ml_app(&name).start()));
    assert_eq!(spans[0].ml_app.as_deref(), Some(name.as_str()));
}

#[test]
fn annotating_a_session_reaches_children_started_afterwards() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").start();
        drop(llmobs::task("before").start());
        llmobs::annotate().session_id("sess-late").apply().unwrap();
        drop(llmobs::task("after").start());
    });
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    assert_eq!(by_name("wf").session_id.as_deref(), Some("sess-late"));
    assert_eq!(by_name("before").session_id, None);
    assert_eq!(by_name("after").session_id.as_deref(), Some("sess-late"));
}

#[test]
fn a_session_id_tag_sets_the_session() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").start();
        llmobs::annotate().tag("session_id", "s-9").apply().unwrap();
    });
    assert_eq!(spans[0].session_id.as_deref(), Some("s-9"));
    assert_eq!(
        spans[0].tag("session_id"),
        None,
        "sent from the session, once"
    );
}

#[test]
fn user_helpers_tag_the_span() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").start();
        llmobs::annotate()
            .user_id("u-1")
            .user_handle("ada@example.com")
            .user_name("Ada")
            .apply()
            .unwrap();
    });
    assert_eq!(spans[0].tag("user_id"), Some("u-1"));
    assert_eq!(spans[0].tag("user_handle"), Some("ada@example.com"));
    assert_eq!(spans[0].tag("user_name"), Some("Ada"));
}

#[test]
fn sessions_cross_threads_with_the_context() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").session_id("sess-t").start();
        let ctx = llmobs::Context::current();
        std::thread::spawn(move || {
            let _g = ctx.attach();
            drop(llmobs::task("in-thread").start());
        })
        .join()
        .unwrap();
    });
    let t = spans.iter().find(|s| s.name == "in-thread").unwrap();
    assert_eq!(t.session_id.as_deref(), Some("sess-t"));
}
