//! Mode selection that is safe in production: an Agent the user configured is never replaced by
//! local mode, even when it starts after the application; with nothing configured, local mode
//! is used until an Agent appears, and that Agent is then used.

mod common;

use std::time::{Duration, Instant};

use common::{span, temp_file, Intake};
use llmobs_core::SpanKind;
use llmobs_exporter::{Config, Exporter, Mode};

const EVP_INFO: &str = r#"{"endpoints": ["/evp_proxy/v2/"]}"#;

fn base() -> Config {
    Config::default()
        .ml_app("test-app")
        .interval(Duration::from_millis(100))
        .request_timeout(Duration::from_secs(2))
        .initial_backoff(Duration::from_millis(10))
        .print_local_tree(false)
}

/// A sidecar Agent that answers only seconds after the application started: every span is
/// delivered to it once it does, and no local payload file is ever written.
#[test]
fn a_configured_agent_that_starts_late_gets_every_span_and_no_file_is_written() {
    let url = common::closed_port_url();
    let addr = url.trim_start_matches("http://").to_owned();
    let file = temp_file("late-agent.jsonl");
    let exporter =
        Exporter::start(base().agent_url(&url).local_file(&file)).expect("the exporter starts");
    let spans: Vec<_> = (0..50)
        .map(|i| span(SpanKind::Task, &format!("t{i}")))
        .collect();
    exporter.send_spans(spans);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(exporter.mode(), Some(Mode::Agent), "never local mode");
    // The Agent starts three seconds after the application.
    std::thread::sleep(Duration::from_secs(3));
    let intake = Intake::start_on(&addr);
    intake.set_info(Some(EVP_INFO));
    let report = exporter.flush(Duration::from_secs(20));
    assert_eq!(report.delivered, 50, "{report:?}");
    assert_eq!(intake.span_events().len(), 50);
    assert_eq!(exporter.mode(), Some(Mode::Agent));
    assert!(
        !file.exists(),
        "local mode's file was written on a host with an Agent"
    );
}

/// With nothing configured and no Agent, local mode; an Agent that appears later is found and
/// used from then on.
#[test]
fn local_mode_switches_to_an_agent_that_appears_later() {
    let url = common::closed_port_url();
    let addr = url.trim_start_matches("http://").to_owned();
    let file = temp_file("until-agent.jsonl");
    let exporter = Exporter::start(
        base()
            .probe_agent_at(&url)
            .agent_probe_interval(Duration::from_millis(200))
            .local_file(&file),
    )
    .expect("the exporter starts");
    exporter.send_spans(vec![span(SpanKind::Task, "before")]);
    assert_eq!(exporter.flush(Duration::from_secs(5)).delivered, 1);
    assert_eq!(exporter.mode(), Some(Mode::Local));
    let local = std::fs::read_to_string(&file).expect("local mode wrote its file");
    assert!(local.contains("\"before\""));

    let intake = Intake::start_on(&addr);
    intake.set_info(Some(EVP_INFO));
    let deadline = Instant::now() + Duration::from_secs(10);
    while exporter.mode() != Some(Mode::Agent) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(exporter.mode(), Some(Mode::Agent), "the Agent was found");
    exporter.send_spans(vec![span(SpanKind::Task, "after")]);
    assert_eq!(exporter.flush(Duration::from_secs(5)).delivered, 1);
    let names: Vec<String> = intake
        .span_events()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["after"]);
    let local_after = std::fs::read_to_string(&file).unwrap();
    assert!(
        !local_after.contains("\"after\""),
        "nothing more goes to the file"
    );
    let _ = std::fs::remove_file(&file);
}

/// The environment variables that name an Agent all count as configuring one.
#[test]
fn every_agent_variable_configures_an_agent() {
    let url = common::closed_port_url();
    let port = url.rsplit(':').next().unwrap().to_owned();
    for vars in [
        vec![("DD_TRACE_AGENT_URL", url.clone())],
        vec![
            ("DD_AGENT_HOST", "127.0.0.1".to_owned()),
            ("DD_TRACE_AGENT_PORT", port.clone()),
        ],
    ] {
        let config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("valid");
        let file = temp_file("configured.jsonl");
        let exporter = Exporter::start(
            config
                .ml_app("test-app")
                .request_timeout(Duration::from_millis(500))
                .local_file(&file),
        )
        .expect("start");
        exporter.send_spans(vec![span(SpanKind::Task, "t")]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while exporter.mode().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(exporter.mode(), Some(Mode::Agent), "{vars:?}");
        drop(exporter);
        assert!(!file.exists(), "{vars:?}");
    }
}
