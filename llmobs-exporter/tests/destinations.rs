//! Destinations added beside the Datadog one: each is one small type implementing
//! `Destination`, and gets exactly what the Datadog destination gets.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{span, Intake};
use llmobs_core::{SpanEvent, SpanIo, SpanKind};
use llmobs_exporter::{
    Config, Destination, Exporter, Framing, Keep, Mode, Payload, PayloadKind, Payloads, Redaction,
    Sent,
};
use serde_json::json;

const FLUSH: Duration = Duration::from_secs(20);

/// A span's name and input text.
type Seen = (String, Option<String>);

/// Writes each span's name (and its input text, to see what redaction left) to a list.
#[derive(Clone, Default)]
struct Names(Arc<Mutex<Vec<Seen>>>);

impl Destination for Names {
    fn name(&self) -> String {
        "the span name list".into()
    }
    fn take_spans(&mut self, spans: &[SpanEvent], _out: &mut Payloads<'_>) {
        let mut names = self.0.lock().unwrap();
        names.extend(spans.iter().map(|s| (s.name.to_string(), s.input_text())));
    }
}

fn config(intake: &Intake) -> Config {
    Config::default()
        .ml_app("test-app")
        .agent_url(intake.url())
        .mode(Mode::Agent)
        .interval(Duration::from_secs(3600))
        .initial_backoff(Duration::from_millis(10))
}

fn traces() -> Vec<Vec<SpanEvent>> {
    (0..3)
        .map(|t| {
            let mut root = span(SpanKind::Workflow, &format!("request-{t}"));
            root.annotations_mut().input = Some(SpanIo::Value(json!(format!(
                "mail me at user{t}@example.com"
            ))));
            let mut child = span(SpanKind::Task, "healthcheck");
            child.trace_id = root.trace_id;
            child.parent_id = Some(root.span_id);
            child.start_ns = root.start_ns + 1;
            vec![root, child]
        })
        .collect()
}

#[test]
fn an_added_destination_gets_what_the_datadog_destination_sends() {
    let intake = Intake::start();
    let names = Names::default();
    let exporter = Exporter::start(
        config(&intake)
            .processor(|s| Keep::from(s.name.as_str() != "healthcheck"))
            .redact(Redaction::builtin())
            .destination(names.clone()),
    )
    .expect("start");
    for trace in traces() {
        exporter.send_spans(trace);
    }
    let report = exporter.flush(FLUSH);
    assert!(!report.timed_out, "{report:?}");
    let sent: Vec<Seen> = intake
        .span_events()
        .iter()
        .map(|e| {
            let input = e["meta"]["input"]["value"].as_str().map(str::to_owned);
            (e["name"].as_str().unwrap_or("").to_owned(), input)
        })
        .collect();
    let got = names.0.lock().unwrap().clone();
    assert_eq!(
        sent.len(),
        3,
        "the processor dropped the health checks: {sent:?}"
    );
    assert_eq!(got, sent);
    for (_, input) in &got {
        let input = input.as_deref().unwrap_or("");
        assert!(
            !input.contains("@example.com"),
            "redacted before any destination: {input}"
        );
    }
    assert_eq!(exporter.stats().spans_dropped.processor_dropped, 3);
}

/// Joins span names into one body per tick, and fails its first two sends: the pipeline's
/// shared retry delivers it, and a flush waits for it.
#[derive(Clone, Default)]
struct Flaky {
    bodies: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<u32>>,
}

impl Destination for Flaky {
    fn name(&self) -> String {
        "a flaky collector".into()
    }
    fn framing(&self, _kind: PayloadKind) -> Framing {
        Framing {
            prefix: b"[".to_vec(),
            separator: b",".to_vec(),
            suffix: b"]".to_vec(),
            ..Framing::default()
        }
    }
    fn take_spans(&mut self, spans: &[SpanEvent], out: &mut Payloads<'_>) {
        for s in spans {
            out.add(PayloadKind::Spans, |body| {
                body.extend_from_slice(s.name.as_bytes());
            });
        }
    }
    fn send(&mut self, payload: &Payload) -> Sent {
        let mut failures = self.failures.lock().unwrap();
        if *failures < 2 {
            *failures += 1;
            return Sent::Failed {
                reason: "not yet".into(),
                retry_after: None,
            };
        }
        let body = String::from_utf8_lossy(&payload.body).into_owned();
        self.bodies.lock().unwrap().push(body);
        Sent::Delivered
    }
}

#[test]
fn a_destination_with_payloads_gets_the_shared_framing_and_retries() {
    let intake = Intake::start();
    let flaky = Flaky::default();
    let exporter = Exporter::start(config(&intake).destination(flaky.clone())).expect("start");
    for trace in traces() {
        exporter.send_spans(trace);
    }
    let report = exporter.flush(FLUSH);
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(
        *flaky.bodies.lock().unwrap(),
        ["[request-0,healthcheck,request-1,healthcheck,request-2,healthcheck]"]
    );
    assert_eq!(*flaky.failures.lock().unwrap(), 2);
    assert_eq!(intake.span_events().len(), 6);
}

/// Panics on everything it is given.
#[derive(Clone)]
struct Broken;

impl Destination for Broken {
    fn name(&self) -> String {
        "a broken destination".into()
    }
    fn take_spans(&mut self, _spans: &[SpanEvent], _out: &mut Payloads<'_>) {
        panic!("broken destination");
    }
}

#[test]
fn a_panicking_destination_does_not_hold_back_the_others() {
    let intake = Intake::start();
    let exporter = Exporter::start(config(&intake).destination(Broken)).expect("start");
    for trace in traces() {
        exporter.send_spans(trace);
    }
    let report = exporter.flush(FLUSH);
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.delivered, 6);
    assert_eq!(intake.span_events().len(), 6);
}
