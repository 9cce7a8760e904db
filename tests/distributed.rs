//! Distributed tracing headers: the formats the Python SDK writes and reads, round trips
//! between threads standing in for services, and malformed input as error values.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

use llmobs::testing::{capture, Capture};
use llmobs::{PropagationError, SpanId, SpanKind, TraceId};
use proptest::prelude::*;

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What the Python SDK sent from an `agent` span under a workflow with a session.
const PY_TRACE_ID: &str = "16328246908969189812";
const PY_PARENT_ID: &str = "17674040498822370026";
const PY_TAGS: &str = "_dd.p.llmobs_sid=sess-dist,_dd.p.dm=-0,_dd.p.llmobs_parent_id=17674040498822370026,_dd.p.llmobs_trace_id=142239170359270705861105798300834418688,_dd.p.llmobs_ml_app=furnish-hub,_dd.p.llmobs_sr=1,_dd.p.llmobs_sd=1,_dd.p.llmobs_pagent_span_id=17674040498822370026,_dd.p.llmobs_pagent_name=parent-agent,_dd.p.tid=6b02448b00000000";
const PY_TRACEPARENT: &str = "00-6b02448b00000000e299960d8dfa81b4-f546ce314e2cd2ea-01";
const PY_TRACESTATE: &str = "dd=p:f546ce314e2cd2ea;s:1;t.dm:-0;t.llmobs_sid:sess-dist;t.llmobs_parent_id:17674040498822370026;t.llmobs_trace_id:142239170359270705861105798300834418688;t.llmobs_ml_app:furnish-hub;t.llmobs_sr:1;t.llmobs_sd:1;t.llmobs_pagent_span_id:17674040498822370026,ot=rv:d04eb0fa8534b9;th:0";
const PY_LLMOBS_TRACE: u128 = 0x6b02448b000000007a4215f033075000;
const PY_APM_TRACE: u128 = 0x6b02448b00000000e299960d8dfa81b4;

fn child_of(headers: &HashMap<String, String>) -> llmobs::SpanEvent {
    let spans = capture(|| {
        let _remote = llmobs::activate_distributed_headers(headers).unwrap();
        let _t = llmobs::task("handler").start();
    });
    assert_eq!(spans.len(), 1);
    spans.into_iter().next().unwrap()
}

#[test]
fn python_datadog_headers_parse_to_the_right_ids() {
    let headers = map(&[
        ("x-datadog-trace-id", PY_TRACE_ID),
        ("x-datadog-parent-id", PY_PARENT_ID),
        ("x-datadog-sampling-priority", "1"),
        ("x-datadog-tags", PY_TAGS),
    ]);
    let s = child_of(&headers);
    assert_eq!(s.parent_id, Some(SpanId(17674040498822370026)));
    assert_eq!(s.trace_id, TraceId(PY_LLMOBS_TRACE));
    assert_eq!(s.apm_trace_id, TraceId(PY_APM_TRACE));
    assert_eq!(s.ml_app.as_deref(), Some("furnish-hub"));
    assert_eq!(s.session_id.as_deref(), Some("sess-dist"));
    let agent = s.agent.unwrap();
    assert_eq!(agent.span_id, SpanId(17674040498822370026));
    assert_eq!(agent.name.as_deref(), Some("parent-agent"));
}

#[test]
fn python_w3c_headers_parse_to_the_right_ids() {
    let headers = map(&[
        ("traceparent", PY_TRACEPARENT),
        ("tracestate", PY_TRACESTATE),
    ]);
    let s = child_of(&headers);
    assert_eq!(s.parent_id, Some(SpanId(17674040498822370026)));
    assert_eq!(s.trace_id, TraceId(PY_LLMOBS_TRACE));
    assert_eq!(s.apm_trace_id, TraceId(PY_APM_TRACE));
    assert_eq!(s.ml_app.as_deref(), Some("furnish-hub"));
    assert_eq!(s.session_id.as_deref(), Some("sess-dist"));
    let agent = s.agent.unwrap();
    assert_eq!(agent.span_id, SpanId(17674040498822370026));
    assert_eq!(
        agent.name, None,
        "the agent name does not fit in tracestate"
    );
}

