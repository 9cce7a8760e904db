//! Delivery over real HTTP to a loopback intake, one independent exporter per test.

mod common;

use std::time::Duration;

use common::{span, temp_file, Intake, Reply};
use llmobs_core::{
    EvalScope, EvaluationMetric, EvaluationValue, ExportedSpan, JoinOn, Sink, SpanIo, SpanKind,
};
use llmobs_exporter::{Config, Exporter, Keep, Mode};
use serde_json::json;

const FLUSH: Duration = Duration::from_secs(20);

/// Settings for tests: a long interval so only `flush` sends, short waits everywhere.
fn config(intake: &Intake) -> Config {
    Config::default()
        .ml_app("test-app")
        .env("test")
        .agent_url(intake.url())
        .interval(Duration::from_secs(3600))
        .request_timeout(Duration::from_secs(5))
        .initial_backoff(Duration::from_millis(10))
        .flush_timeout(Duration::from_secs(5))
}

fn eval(label: &str) -> EvaluationMetric {
    EvaluationMetric {
        label: label.into(),
        value: EvaluationValue::Score(10.into()),
        join_on: JoinOn::Span(ExportedSpan {
            span_id: "1".into(),
            trace_id: "6b02447200000000000000000000002a".into(),
        }),
        ml_app: "test-app".into(),
        timestamp_ms: 1_700_000_000_000,
        tags: vec!["ml_app:test-app".into()],
        eval_scope: EvalScope::Span,
        assessment: None,
        reasoning: None,
        metadata: None,
        submitter: None,
    }
}

#[test]
fn agent_mode_posts_to_the_evp_proxy() {
    let intake = Intake::start();
    let exporter = Exporter::start(
        config(&intake)
            .mode(Mode::Agent)
            .api_key("never-sent-to-agent"),
    )
    .expect("start");
    let mut s = span(SpanKind::Workflow, "handle");
    s.annotations_mut().input = Some(SpanIo::Value(json!("hi")));
    exporter.send_spans(vec![s]);
    let report = exporter.flush(FLUSH);
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.delivered, 1);
    assert_eq!(exporter.mode(), Some(Mode::Agent));

    let posts = intake.posts();
    assert_eq!(posts.len(), 1);
    let r = &posts[0];
    assert_eq!(r.path, "/evp_proxy/v2/api/v2/llmobs");
    assert_eq!(r.header("x-datadog-evp-subdomain"), Some("llmobs-intake"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("dd-api-key"), None);
    assert_eq!(r.header("content-encoding"), None);
    // Only the reference's headers: no client-added user-agent, accept or accept-encoding.
    assert_eq!(r.header("user-agent"), None);
    assert_eq!(r.header("accept-encoding"), None);
    assert_eq!(r.header("accept"), None);
    let body = r.json();
    let w = &body[0];
    assert_eq!(w["_dd.stage"], "raw");
    assert_eq!(w["_dd.tracer_version"], llmobs_exporter::TRACER_VERSION);
    assert_eq!(w["event_type"], "span");
    assert_eq!(w["spans"][0]["name"], "handle");
    assert_eq!(w["spans"][0]["meta"]["input"]["value"], "hi");
    let stats = exporter.stats();
    assert_eq!(
        (stats.spans_enqueued, stats.spans_delivered, stats.requests),
        (1, 1, 1)
    );
    assert_eq!(stats.bytes_sent, r.body.len() as u64);
}

#[test]
fn successive_requests_share_one_connection() {
    let intake = Intake::start();
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent)).expect("start");
    for i in 0..3 {
        exporter.send_spans(vec![span(SpanKind::Task, &format!("t{i}"))]);
        exporter.send_evaluation(eval(&format!("e{i}")));
        let report = exporter.flush(FLUSH);
        assert_eq!(report.delivered, 2, "{report:?}");
    }
    assert_eq!(intake.posts().len(), 6);
    // A new connection per request would cost a handshake each (TLS in agentless mode).
    assert_eq!(intake.connections(), 1);
}

