//! Annotation contexts: the reference's scenario (nested contexts, renaming, prompts, async
//! tasks, threads, an agent manifest and cost tags) written with our attributes and inline
//! spans, captured, encoded and compared field by field with what ddtrace 4.16 sent for the same
//! program; then what the reference cannot show: a multi-thread runtime, spawned tasks, the
//! `tracing` bridge, guards dropped out of order, and nothing recorded when off.

// The scoped futures hand back the join handle of a task that outlives them, on purpose.
#![allow(clippy::async_yields_async)]

use std::collections::HashMap;
use std::time::Duration;

use llmobs::testing::Capture;
use llmobs::{AgentManifest, Instrument, Message, Prompt, SpanEvent, ToolDefinition};
use llmobs_exporter::{Config, Encoder};
use serde_json::{json, Value};

#[llmobs::task]
fn deco_task(x: u32) -> u32 {
    x
}

#[llmobs::task(name = "deco_task_explicit_name")]
fn deco_task_named(x: u32) -> u32 {
    x
}

#[llmobs::llm(model_name = "gpt-x", model_provider = "openai")]
fn deco_llm(q: &str) -> &'static str {
    llmobs::annotate()
        .input_messages([Message::user(q)])
        .output_messages([Message::assistant("a")])
        .apply()
        .unwrap();
    "a"
}

#[llmobs::task]
async fn async_child(label: &str) -> String {
    tokio::time::sleep(Duration::from_millis(10)).await;
    label.to_owned()
}

async fn late_child(ready: tokio::sync::oneshot::Receiver<()>) -> String {
    let _ = ready.await;
    async_child("t6_late").await
}

#[llmobs::agent]
fn deco_agent() -> &'static str {
    {
        let _llm = llmobs::llm("t8_llm_in_agent")
            .model_name("gpt-4o")
            .model_provider("openai")
            .start();
        llmobs::annotate()
            .input(&"q")
            .output(&"a")
            .metric("input_tokens", 1)
            .metric("output_tokens", 2)
            .apply()
            .unwrap();
    }
    deco_task(8);
    "ok"
}

fn p_outer() -> Prompt {
    Prompt::template("Hello {{name}}, {{question}}")
        .id("outer-prompt")
        .version("1.0")
        .variable("name", "ann")
        .variable("question", "why?")
        .tag("pt", "outer")
}

fn p_inner() -> Prompt {
    Prompt::default()
        .id("inner-prompt")
        .version("2.0")
        .variable("persona", "bot")
        .context_variables(["ctx"])
        .query_variables(["q"])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime")
}