#[test]
fn python_headers_in_both_styles_and_any_case() {
    let headers = map(&[
        ("X-Datadog-Trace-Id", PY_TRACE_ID),
        ("X-DATADOG-PARENT-ID", PY_PARENT_ID),
        ("X-Datadog-Tags", PY_TAGS),
        ("TraceParent", PY_TRACEPARENT),
        ("TraceState", PY_TRACESTATE),
    ]);
    let s = child_of(&headers);
    assert_eq!(s.parent_id, Some(SpanId(17674040498822370026)));
    assert_eq!(s.trace_id, TraceId(PY_LLMOBS_TRACE));
    assert_eq!(s.agent.unwrap().name.as_deref(), Some("parent-agent"));
}

#[test]
fn without_an_llmobs_parent_spans_are_roots_of_the_same_trace() {
    let s = child_of(&map(&[
        ("x-datadog-trace-id", "123"),
        ("x-datadog-parent-id", "456"),
    ]));
    assert_eq!(s.parent_id, None);
    assert_eq!(s.trace_id, TraceId(123));
    let s = child_of(&map(&[
        ("x-datadog-trace-id", "123"),
        ("x-datadog-parent-id", "456"),
        ("x-datadog-tags", "_dd.p.llmobs_parent_id=undefined"),
    ]));
    assert_eq!(s.parent_id, None);
}

#[test]
fn hex_llmobs_trace_ids_from_older_senders_are_read() {
    let s = child_of(&map(&[
        ("x-datadog-trace-id", "1"),
        ("x-datadog-parent-id", "2"),
        (
            "x-datadog-tags",
            "_dd.p.llmobs_parent_id=2,_dd.p.llmobs_trace_id=6b02448b000000007a4215f033075000",
        ),
    ]));
    assert_eq!(s.trace_id, TraceId(PY_LLMOBS_TRACE));
}

#[test]
fn inject_writes_both_styles_in_the_reference_format() {
    let (headers, spans) = {
        let cap = Capture::new();
        let headers = {
            let _g = cap.context().attach();
            let _wf = llmobs::workflow("wf")
                .session_id("sess-dist")
                .ml_app("furnish-hub")
                .start();
            let _agent = llmobs::agent("parent-agent").start();
            let mut h = HashMap::new();
            llmobs::inject_distributed_headers(&mut h).unwrap();
            h
        };
        (headers, cap.spans())
    };
    let agent = spans.iter().find(|s| s.kind == SpanKind::Agent).unwrap();
    let apm = agent.apm_trace_id;
    assert_eq!(headers["x-datadog-trace-id"], apm.low().to_string());
    assert_eq!(headers["x-datadog-parent-id"], agent.span_id.0.to_string());
    assert_eq!(headers["x-datadog-sampling-priority"], "1");
    let tags: HashMap<&str, &str> = headers["x-datadog-tags"]
        .split(',')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    assert_eq!(tags["_dd.p.llmobs_parent_id"], agent.span_id.0.to_string());
    assert_eq!(
        tags["_dd.p.llmobs_trace_id"],
        agent.trace_id.0.to_string(),
        "decimal"
    );
    assert_eq!(tags["_dd.p.llmobs_ml_app"], "furnish-hub");
    assert_eq!(tags["_dd.p.llmobs_sid"], "sess-dist");
    assert_eq!(tags["_dd.p.tid"], format!("{:016x}", apm.high()));
    assert_eq!(
        tags["_dd.p.llmobs_pagent_span_id"],
        agent.span_id.0.to_string()
    );
    assert_eq!(tags["_dd.p.llmobs_pagent_name"], "parent-agent");
    assert_eq!(
        headers["traceparent"],
        format!("00-{:032x}-{:016x}-01", apm.0, agent.span_id.0)
    );
    let state = &headers["tracestate"];
    assert!(
        state.starts_with(&format!("dd=p:{:016x};s:1;", agent.span_id.0)),
        "{state}"
    );
    assert!(state.contains(&format!("t.llmobs_trace_id:{}", agent.trace_id.0)));
    assert!(state.contains("t.llmobs_sid:sess-dist"));
    assert!(state.len() <= 256);
}

