//! An Agent on a Unix domain socket (`DD_TRACE_AGENT_URL=unix:///...`), as Kubernetes mounts
//! it: the `/info` probe and the EVP proxy go through the socket file, here one in a temp dir
//! served by the loopback intake.

mod common;

use std::time::Duration;

use common::{span, Intake};
use llmobs_core::SpanKind;
use llmobs_exporter::{Config, Exporter, Mode};

fn socket_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("llmobs-uds-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("apm.socket")
}

#[test]
fn spans_reach_an_agent_on_a_unix_socket_found_by_its_info() {
    let path = socket_path("probe");
    let agent = Intake::start_unix(&path);
    agent.set_info(Some(r#"{"endpoints": ["/evp_proxy/v2/"]}"#));
    assert!(agent.url().starts_with("unix:///"));
    // No mode forced: the probe of /info through the socket picks agent mode.
    let exporter = Exporter::start(
        Config::default()
            .agent_url(agent.url())
            .ml_app("uds-app")
            .interval(Duration::from_secs(3600)),
    )
    .expect("a unix:// Agent URL is accepted");
    exporter.send_spans(vec![span(SpanKind::Workflow, "over_the_socket")]);
    let report = exporter.flush(Duration::from_secs(10));
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(exporter.mode(), Some(Mode::Agent));
    let requests = agent.requests();
    assert!(requests
        .iter()
        .any(|r| r.method == "GET" && r.path == "/info"));
    let post = requests
        .iter()
        .find(|r| r.method == "POST")
        .expect("a POST");
    assert_eq!(post.path, "/evp_proxy/v2/api/v2/llmobs");
    assert_eq!(
        post.header("x-datadog-evp-subdomain"),
        Some("llmobs-intake")
    );
    let events = agent.span_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["name"], "over_the_socket");
    assert_eq!(exporter.stats().spans_delivered, 1);
    exporter.shutdown(Duration::from_secs(2));
    drop(agent);
    assert!(!path.exists(), "the intake removed its socket file");
}

#[test]
fn an_agent_socket_that_appears_later_gets_the_spans_kept_for_it() {
    let path = socket_path("late");
    let exporter = Exporter::start(
        Config::default()
            .mode(Mode::Agent)
            .agent_url(format!("unix://{}", path.display()))
            .ml_app("uds-app")
            .interval(Duration::from_millis(50))
            .initial_backoff(Duration::from_millis(10)),
    )
    .unwrap();
    exporter.send_spans(vec![span(SpanKind::Task, "kept")]);
    // Nothing listens yet: the request fails and the payload is kept for a later tick.
    std::thread::sleep(Duration::from_millis(300));
    let agent = Intake::start_unix(&path);
    let report = exporter.flush(Duration::from_secs(10));
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(agent.span_events().len(), 1);
    exporter.shutdown(Duration::from_secs(2));
}

#[test]
fn a_relative_socket_path_is_refused_with_what_to_write() {
    let e = Exporter::start(Config::default().agent_url("unix://apm.socket"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("DD_TRACE_AGENT_URL") && e.contains("unix:///var/run/datadog/apm.socket"),
        "{e}"
    );
}
