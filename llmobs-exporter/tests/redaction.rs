//! Client-side redaction: what reaches the intake (or the local file) carries placeholders,
//! never the original values, and each span says how many values were replaced.

mod common;

use std::time::Duration;

use common::{span, temp_file, Intake};
use llmobs_core::{Document, Message, SpanError, SpanIo, SpanKind, ToolCall};
use llmobs_exporter::{Config, Exporter, Mode, Redaction};
use serde_json::json;

const SECRETS: [&str; 8] = [
    "jo.doe@example.com",
    "123-45-6789",
    "4111 1111 1111 1111",
    "+1 415 555 2671",
    "203.0.113.9",
    "2001:db8::7",
    "sk-proj-abcdefghijklmnopqrstuv",
    "eyJhbGciOiJIUzI1NiJ9.payload.sig",
];

fn config(intake: &Intake) -> Config {
    Config::default()
        .ml_app("redact-app")
        .agent_url(intake.url())
        .mode(Mode::Agent)
        .interval(Duration::from_secs(3600))
        .flush_timeout(Duration::from_secs(10))
}

/// One llm span and one retrieval span with a secret in every field redaction covers.
fn leaky_spans() -> Vec<llmobs_core::SpanEvent> {
    let mut llm = span(SpanKind::Llm, "chat");
    let a = llm.annotations_mut();
    a.input = Some(SpanIo::Messages(vec![
        Message::user(format!("I am {} and my SSN is {}", SECRETS[0], SECRETS[1])),
        Message::assistant("").tool_calls([ToolCall::function(
            "pay",
            json!({"card": SECRETS[2], "nested": [{"phone": SECRETS[3]}]}),
        )]),
    ]));
    a.output = Some(SpanIo::Messages(vec![Message::assistant(format!(
        "Logged from {} / {}",
        SECRETS[4], SECRETS[5]
    ))]));
    a.metadata.insert("key".into(), json!(SECRETS[6]));
    a.tags
        .insert("auth".into(), format!("Bearer {}", SECRETS[7]));
    llm.error = Some(Box::new(SpanError::new(
        "Error",
        format!("no user {}", SECRETS[0]),
    )));
    let mut retrieval = span(SpanKind::Retrieval, "search");
    retrieval.trace_id = llm.trace_id;
    retrieval.annotations_mut().input = Some(SpanIo::Value(json!(SECRETS[0])));
    retrieval.annotations_mut().output = Some(SpanIo::Documents(vec![Document::text(format!(
        "call {}",
        SECRETS[3]
    ))]));
    vec![llm, retrieval]
}

#[test]
fn builtin_redaction_replaces_every_kind_of_value_before_it_leaves() {
    let intake = Intake::start();
    let exporter = Exporter::start(config(&intake).redact(Redaction::builtin())).expect("start");
    exporter.send_spans(leaky_spans());
    assert_eq!(exporter.flush(Duration::from_secs(10)).delivered, 2);

    let body: String = intake
        .posts()
        .iter()
        .map(|p| String::from_utf8_lossy(&p.body).into_owned())
        .collect();
    for secret in SECRETS {
        assert!(!body.contains(secret), "{secret} left the process: {body}");
    }
    for placeholder in [
        "[Email Address]",
        "[US Social Security Number]",
        "[Credit Card Number]",
        "[Phone Number]",
        "[IPv4 Address]",
        "[IPv6 Address]",
        "[API Key]",
        "Bearer [Bearer Token]",
    ] {
        assert!(body.contains(placeholder), "{placeholder} missing: {body}");
    }
    let events = intake.span_events();
    let chat = events.iter().find(|e| e["name"] == "chat").expect("chat");
    assert_eq!(chat["metrics"]["redacted_values"], 9, "{chat}");
    assert_eq!(
        chat["meta"]["input"]["messages"][0]["content"],
        "I am [Email Address] and my SSN is [US Social Security Number]"
    );
    let search = events
        .iter()
        .find(|e| e["name"] == "search")
        .expect("search");
    assert_eq!(search["metrics"]["redacted_values"], 2);
}

#[test]
fn off_by_default_and_on_with_dd_llmobs_redact() {
    let intake = Intake::start();
    let plain = Exporter::start(config(&intake)).expect("start");
    plain.send_spans(leaky_spans());
    assert_eq!(plain.flush(Duration::from_secs(10)).delivered, 2);
    let events = intake.span_events();
    assert!(events[0]["metrics"].get("redacted_values").is_none());
    assert!(events[0].to_string().contains(SECRETS[0]));

    let intake = Intake::start();
    let from_env = Config::from_lookup(|n| (n == "DD_LLMOBS_REDACT").then(|| "true".to_owned()))
        .expect("valid");
    let cfg = from_env
        .ml_app("redact-app")
        .agent_url(intake.url())
        .mode(Mode::Agent)
        .interval(Duration::from_secs(3600));
    let exporter = Exporter::start(cfg).expect("start");
    exporter.send_spans(leaky_spans());
    assert_eq!(exporter.flush(Duration::from_secs(10)).delivered, 2);
    let text: String = intake.span_events().iter().map(|e| e.to_string()).collect();
    assert!(SECRETS.iter().all(|s| !text.contains(s)), "{text}");
}

#[test]
fn user_patterns_run_too_and_the_local_file_is_redacted() {
    let file = temp_file("redacted.jsonl");
    let exporter = Exporter::start(
        Config::default()
            .ml_app("redact-app")
            .mode(Mode::Local)
            .print_local_tree(false)
            .local_file(&file)
            .interval(Duration::from_secs(3600))
            .redact(
                Redaction::builtin()
                    .literal("Project Falcon", "[Codename]")
                    .pattern("[Order Id]", |t| {
                        t.match_indices("ORD-")
                            .map(|(i, _)| i..(i + 10).min(t.len()))
                            .collect()
                    }),
            ),
    )
    .expect("start");
    let mut s = span(SpanKind::Task, "t");
    s.annotations_mut().input = Some(SpanIo::Value(json!(
        "Project Falcon order ORD-123456 for jo@example.com"
    )));
    exporter.send_spans(vec![s]);
    assert_eq!(exporter.flush(Duration::from_secs(10)).delivered, 1);
    let text = std::fs::read_to_string(&file).expect("written");
    let _ = std::fs::remove_file(&file);
    assert!(
        text.contains("[Codename] order [Order Id] for [Email Address]"),
        "{text}"
    );
    assert!(text.contains(r#""redacted_values": 3"#), "{text}");
}