#[test]
fn round_trip_between_two_services() {
    let (tx, rx) = mpsc::channel::<HashMap<String, String>>();
    let (back_tx, back_rx) = mpsc::channel::<Vec<llmobs::SpanEvent>>();
    let downstream = std::thread::spawn(move || {
        let headers = rx.recv().unwrap();
        let spans = capture(|| {
            let _remote = llmobs::activate_distributed_headers(&headers).unwrap();
            let _wf = llmobs::workflow("downstream").start();
            let _llm = llmobs::llm("chat").start();
        });
        back_tx.send(spans).unwrap();
    });
    let upstream = capture(|| {
        let _wf = llmobs::workflow("upstream")
            .session_id("sess-rt")
            .ml_app("upstream-app")
            .start();
        let _agent = llmobs::agent("planner").start();
        let _tool = llmobs::tool("call_service").start();
        let mut headers = HashMap::new();
        llmobs::inject_distributed_headers(&mut headers).unwrap();
        tx.send(headers).unwrap();
    });
    downstream.join().unwrap();
    let remote = back_rx.recv().unwrap();
    let tool = upstream.iter().find(|s| s.name == "call_service").unwrap();
    let agent = upstream.iter().find(|s| s.name == "planner").unwrap();
    let wf = remote.iter().find(|s| s.name == "downstream").unwrap();
    let chat = remote.iter().find(|s| s.name == "chat").unwrap();
    assert_eq!(wf.trace_id, tool.trace_id);
    assert_eq!(wf.apm_trace_id, tool.apm_trace_id);
    assert_eq!(wf.parent_id, Some(tool.span_id));
    assert_eq!(wf.ml_app.as_deref(), Some("upstream-app"));
    assert_eq!(wf.session_id.as_deref(), Some("sess-rt"));
    assert_eq!(wf.agent.as_ref().unwrap().span_id, agent.span_id);
    assert_eq!(chat.parent_id, Some(wf.span_id));
    assert_eq!(chat.trace_id, tool.trace_id);
    assert_eq!(chat.session_id.as_deref(), Some("sess-rt"));
}

#[test]
fn the_remote_context_ends_with_its_guard() {
    let headers = map(&[("traceparent", PY_TRACEPARENT)]);
    let spans = capture(|| {
        {
            let remote = llmobs::activate_distributed_headers(&headers).unwrap();
            assert_eq!(remote.trace_id(), Some(TraceId(PY_APM_TRACE)));
            assert_eq!(remote.parent_id(), None, "no tracestate: no LLMObs parent");
            drop(llmobs::task("inside").start());
        }
        drop(llmobs::task("after").start());
    });
    assert_eq!(spans[0].trace_id, TraceId(PY_APM_TRACE));
    assert_ne!(spans[1].trace_id, TraceId(PY_APM_TRACE));
}

#[test]
fn an_extracted_context_carries_into_a_thread() {
    let headers = map(&[
        ("x-datadog-trace-id", "5"),
        ("x-datadog-parent-id", "6"),
        (
            "x-datadog-tags",
            "_dd.p.llmobs_parent_id=6,_dd.p.llmobs_sid=s",
        ),
    ]);
    let spans = capture(|| {
        let ctx = llmobs::extract_distributed_headers(&headers).unwrap();
        std::thread::spawn(move || {
            let _g = ctx.attach();
            drop(llmobs::task("worker").start());
        })
        .join()
        .unwrap();
    });
    assert_eq!(spans[0].parent_id, Some(SpanId(6)));
    assert_eq!(spans[0].session_id.as_deref(), Some("s"));
}

#[test]
fn a_remote_context_is_forwarded_without_a_local_span() {
    let headers = map(&[
        ("x-datadog-trace-id", PY_TRACE_ID),
        ("x-datadog-parent-id", PY_PARENT_ID),
        ("x-datadog-tags", PY_TAGS),
    ]);
    capture(|| {
        let _remote = llmobs::activate_distributed_headers(&headers).unwrap();
        let mut out = BTreeMap::new();
        llmobs::inject_distributed_headers(&mut out).unwrap();
        assert_eq!(out["x-datadog-trace-id"], PY_TRACE_ID);
        assert!(out["x-datadog-tags"].contains("_dd.p.llmobs_parent_id=17674040498822370026"));
        assert!(out["x-datadog-tags"]
            .contains("_dd.p.llmobs_trace_id=142239170359270705861105798300834418688"));
    });
}