/// The reference's `s1_annotation_context.py`, statement for statement.
fn scenario(cap: &Capture) {
    // t1: nested contexts entered before the root exists.
    {
        let _outer = llmobs::annotation_context()
            .tag("a", "1")
            .tag("b", "1")
            .prompt(p_outer())
            .enter();
        {
            let _wf = llmobs::workflow("t1_root_inline_wf").start();
            deco_llm("t1 q");
            {
                let _inner = llmobs::annotation_context()
                    .tag("b", "2")
                    .name("renamed")
                    .enter();
                deco_task(1);
                deco_task_named(2);
                {
                    let _s = llmobs::llm("t1_inline_llm_inner")
                        .model_name("gpt-y")
                        .start();
                    llmobs::annotate()
                        .input(&"hi")
                        .output(&"yo")
                        .apply()
                        .unwrap();
                }
                {
                    let _s = llmobs::task("t1_inline_task_annotate_after").start();
                    llmobs::annotate()
                        .tag("b", "3")
                        .tag("c", "x")
                        .apply()
                        .unwrap();
                }
            }
            deco_task(3);
        }
        // t2: a second root inside the outer context.
        drop(llmobs::workflow("t2_second_root_inside_outer").start());
    }
    // t3: after every context ended.
    {
        let _wf = llmobs::workflow("t3_after_exit").start();
        deco_task(4);
    }
    // t4: contexts entered inside a running span.
    {
        let _wf = llmobs::workflow("t4_root_started_before_ctx").start();
        {
            let _c = llmobs::annotation_context()
                .tag("late", "yes")
                .name("t4_renamed")
                .enter();
            deco_task(5);
        }
        deco_task(6);
        {
            let _c = llmobs::annotation_context()
                .tag("second_ctx", "yes")
                .enter();
            deco_task(7);
        }
    }
    // t5: prompts merged across contexts, then a prompt annotated on the span.
    {
        let _outer = llmobs::annotation_context()
            .prompt(p_outer())
            .tag("p", "outer")
            .enter();
        let _inner = llmobs::annotation_context()
            .prompt(p_inner())
            .tag("p", "inner")
            .enter();
        let _wf = llmobs::workflow("t5_root").start();
        {
            let _l = llmobs::llm("t5_llm_ctx_prompts")
                .model_name("gpt-z")
                .start();
            llmobs::annotate().input(&"x").output(&"y").apply().unwrap();
        }
        {
            let _l = llmobs::llm("t5_llm_ctx_plus_annotate_prompt")
                .model_name("gpt-z")
                .start();
            llmobs::annotate()
                .prompt(
                    Prompt::template("span {{q}}")
                        .id("span-prompt")
                        .variable("q", "1"),
                )
                .input(&"x")
                .output(&"y")
                .apply()
                .unwrap();
        }
    }
    // t6: tasks created inside a context, one of them starting its span after it ended.
    runtime().block_on(
        async {
            let (ready, wait) = tokio::sync::oneshot::channel();
            async move {
                let late = llmobs::annotation_context()
                    .tag("async", "1")
                    .name("t6_async_renamed")
                    .scope(async {
                        let in_task = tokio::spawn(async_child("t6_in_task"));
                        let late = tokio::spawn(late_child(wait).in_current_span());
                        in_task.await.unwrap();
                        async_child("t6_gather").await;
                        late
                    })
                    .await;
                ready.send(()).unwrap();
                late.await.unwrap();
            }
            .in_span(llmobs::workflow("t6_async_root"))
            .await;
            // Entered with no span: the task's span is a root of its own, annotated.
            llmobs::annotation_context()
                .tag("async_noroot", "1")
                .scope(async {
                    tokio::spawn(async_child("t6b_task_no_root")).await.unwrap();
                })
                .await;
        }
        .with_context(cap.context()),
    );
    // t7: a thread started inside a context does not get it (the test capture is attached in
    // the thread so that its span is recorded at all).
    {
        let _c = llmobs::annotation_context()
            .tag("thread", "1")
            .name("t7_renamed")
            .enter();
        let _wf = llmobs::workflow("t7_root").start();
        let capture = cap.context();
        std::thread::spawn(move || {
            let _g = capture.attach();
            drop(llmobs::workflow("t7_thread_wf").start());
        })
        .join()
        .unwrap();
    }
    // t8: an agent manifest and cost tags.
    {
        let _c = llmobs::annotation_context()
            .tag("team", "ai")
            .cost_tags(["team", "missing_key"])
            .agent(
                AgentManifest::new()
                    .version("3.1")
                    .name("planner")
                    .instructions("Be brief")
                    .model("gpt-4o")
                    .model_setting("temperature", 0.2)
                    .model_setting("extra_headers", json!({"x": "secret"}))
                    .tool(
                        ToolDefinition::new("search")
                            .description("web search")
                            .schema(json!({"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})),
                    )
                    .tool(ToolDefinition::new("").description("unnamed tool is dropped")),
            )
            .enter();
        let _wf = llmobs::workflow("t8_root").start();
        deco_agent();
    }
    // t9: a root started inside a context that ends before the root's llm child starts.
    {
        let c = llmobs::annotation_context()
            .prompt(p_outer())
            .tag("t9", "ctx")
            .enter();
        let root = llmobs::workflow("t9_root_started_in_ctx").start_detached();
        drop(c);
        root.in_scope(|| {
            let _l = llmobs::llm("t9_llm_started_after_exit")
                .model_name("gpt-x")
                .start();
            llmobs::annotate().input(&"x").output(&"y").apply().unwrap();
        });
        root.finish();
    }
}

fn reference_events() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/llmobs-exporter/tests/fixtures/h_annotation_context__agent_evp_proxy.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture");
    let v: Value = serde_json::from_str(&text).expect("fixture is JSON");
    v.as_array()
        .expect("requests")
        .iter()
        .flat_map(|r| r["body"].as_array().expect("wrappers").clone())
        .map(|w| w["spans"][0].clone())
        .collect()
}

/// Traces in order of their roots' names, each as its spans in start order, with ids replaced
/// by positions and the tracer's own version and language removed.
fn by_trace(events: Vec<Value>) -> Vec<(String, Vec<Value>)> {
    let mut traces: HashMap<String, Vec<Value>> = HashMap::new();
    for e in events {
        let t = e["trace_id"].as_str().expect("trace_id").to_owned();
        traces.entry(t).or_default().push(e);
    }
    let mut out: Vec<(String, Vec<Value>)> = traces
        .into_values()
        .map(|mut spans| {
            spans.sort_by_key(|e| e["start_ns"].as_u64().expect("start_ns"));
            let ids: Vec<String> = spans
                .iter()
                .map(|e| e["span_id"].as_str().expect("span_id").to_owned())
                .collect();
            let root = spans[0]["name"].as_str().expect("name").to_owned();
            let spans = spans
                .into_iter()
                .map(|mut e| {
                    let parent = e["parent_id"].as_str().unwrap_or_default().to_owned();
                    e["parent_id"] = match ids.iter().position(|i| *i == parent) {
                        Some(p) => json!(p),
                        None => json!(parent),
                    };
                    if let Some(pagent) = e["meta"].get_mut("agent_attribution") {
                        let id = pagent["pagent_span_id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned();
                        pagent["pagent_span_id"] = json!(ids.iter().position(|i| *i == id));
                    }
                    let o = e.as_object_mut().expect("event");
                    for k in ["_dd", "span_id", "trace_id", "start_ns", "duration"] {
                        o.remove(k);
                    }
                    if let Some(tags) = e["tags"].as_array_mut() {
                        tags.retain(|t| {
                            let t = t.as_str().unwrap_or_default();
                            !t.starts_with("ddtrace.version:") && !t.starts_with("language:")
                        });
                    }
                    e
                })
                .collect();
            (root, spans)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn the_reference_scenario_matches_field_by_field() {
    let cap = Capture::new();
    {
        let _g = cap.context().attach();
        scenario(&cap);
    }
    let spans: Vec<SpanEvent> = cap.spans();
    let enc = Encoder::new(
        &Config::default()
            .ml_app("parity-app")
            .env("test")
            .service("parity-svc")
            .version("1.0.0"),
    );
    let ours: Vec<Value> = spans
        .iter()
        .map(|s| serde_json::from_slice(&enc.encode_span(s).json).expect("JSON"))
        .collect();
    let ours = by_trace(ours);
    let reference = by_trace(reference_events());
    let roots = |t: &[(String, Vec<Value>)]| t.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>();
    assert_eq!(roots(&ours), roots(&reference));
    for ((root, ours), (_, expected)) in ours.iter().zip(&reference) {
        assert_eq!(ours.len(), expected.len(), "trace {root}");
        for (i, (got, want)) in ours.iter().zip(expected).enumerate() {
            let mut want = want.clone();
            if want["name"] == "t9_llm_started_after_exit" {
                // The reference gives an llm span that has no prompt of its own the prompt of its
                // nearest ancestor; this SDK applies a context's prompt only to the spans started
                // while it is active (docs/annotating.md).
                assert!(want["meta"]["input"]["prompt"].is_object());
                want["meta"]["input"]
                    .as_object_mut()
                    .expect("input")
                    .remove("prompt");
            }
            assert_eq!(got, &want, "trace {root}, span {i}");
        }
    }
}

fn named<'a>(spans: &'a [SpanEvent], name: &str) -> &'a SpanEvent {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
}

async fn hop(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

#[test]
fn tasks_spawned_on_a_multi_thread_runtime_get_the_context_while_it_is_active() {
    let cap = Capture::new();
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    runtime().block_on(
        async move {
            let late = llmobs::annotation_context()
                .tag("request", "r-1")
                .scope(
                    async move {
                        let mut handles = Vec::new();
                        for i in 0..8 {
                            handles.push(tokio::spawn(
                                async move {
                                    hop(20).await;
                                    drop(llmobs::task(format!("task-{i}")).start());
                                    async_child("attribute").await;
                                }
                                .in_current_span(),
                            ));
                        }
                        for h in handles {
                            h.await.unwrap();
                        }
                        // Carries the context, but starts its span after the context ended.
                        tokio::spawn(
                            async move {
                                let _ = wait.await;
                                drop(llmobs::task("after").start());
                            }
                            .in_current_span(),
                        )
                    }
                    .in_span(llmobs::workflow("root")),
                )
                .await;
            go.send(()).unwrap();
            late.await.unwrap();
        }
        .with_context(cap.context()),
    );
    let spans = cap.spans();
    let root = named(&spans, "root");
    assert_eq!(root.tag("request"), Some("r-1"));
    let tasks: Vec<&SpanEvent> = spans
        .iter()
        .filter(|s| s.name.starts_with("task-") || s.name == "async_child")
        .collect();
    assert_eq!(tasks.len(), 16);
    for t in tasks {
        assert_eq!(t.tag("request"), Some("r-1"), "{}", t.name);
        assert_eq!(t.trace_id, root.trace_id);
    }
    let after = named(&spans, "after");
    assert_eq!(after.trace_id, root.trace_id);
    assert_eq!(after.tag("request"), None);
}

#[test]
fn a_context_carried_to_a_thread_applies_there_until_it_ends() {
    let (before_end, after_end) = (
        std::sync::Arc::new(std::sync::Barrier::new(2)),
        std::sync::Arc::new(std::sync::Barrier::new(2)),
    );
    let spans = llmobs::testing::capture(|| {
        let guard = llmobs::annotation_context().tag("k", "v").enter();
        let ctx = llmobs::Context::current();
        let (b1, b2) = (before_end.clone(), after_end.clone());
        let worker = std::thread::spawn(move || {
            let _g = ctx.attach();
            drop(llmobs::task("while_active").start());
            b1.wait();
            b2.wait();
            drop(llmobs::task("after_end").start());
        });
        before_end.wait();
        drop(guard);
        after_end.wait();
        worker.join().unwrap();
    });
    assert_eq!(named(&spans, "while_active").tag("k"), Some("v"));
    assert_eq!(named(&spans, "after_end").tag("k"), None);
}

#[test]
fn guards_dropped_out_of_order_leave_the_others_applying() {
    let spans = llmobs::testing::capture(|| {
        let outer = llmobs::annotation_context().tag("a", 1).enter();
        let inner = llmobs::annotation_context()
            .tag("b", 2)
            .name("inner")
            .enter();
        drop(outer);
        drop(llmobs::task("x").start());
        drop(inner);
        drop(llmobs::task("y").start());
    });
    assert_eq!(
        (spans[0].name.as_str(), spans[0].tag("a"), spans[0].tag("b")),
        ("inner", None, Some("2"))
    );
    assert_eq!(
        (spans[1].name.as_str(), spans[1].tag("a"), spans[1].tag("b")),
        ("y", None, None)
    );
}

#[test]
fn deeply_nested_contexts_all_apply_outermost_first() {
    // More contexts than are kept without allocating: every one applies, to sync, detached
    // and async spans, the innermost name and session winning.
    let spans = llmobs::testing::capture(|| {
        let guards: Vec<_> = (0..12)
            .map(|i| {
                let c = llmobs::annotation_context()
                    .tag(format!("level{i}"), i)
                    .tag("depth", i)
                    .name(format!("named_at_{i}"));
                let c = if i == 3 || i == 10 {
                    c.tag("session_id", format!("s{i}"))
                } else {
                    c
                };
                // Among the outermost ones too, an inner value replaces an outer one.
                let c = if i < 4 { c.tag("early", i) } else { c };
                c.enter()
            })
            .collect();
        drop(llmobs::task("sync").start());
        let detached = llmobs::task("detached").start_detached();
        drop(detached);
        futures_lite_block_on(async {}.in_span(llmobs::task("async")));
        drop(guards);
    });
    assert_eq!(spans.len(), 3, "{spans:#?}");
    for s in &spans {
        for i in 0..12 {
            assert_eq!(
                s.tag(&format!("level{i}")),
                Some(i.to_string().as_str()),
                "{s:#?}"
            );
        }
        assert_eq!((s.tag("depth"), s.tag("early")), (Some("11"), Some("3")));
        assert_eq!(s.name, "named_at_11");
        assert_eq!(s.session_id.as_deref(), Some("s10"));
    }
}

#[test]
fn a_context_is_transparent_to_the_current_span_and_to_parenting() {
    let spans = llmobs::testing::capture(|| {
        let _wf = llmobs::workflow("wf").start();
        let _c = llmobs::annotation_context()
            .tag("k", "v")
            .session_id_tag()
            .enter();
        // `annotate()` still reaches the span started before the context.
        llmobs::annotate().tag("own", 1).apply().unwrap();
        let _t = llmobs::task("t").start();
        let _inner = llmobs::annotation_context().tag("deep", 1).enter();
        drop(llmobs::task("leaf").start());
    });
    let (wf, t, leaf) = (
        named(&spans, "wf"),
        named(&spans, "t"),
        named(&spans, "leaf"),
    );
    assert_eq!((wf.tag("own"), wf.tag("k")), (Some("1"), None));
    assert_eq!(t.parent_id, Some(wf.span_id));
    assert_eq!(leaf.parent_id, Some(t.span_id));
    assert_eq!((t.tag("k"), t.tag("deep")), (Some("v"), None));
    assert_eq!((leaf.tag("k"), leaf.tag("deep")), (Some("v"), Some("1")));
    // `session_id` among a context's tags sets the session, as an annotation's does.
    assert_eq!(t.session_id.as_deref(), Some("s-9"));
    assert_eq!(leaf.session_id.as_deref(), Some("s-9"));
    assert_eq!(wf.session_id, None);
}

trait SessionTag {
    fn session_id_tag(self) -> Self;
}

impl SessionTag for llmobs::AnnotationContext {
    fn session_id_tag(self) -> Self {
        self.tag("session_id", "s-9")
    }
}

#[test]
fn invalid_parts_are_reported_and_the_rest_applies() {
    let bad_link = llmobs::ExportedSpan {
        span_id: "12".into(),
        trace_id: "not-hex".into(),
    };
    let spans = llmobs::testing::capture(|| {
        let g = llmobs::annotation_context()
            .prompt(Prompt {
                chat_template: Some(vec![Message::user("hi")]),
                ..Prompt::template("hi")
            })
            .link(&bad_link)
            .tag("kept", "yes")
            .enter();
        let err = g.error().expect("an error");
        assert!(
            err.to_string()
                .contains("both `template` and `chat_template`"),
            "{err}"
        );
        let _l = llmobs::llm("chat").start();
    });
    let a = spans[0].annotations();
    assert_eq!(spans[0].tag("kept"), Some("yes"));
    assert!(a.prompt.is_none() && a.span_links.is_empty());
}

#[test]
fn with_nothing_recorded_a_context_changes_nothing() {
    // LLM Observability is off in this process and no capture is in scope.
    let g = llmobs::annotation_context().tag("k", "v").name("x").enter();
    let s = llmobs::task("t").start();
    assert!(!s.is_recording());
    drop((s, g));
    let out = futures_lite_block_on(
        llmobs::annotation_context()
            .tag("k", "v")
            .scope(async { 7 }),
    );
    assert_eq!(out, 7);
    // Spans recorded afterwards under a capture are untouched by it.
    let spans = llmobs::testing::capture(|| drop(llmobs::task("later").start()));
    assert_eq!(spans[0].tag("k"), None);
}

fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn an_agent_manifest_applies_to_agent_spans_only_and_annotate_can_set_one() {
    let spans = llmobs::testing::capture(|| {
        let _c = llmobs::annotation_context()
            .agent(AgentManifest::new().version("2").name("ctx-agent"))
            .enter();
        let _a = llmobs::agent("planner").start();
        drop(llmobs::task("step").start());
        llmobs::annotate()
            .agent(AgentManifest::new().model("gpt-4o").instructions("Plan."))
            .apply()
            .unwrap();
    });
    let (planner, step) = (named(&spans, "planner"), named(&spans, "step"));
    assert_eq!(step.tag("agent_version"), None);
    assert!(step.annotations().agent_manifest.is_none());
    assert_eq!(planner.tag("agent_version"), Some("2"));
    let m = planner.annotations().agent_manifest.as_ref().unwrap();
    // The annotation updates the context's manifest field by field.
    assert_eq!(
        (
            m.name.as_deref(),
            m.model.as_deref(),
            m.instructions.as_deref()
        ),
        (Some("ctx-agent"), Some("gpt-4o"), Some("Plan."))
    );
}