#[test]
fn agentless_through_an_override_origin_sends_the_api_key() {
    let intake = Intake::start();
    let exporter = Exporter::start(
        config(&intake)
            .agentless(true)
            .api_key("test-key-123")
            .override_origin(intake.url()),
    )
    .expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    exporter.send_evaluation(eval("quality"));
    assert_eq!(exporter.flush(FLUSH).delivered, 2);
    assert_eq!(exporter.mode(), Some(Mode::Agentless));
    let mut paths: Vec<String> = intake.posts().iter().map(|r| r.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/api/intake/llm-obs/v2/eval-metric", "/api/v2/llmobs"]
    );
    for r in intake.posts() {
        assert_eq!(r.header("dd-api-key"), Some("test-key-123"));
        assert_eq!(r.header("x-datadog-evp-subdomain"), None);
    }
}

#[test]
fn evaluations_go_to_the_eval_metric_endpoint() {
    let intake = Intake::start();
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent)).expect("start");
    exporter.send_evaluation(eval("harmfulness"));
    exporter.send_evaluation(eval("sentiment"));
    let report = exporter.flush(FLUSH);
    assert_eq!(report.delivered, 2);
    let posts = intake.posts();
    assert_eq!(posts.len(), 1, "both metrics in one request");
    let r = &posts[0];
    assert_eq!(r.path, "/evp_proxy/v2/api/intake/llm-obs/v2/eval-metric");
    assert_eq!(r.header("x-datadog-evp-subdomain"), Some("api"));
    let body = r.json();
    assert_eq!(body["data"]["type"], "evaluation_metric");
    let metrics = body["data"]["attributes"]["metrics"]
        .as_array()
        .expect("metrics");
    assert_eq!(metrics.len(), 2);
    assert_eq!(metrics[0]["label"], "harmfulness");
    assert_eq!(metrics[0]["score_value"], 10);
    assert_eq!(metrics[0]["event_kind"], "evaluation");
    assert_eq!(exporter.stats().evals_delivered, 2);
}

#[test]
fn feedback_shares_the_eval_metric_request_with_evaluations() {
    let intake = Intake::start();
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent)).expect("start");
    exporter.send_evaluation(eval("quality"));
    let thumbs = llmobs_core::Feedback::boolean("thumbs", false)
        .submitter(llmobs_core::Submitter::new("user-1").kind("end_user"))
        .join_key("order-42")
        .ml_app("test-app")
        .into_metric()
        .expect("valid feedback");
    exporter.send_evaluation(thumbs);
    assert_eq!(exporter.flush(FLUSH).delivered, 2);
    let posts = intake.posts();
    assert_eq!(posts.len(), 1, "one request");
    assert_eq!(
        posts[0].path,
        "/evp_proxy/v2/api/intake/llm-obs/v2/eval-metric"
    );
    let metrics = posts[0].json()["data"]["attributes"]["metrics"].clone();
    assert_eq!(metrics[0]["event_kind"], "evaluation");
    let f = &metrics[1];
    assert_eq!(f["event_kind"], "feedback");
    assert_eq!(f["feedback_join_key"], "order-42");
    assert_eq!(f["boolean_value"], false);
    assert_eq!(
        f["submitter"],
        serde_json::json!({"id": "user-1", "type": "end_user"})
    );
    assert!(
        f.get("join_on").is_none() && f.get("eval_scope").is_none(),
        "{f}"
    );
}