#[test]
fn injecting_needs_a_span() {
    capture(|| {
        let mut h = HashMap::new();
        let err = llmobs::inject_distributed_headers(&mut h).unwrap_err();
        assert_eq!(err, PropagationError::NoActiveSpan);
        assert!(h.is_empty());
    });
    let mut h = HashMap::new();
    assert_eq!(
        llmobs::inject_distributed_headers(&mut h),
        Ok(()),
        "SDK off: a no-op"
    );
    assert!(h.is_empty());
}

#[test]
fn unsafe_values_stay_out_of_the_headers_they_would_break() {
    let long = "s".repeat(600);
    for session in ["a,b=c;d", "é-session", long.as_str()] {
        capture(|| {
            let _wf = llmobs::workflow("wf").session_id(session).start();
            let mut h = HashMap::new();
            llmobs::inject_distributed_headers(&mut h).unwrap();
            let tags = &h["x-datadog-tags"];
            assert!(tags.len() <= 512, "{}", tags.len());
            assert!(!tags.contains("llmobs_sid"), "{tags}");
            assert!(tags.contains("_dd.p.llmobs_parent_id="));
            assert!(h["tracestate"].len() <= 256);
            for v in h.values() {
                assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{v}");
            }
        });
    }
}

#[test]
fn equals_signs_survive_tracestate() {
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").session_id("a=b").start();
        let mut h = HashMap::new();
        llmobs::inject_distributed_headers(&mut h).unwrap();
        h.remove("x-datadog-trace-id");
        h.remove("x-datadog-parent-id");
        h.remove("x-datadog-tags");
        let _r = llmobs::activate_distributed_headers(&h).unwrap();
        drop(llmobs::task("child").start());
    });
    let child = spans.iter().find(|s| s.name == "child").unwrap();
    assert_eq!(child.session_id.as_deref(), Some("a=b"));
}

#[test]
fn malformed_headers_are_error_values() {
    let long = "1".repeat(10_000);
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("x-datadog-trace-id", "abc"), ("x-datadog-parent-id", "1")],
        vec![("x-datadog-trace-id", "1"), ("x-datadog-parent-id", "-1")],
        vec![("x-datadog-trace-id", "+1"), ("x-datadog-parent-id", "1")],
        vec![("x-datadog-trace-id", "0"), ("x-datadog-parent-id", "1")],
        vec![("x-datadog-trace-id", "1"), ("x-datadog-parent-id", "0")],
        vec![("x-datadog-trace-id", "1")],
        vec![("x-datadog-parent-id", "1")],
        vec![
            ("x-datadog-trace-id", "99999999999999999999999"),
            ("x-datadog-parent-id", "1"),
        ],
        vec![
            ("x-datadog-trace-id", long.as_str()),
            ("x-datadog-parent-id", "1"),
        ],
        vec![(
            "traceparent",
            "ff-6b02448b00000000e299960d8dfa81b4-f546ce314e2cd2ea-01",
        )],
        vec![(
            "traceparent",
            "00-6b02448b00000000e299960d8dfa81b4-f546ce314e2cd2ea-01-extra",
        )],
        vec![(
            "traceparent",
            "00-6b02448b00000000e299960d8dfa81b-f546ce314e2cd2ea-01",
        )],
        vec![(
            "traceparent",
            "00-6b02448b00000000e299960d8dfa81b4-f546ce314e2cd2e-01",
        )],
        vec![(
            "traceparent",
            "00-00000000000000000000000000000000-f546ce314e2cd2ea-01",
        )],
        vec![(
            "traceparent",
            "00-6b02448b00000000e299960d8dfa81b4-0000000000000000-01",
        )],
        vec![(
            "traceparent",
            "00-zz02448b00000000e299960d8dfa81b4-f546ce314e2cd2ea-01",
        )],
        vec![("traceparent", "not a traceparent")],
        vec![("tracestate", "dd=s:1")],
    ];
    for case in cases {
        let headers = map(&case);
        let err = llmobs::extract_distributed_headers(&headers).unwrap_err();
        assert!(
            matches!(
                err,
                PropagationError::MissingContext | PropagationError::InvalidHeader { .. }
            ),
            "{case:?}: {err:?}"
        );
        assert!(!err.to_string().is_empty());
        // Activating them is not an error: the request starts a new trace, and the guard says
        // why the headers were not used.
        let mut seen = None;
        let spans = capture(|| {
            let remote = llmobs::activate_distributed_headers(&headers).unwrap();
            seen = remote.error().cloned();
            assert_eq!(remote.parent_id(), None);
            let _root = llmobs::workflow("handler").start();
            drop(llmobs::task("step").start());
        });
        assert_eq!(seen, Some(err), "{case:?}");
        assert_eq!(spans.len(), 2, "{case:?}");
        assert_eq!(spans[0].parent_id, None, "a new trace: {case:?}");
        assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    }
}

