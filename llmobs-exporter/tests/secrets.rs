//! The API key never shows up anywhere but the `DD-API-KEY` header of an agentless request:
//! not in `Debug`/`Display` output, log lines at any level, error messages or panic messages,
//! whatever goes wrong. Everything the SDK produced during the test is collected and searched.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{capture_logs, captured_logs, closed_port_url, span, Intake, Reply};
use llmobs_core::SpanKind;
use llmobs_exporter::{Config, Exporter, Keep, Mode};

const KEY: &str = "llmobs-secret-api-key-7f3a9c0d";

fn agentless(origin: &str) -> Config {
    Config::default()
        .ml_app("secret-app")
        .api_key(KEY)
        .mode(Mode::Agentless)
        .override_origin(origin)
        .interval(Duration::from_millis(50))
        .request_timeout(Duration::from_millis(500))
        .initial_backoff(Duration::from_millis(5))
        .retry_window(Duration::from_millis(50))
        .flush_timeout(Duration::from_secs(5))
}

#[test]
fn the_api_key_never_appears_in_debug_display_logs_errors_or_panics() {
    capture_logs();
    let panics = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = panics.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut p) = seen.lock() {
            p.push(info.to_string());
        }
    }));
    let mut text: Vec<String> = Vec::new();

    // Settings, as built from code and from the environment.
    let config = agentless("http://127.0.0.1:1");
    text.push(format!("{config:?}"));
    let from_env = Config::from_lookup(|name| match name {
        "DD_API_KEY" => Some(KEY.to_owned()),
        "DD_LLMOBS_AGENTLESS_ENABLED" => Some("yes".to_owned()),
        _ => None,
    })
    .expect("valid");
    text.push(format!("{from_env:?}"));
    // Errors raised with a key configured.
    for bad in [
        Config::from_lookup(|n| match n {
            "DD_API_KEY" => Some(KEY.to_owned()),
            "DD_LLMOBS_SAMPLE_RATE" => Some("lots".to_owned()),
            _ => None,
        })
        .err(),
        Exporter::start(agentless("ftp://nowhere").api_key(KEY)).err(),
        Exporter::start(agentless("http://x").ml_app("Bad App")).err(),
    ]
    .into_iter()
    .flatten()
    {
        text.push(format!("{bad} {bad:?}"));
    }

    // Every failure the intake can produce, plus a panicking processor.
    let intake = Intake::start();
    intake.script([
        Reply::Status(500),
        Reply::Reset,
        Reply::Status(503),
        Reply::Status(400),
        Reply::Status(401),
        Reply::RetryAfter(429, "0"),
    ]);
    let exporter = Exporter::start(agentless(&intake.url()).processor(|s| {
        if s.name.as_str() == "boom" {
            panic!("processor failed");
        }
        Keep::Yes
    }))
    .expect("start");
    for name in ["a", "boom", "b", "c", "d"] {
        exporter.send_spans(vec![span(SpanKind::Task, name)]);
        let report = exporter.flush(Duration::from_secs(5));
        text.push(format!("{report} {report:?}"));
    }
    text.push(format!("{exporter:?} {:?}", exporter.stats()));
    let refused = Exporter::start(agentless(&closed_port_url())).expect("start");
    refused.send_spans(vec![span(SpanKind::Task, "x")]);
    text.push(format!("{}", refused.flush(Duration::from_secs(5))));
    drop(refused);
    drop(exporter);
    std::panic::set_hook(previous);

    // The key was really in use: it went out in the header, and only there.
    let posts = intake.posts();
    assert!(posts.len() >= 6, "{} requests", posts.len());
    assert!(posts
        .iter()
        .filter(|p| p.status.is_some())
        .all(|p| p.header("dd-api-key") == Some(KEY)));
    assert!(posts
        .iter()
        .all(|p| !String::from_utf8_lossy(&p.body).contains(KEY)));

    let logs = captured_logs();
    let panics = panics.lock().map(|p| p.clone()).unwrap_or_default();
    assert!(logs.iter().any(|l| l.starts_with("WARN")), "{logs:?}");
    assert!(
        panics.iter().any(|p| p.contains("processor failed")),
        "{panics:?}"
    );
    let everything: Vec<&String> = text.iter().chain(&logs).chain(&panics).collect();
    assert!(everything.len() > 20);
    for line in everything {
        assert!(!line.contains(KEY), "the API key leaked: {line}");
    }
}

#[test]
fn agentless_over_https_never_sends_the_key_in_clear_to_a_plain_server() {
    // The loopback intake speaks plain HTTP: a TLS client must fail the handshake before any
    // request, and so before the key, is written.
    let intake = Intake::start();
    let https = intake.url().replacen("http://", "https://", 1);
    let exporter = Exporter::start(agentless(&https).max_attempts(1)).expect("start");
    exporter.send_spans(vec![span(SpanKind::Task, "t")]);
    let report = exporter.flush(Duration::from_secs(5));
    assert_eq!(report.delivered, 0, "{report:?}");
    assert!(exporter.stats().requests >= 1);
    assert_eq!(
        intake.posts().len(),
        0,
        "no plaintext request reached the server"
    );
}