#[test]
fn info_probe_chooses_agent_mode_when_the_evp_proxy_is_offered() {
    let intake = Intake::start();
    intake.set_info(Some(
        r#"{"version": "7.0", "endpoints": ["/v0.4/traces", "/evp_proxy/v2/"]}"#,
    ));
    let exporter = Exporter::start(config(&intake).api_key("k")).expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    assert_eq!(exporter.flush(FLUSH).delivered, 1);
    assert_eq!(exporter.mode(), Some(Mode::Agent));
    assert!(intake
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/info"));
    assert_eq!(intake.posts()[0].path, "/evp_proxy/v2/api/v2/llmobs");
}

#[test]
fn spans_produced_while_the_probe_runs_are_kept_and_sent_once_the_mode_is_known() {
    let intake = Intake::start();
    intake.set_info(Some(r#"{"endpoints": ["/evp_proxy/v2/"]}"#));
    intake.delay_info(Duration::from_millis(800));
    let exporter = Exporter::start(config(&intake)).expect("start");
    // The probe is still waiting for `/info`: the mode is not known yet.
    assert_eq!(exporter.mode(), None);
    for i in 0..5 {
        exporter.send_spans(vec![span(SpanKind::Task, &format!("early-{i}"))]);
    }
    let report = exporter.flush(FLUSH);
    assert_eq!(report.delivered, 5, "{report:?}");
    assert_eq!(exporter.mode(), Some(Mode::Agent));
    let names: Vec<_> = intake
        .span_events()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(intake
        .posts()
        .iter()
        .all(|r| r.path == "/evp_proxy/v2/api/v2/llmobs"));
}

#[test]
fn info_probe_without_evp_proxy_and_with_a_key_chooses_agentless() {
    let intake = Intake::start();
    intake.set_info(Some(r#"{"endpoints": ["/v0.4/traces"]}"#));
    let exporter =
        Exporter::start(config(&intake).api_key("k").override_origin(intake.url())).expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    assert_eq!(exporter.flush(FLUSH).delivered, 1);
    assert_eq!(exporter.mode(), Some(Mode::Agentless));
    assert_eq!(intake.posts()[0].path, "/api/v2/llmobs");
}

#[test]
fn no_agent_and_no_key_means_local_mode_with_the_exact_payloads_in_a_file() {
    let intake = Intake::start();
    let file = temp_file("local.jsonl");
    // Nothing configured: the Agent is looked for where it usually is (here, the intake, whose
    // `/info` offers no EVP proxy), and not found.
    let exporter = Exporter::start(
        config(&intake)
            .probe_agent_at(intake.url())
            .local_file(&file)
            .print_local_tree(false),
    )
    .expect("start");
    let root = span(SpanKind::Workflow, "root");
    let mut child = span(SpanKind::Llm, "chat");
    child.trace_id = root.trace_id;
    child.parent_id = Some(root.span_id);
    child
        .annotations_mut()
        .metrics
        .insert("input_tokens".into(), 4.into());
    exporter.send_spans(vec![root, child]);
    exporter.send_evaluation(eval("quality"));
    let report = exporter.flush(FLUSH);
    assert_eq!(report.delivered, 3, "{report:?}");
    assert_eq!(exporter.mode(), Some(Mode::Local));
    assert!(intake.posts().is_empty());

    let text = std::fs::read_to_string(&file).expect("local file written");
    let _ = std::fs::remove_file(&file);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON payload"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let spans = lines[0].as_array().expect("span payload");
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0]["spans"][0]["name"], "root");
    assert_eq!(spans[1]["spans"][0]["metrics"]["input_tokens"], 4);
    assert_eq!(lines[1]["data"]["type"], "evaluation_metric");
    // The same layout as a request body: Python separators, no raw non-ASCII.
    assert!(text.is_ascii() && text.contains(r#"{"_dd.stage": "raw", "#));
}

#[test]
fn payloads_are_split_at_the_configured_limit() {
    let intake = Intake::start();
    let limit = 3000;
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent).payload_size_bytes(limit))
        .expect("start");
    let spans: Vec<_> = (0..20)
        .map(|i| span(SpanKind::Task, &format!("t{i}")))
        .collect();
    exporter.send_spans(spans);
    assert_eq!(exporter.flush(FLUSH).delivered, 20);
    let posts = intake.posts();
    assert!(posts.len() > 1, "{} requests", posts.len());
    for p in &posts {
        assert!(p.body.len() <= limit, "{} bytes", p.body.len());
    }
    let names: Vec<String> = intake
        .span_events()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, (0..20).map(|i| format!("t{i}")).collect::<Vec<_>>());
}

#[test]
fn an_oversized_event_loses_its_input_and_output() {
    let intake = Intake::start();
    let exporter =
        Exporter::start(config(&intake).mode(Mode::Agent).event_size_bytes(4000)).expect("start");
    let mut s = span(SpanKind::Task, "big");
    s.annotations_mut().input = Some(SpanIo::Value(json!("x".repeat(10_000))));
    s.annotations_mut()
        .metadata
        .insert("kept".into(), json!(true));
    exporter.send_spans(vec![s, span(SpanKind::Task, "small")]);
    assert_eq!(exporter.flush(FLUSH).delivered, 2);
    let events = intake.span_events();
    assert_eq!(events[0]["collection_errors"], json!(["dropped_io"]));
    assert_eq!(
        events[0]["meta"]["input"]["value"],
        llmobs_exporter::DROPPED_VALUE_TEXT
    );
    assert_eq!(events[0]["meta"]["metadata"]["kept"], true);
    assert!(events[1].get("collection_errors").is_none());
    assert_eq!(exporter.stats().spans_truncated, 1);
}

#[test]
fn server_errors_are_retried_until_delivered() {
    let intake = Intake::start();
    intake.script([Reply::Status(500), Reply::Status(500), Reply::Status(200)]);
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent)).expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    let report = exporter.flush(FLUSH);
    assert_eq!((report.delivered, report.dropped), (1, 0));
    assert_eq!(intake.posts().len(), 3);
    let stats = exporter.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.spans_delivered),
        (3, 2, 1)
    );
}