/// The first service of a trace: an uninstrumented caller sends no trace headers at all.
#[test]
fn headers_without_context_start_a_new_trace_and_are_not_an_error() {
    let headers: HashMap<String, String> =
        map(&[("content-type", "application/json"), ("accept", "*/*")]);
    let spans = capture(|| {
        let remote = llmobs::activate_distributed_headers(&headers).expect("never an error");
        assert_eq!(remote.error(), Some(&PropagationError::MissingContext));
        assert_eq!(remote.trace_id(), None);
        let _wf = llmobs::workflow("first_service").start();
    });
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent_id, None);
    // Each request is its own trace.
    let again = capture(|| {
        let _remote = llmobs::activate_distributed_headers(&headers).unwrap();
        let _wf = llmobs::workflow("first_service").start();
    });
    assert_ne!(again[0].trace_id, spans[0].trace_id);
}

#[test]
fn a_valid_style_is_used_when_the_other_is_malformed() {
    let s = child_of(&map(&[
        ("x-datadog-trace-id", "garbage"),
        ("x-datadog-parent-id", "1"),
        ("traceparent", PY_TRACEPARENT),
        ("tracestate", PY_TRACESTATE),
    ]));
    assert_eq!(s.parent_id, Some(SpanId(17674040498822370026)));
}

#[cfg(feature = "http")]
#[test]
fn http_header_maps_are_carriers() {
    let mut out = http::HeaderMap::new();
    let spans = capture(|| {
        let _wf = llmobs::workflow("wf").session_id("s-http").start();
        llmobs::inject_distributed_headers(&mut out).unwrap();
    });
    assert!(out.contains_key("traceparent"));
    let child = capture(|| {
        let _r = llmobs::activate_distributed_headers(&out).unwrap();
        drop(llmobs::task("child").start());
    });
    assert_eq!(child[0].parent_id, Some(spans[0].span_id));
    assert_eq!(child[0].session_id.as_deref(), Some("s-http"));
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("x-datadog-trace-id".to_string()),
        Just("x-datadog-parent-id".to_string()),
        Just("X-Datadog-Tags".to_string()),
        Just("traceparent".to_string()),
        Just("tracestate".to_string()),
        ".{0,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[0-9]{0,25}",
        "[0-9a-fA-F-]{0,60}",
        "(_dd\\.p\\.llmobs_[a-z_]{0,12}=[ -~]{0,20},?){0,6}",
        "(dd=[a-z.:_0-9;~]{0,60},?){0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn activating_arbitrary_headers_never_panics(
        headers in proptest::collection::hash_map(header_name(), header_value(), 0..6)
    ) {
        capture(|| {
            if let Ok(_remote) = llmobs::activate_distributed_headers(&headers) {
                drop(llmobs::task("child").start());
            }
        });
    }

    #[test]
    fn any_ml_app_and_session_inject_valid_headers(ml_app in ".{0,300}", session in ".{0,300}") {
        let mut h = HashMap::new();
        capture(|| {
            let _wf = llmobs::workflow("wf").ml_app(&ml_app).session_id(&session).start();
            llmobs::inject_distributed_headers(&mut h).unwrap();
        });
        for v in h.values() {
            prop_assert!(v.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        }
        prop_assert!(h["x-datadog-tags"].len() <= 512);
        prop_assert!(h["tracestate"].len() <= 256);
    }

    #[test]
    fn header_safe_sessions_round_trip(session in "[!-+\\--~]{1,100}") {
        let mut h = HashMap::new();
        capture(|| {
            let _wf = llmobs::workflow("wf").session_id(&session).start();
            llmobs::inject_distributed_headers(&mut h).unwrap();
        });
        let child = capture(|| {
            let _r = llmobs::activate_distributed_headers(&h).unwrap();
            drop(llmobs::task("child").start());
        });
        prop_assert_eq!(child[0].session_id.as_deref(), Some(session.as_str()));
    }
}
