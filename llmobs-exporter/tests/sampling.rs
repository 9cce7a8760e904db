//! Sampling rules against what the reference sent (`fixtures/k_sampling_rules__*.json`, ddtrace
//! 4.16.0 with `DD_LLMOBS_SAMPLE_RATE=0.5` and six rules): the same traces (names, ids, root
//! tags, sessions, ml_apps), encoded by the Datadog destination and posted to the loopback
//! intake, carry the same `_dd.sample_rate` and `_dd.sampling_decision` on every span.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::Intake;
use llmobs_core::{SpanEvent, SpanId, SpanKind, TraceId};
use llmobs_exporter::{Config, Exporter, Mode, SamplingRule};
use serde_json::Value;

/// The rules of the capture, as its environment gave them.
const RULES: &str = r#"[{"tags":{"route":"drop-*"},"sample_rate":0},{"tags":{"route":"keep"},"sample_rate":1},{"tags":{"ml_app":"other-*"},"sample_rate":0},{"tags":{"session_id":"s-drop"},"sample_rate":0},{"tags":{"route":"quarter"},"sample_rate":0.25},{"tags":{"route":"clamp"},"sample_rate":5}]"#;

fn fixture() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/k_sampling_rules__agent_evp_proxy.json"
    );
    let requests: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    requests[0]["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["spans"][0].clone())
        .collect()
}

fn kind(s: &str) -> SpanKind {
    match s {
        "llm" => SpanKind::Llm,
        "workflow" => SpanKind::Workflow,
        _ => SpanKind::Task,
    }
}

/// The reference's event as one of our spans: ids, kind, name, session, ml_app and the tags
/// the application set (not the ones every span gets).
fn span_of(e: &Value) -> SpanEvent {
    let trace = TraceId(u128::from_str_radix(e["trace_id"].as_str().unwrap(), 16).unwrap());
    let id = SpanId(e["span_id"].as_str().unwrap().parse().unwrap());
    let mut s = SpanEvent::new(
        kind(e["meta"]["span"]["kind"].as_str().unwrap()),
        e["name"].as_str().unwrap().to_owned(),
        trace,
        id,
    );
    s.apm_trace_id =
        TraceId(u128::from_str_radix(e["_dd"]["apm_trace_id"].as_str().unwrap(), 16).unwrap());
    s.parent_id = e["parent_id"].as_str().unwrap().parse().ok().map(SpanId);
    s.session_id = e["session_id"].as_str().map(|v| v.to_owned().into());
    for tag in e["tags"].as_array().unwrap() {
        let (k, v) = tag.as_str().unwrap().split_once(':').unwrap();
        match k {
            "ml_app" => s.ml_app = Some(v.to_owned().into()),
            "route" => {
                s.annotations_mut().tags.insert(k.into(), v.into());
            }
            _ => {}
        }
    }
    s
}

#[test]
fn rules_decide_each_trace_as_the_reference_did() {
    let events = fixture();
    let intake = Intake::start();
    let exporter = Exporter::start(
        SamplingRule::parse_list(RULES)
            .unwrap()
            .into_iter()
            .fold(Config::default(), Config::sampling_rule)
            .sample_rate(0.5)
            .mode(Mode::Agent)
            .agent_url(intake.url())
            .ml_app("parity-app")
            .service("parity-svc")
            .env("test")
            .version("1.0.0")
            .interval(Duration::from_secs(3600)),
    )
    .unwrap();
    // One batch per trace, as a trace leaves the application: its spans together.
    let mut traces: Vec<(String, Vec<SpanEvent>)> = Vec::new();
    for e in &events {
        let trace = e["_dd"]["apm_trace_id"].as_str().unwrap().to_owned();
        match traces.iter_mut().find(|(t, _)| *t == trace) {
            Some((_, spans)) => spans.push(span_of(e)),
            None => traces.push((trace, vec![span_of(e)])),
        }
    }
    // The reference froze this trace's decision when it injected headers, before its root got
    // the tag a rule matches; llmobs decides from the root's tags when the trace is sent.
    traces.retain(|(_, spans)| spans[0].name.as_str() != "r_frozen_by_inject");
    let sent: usize = traces.iter().map(|(_, s)| s.len()).sum();
    for (_, spans) in traces {
        exporter.send_spans(spans);
    }
    assert!(!exporter.flush(Duration::from_secs(10)).timed_out);
    let ours: HashMap<String, Value> = intake
        .span_events()
        .into_iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s))
        .collect();
    assert_eq!(ours.len(), sent);
    let mut dropped = 0;
    for theirs in events
        .iter()
        .filter(|e| !e["name"].as_str().unwrap().starts_with("r_frozen"))
    {
        let name = theirs["name"].as_str().unwrap();
        let ours = &ours[name];
        for key in ["sample_rate", "sampling_decision"] {
            assert_eq!(ours["_dd"][key], theirs["_dd"][key], "{name}: {key}");
        }
        dropped += usize::from(theirs["_dd"]["sampling_decision"] == "0");
    }
    // Sampled-out traces are still sent, marked, as the reference sends them.
    assert!(dropped >= 9, "{dropped} dropped spans in the capture");
    exporter.shutdown(Duration::from_secs(2));
}