#[test]
fn request_timeout_408_is_retried_like_a_server_error() {
    let intake = Intake::start();
    intake.script([Reply::Status(408), Reply::Status(503), Reply::Status(200)]);
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent)).expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    let report = exporter.flush(FLUSH);
    assert_eq!((report.delivered, report.dropped), (1, 0));
    assert_eq!(intake.posts().len(), 3);
    assert_eq!(exporter.stats().retries, 2);
}

#[test]
fn a_client_error_is_not_retried() {
    let intake = Intake::start();
    intake.script([Reply::Status(400)]);
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent)).expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t"), span(SpanKind::Task, "u")]);
    let report = exporter.flush(FLUSH);
    assert_eq!(
        (report.delivered, report.dropped, report.timed_out),
        (0, 2, false)
    );
    assert_eq!(intake.posts().len(), 1);
    assert_eq!(exporter.stats().spans_dropped.payload_rejected, 2);
}

#[test]
fn too_many_requests_honours_retry_after() {
    let intake = Intake::start();
    intake.script([Reply::RetryAfter(429, "0")]);
    // With Retry-After ignored, the first backoff (up to a minute) would outlast the flush.
    let exporter = Exporter::start(
        config(&intake)
            .mode(Mode::Agent)
            .initial_backoff(Duration::from_secs(60)),
    )
    .expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    let report = exporter.flush(FLUSH);
    assert_eq!((report.delivered, report.timed_out), (1, false));
    assert_eq!(intake.posts().len(), 2);
}

#[test]
fn a_reset_connection_is_retried() {
    let intake = Intake::start();
    intake.script([Reply::Reset]);
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent)).expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    assert_eq!(exporter.flush(FLUSH).delivered, 1);
    assert_eq!(exporter.stats().retries, 1);
}

#[test]
fn an_outage_then_recovery_loses_nothing() {
    let intake = Intake::start();
    // Longer than one send's attempts: the batches must survive to later ticks.
    intake.script(std::iter::repeat_n(Reply::Status(503), 6));
    let exporter = Exporter::start(
        config(&intake)
            .mode(Mode::Agent)
            .max_attempts(2)
            .interval(Duration::from_millis(20)),
    )
    .expect("start");
    for i in 0..5 {
        exporter.send_spans(vec![span(SpanKind::Task, &format!("t{i}"))]);
        exporter.send_evaluation(eval(&format!("e{i}")));
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = exporter.flush(FLUSH);
    assert!(!report.timed_out, "{report:?}");
    let stats = exporter.stats();
    assert_eq!(
        (stats.spans_delivered, stats.evals_delivered),
        (5, 5),
        "{stats:?}"
    );
    assert_eq!(stats.dropped(), 0);
    let mut names: Vec<String> = intake
        .span_events()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4"]);
}

#[test]
fn flush_gives_up_at_its_timeout_when_the_intake_stalls() {
    let intake = Intake::start();
    intake.script([Reply::Stall(Duration::from_secs(3))]);
    let exporter = Exporter::start(
        config(&intake)
            .mode(Mode::Agent)
            .request_timeout(Duration::from_secs(2))
            .flush_timeout(Duration::from_millis(100)),
    )
    .expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    let report = exporter.flush(Duration::from_millis(200));
    assert!(report.timed_out, "{report:?}");
    assert_eq!(report.pending, 1);
    // Shutting down stops retrying and accounts for the span.
    exporter.shutdown(Duration::from_millis(100));
    let stats = exporter.stats();
    assert_eq!(
        stats.spans_delivered + stats.spans_dropped.total(),
        1,
        "{stats:?}"
    );
}

#[test]
fn processors_rewrite_and_drop_and_a_panicking_one_does_not_kill_the_worker() {
    let intake = Intake::start();
    let exporter = Exporter::start(
        config(&intake)
            .mode(Mode::Agent)
            .processor(|s| Keep::from(s.name.as_str() != "secret"))
            .processor(|s| {
                if s.name.as_str() == "boom" {
                    panic!("processor bug");
                }
                s.annotations_mut()
                    .tags
                    .insert("redacted".into(), "yes".into());
                Keep::Yes
            }),
    )
    .expect("start");
    exporter.send_spans(vec![
        span(SpanKind::Task, "secret"),
        span(SpanKind::Task, "boom"),
        span(SpanKind::Task, "ok"),
    ]);
    let report = exporter.flush(FLUSH);
    assert_eq!((report.delivered, report.dropped), (1, 2));
    exporter.send_spans(vec![span(SpanKind::Task, "after")]);
    assert_eq!(
        exporter.flush(FLUSH).delivered,
        1,
        "worker survived the panic"
    );
    let events = intake.span_events();
    assert_eq!(events.len(), 2);
    assert!(events[0]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .any(|t| t == "redacted:yes"));
    assert_eq!(exporter.stats().spans_dropped.processor_dropped, 2);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let intake = Intake::start();
    let exporter =
        Exporter::start(config(&intake).mode(Mode::Agent).queue_max_spans(5)).expect("start");
    exporter.send_spans(
        (0..10)
            .map(|i| span(SpanKind::Task, &format!("t{i}")))
            .collect(),
    );
    exporter.send_spans(vec![span(SpanKind::Task, "fits")]);
    // Dropped on the application thread, before the flush started.
    assert_eq!(exporter.stats().spans_dropped.queue_full, 10);
    let report = exporter.flush(FLUSH);
    assert_eq!((report.delivered, report.dropped), (1, 0));
    assert_eq!(exporter.stats().spans_delivered, 1);
}

#[test]
fn a_burst_of_100k_spans_is_delivered_completely() {
    let intake = Intake::start();
    let n = 100_000;
    let exporter = Exporter::start(
        config(&intake)
            .mode(Mode::Agent)
            .interval(Duration::from_secs(1))
            .queue_max_spans(2 * n),
    )
    .expect("start");
    for i in 0..n {
        exporter.send_spans(vec![span(
            SpanKind::Task,
            if i % 2 == 0 { "even" } else { "odd" },
        )]);
    }
    let report = exporter.flush(Duration::from_secs(120));
    assert!(!report.timed_out, "{report:?}");
    let stats = exporter.stats();
    assert_eq!(stats.spans_delivered, n as u64, "{stats:?}");
    let posts = intake.posts();
    assert!(
        posts.len() > 1,
        "needs several requests under the 5 MiB limit"
    );
    let received: usize = posts
        .iter()
        .map(|p| {
            assert!(p.body.len() <= llmobs_exporter::DEFAULT_PAYLOAD_SIZE_BYTES);
            p.json().as_array().map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(received, n);
}

#[test]
fn dropping_the_exporter_flushes_it() {
    let intake = Intake::start();
    let exporter = Exporter::start(config(&intake).mode(Mode::Agent)).expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "last-words")]);
    drop(exporter);
    let events = intake.span_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "last-words");
}

#[test]
fn agentless_without_a_key_is_refused_at_start() {
    let err = Exporter::start(Config::default().agentless(true)).expect_err("needs a key");
    assert!(err.to_string().contains("DD_API_KEY"), "{err}");
}

#[test]
fn a_filling_queue_wakes_the_worker_before_the_interval() {
    let intake = Intake::start();
    // The timer alone would not send within the test's lifetime.
    let exporter =
        Exporter::start(config(&intake).mode(Mode::Agent).queue_max_spans(8)).expect("start");
    for i in 0..4 {
        exporter.send_spans(vec![span(SpanKind::Task, &format!("t{i}"))]);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while exporter.stats().spans_delivered < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        exporter.stats().spans_delivered,
        4,
        "delivered without a flush"
    );
    assert_eq!(intake.span_events().len(), 4);
}
