//! Memory goes home: the slot arenas of the spans the exporter's worker encoded go back to the
//! thread that recorded them when the worker drops their batches, and that thread reuses them
//! for its next spans. Reused memory must never leak one span's annotations into another's.

mod common;

use std::time::{Duration, Instant};

use common::Intake;
use llmobs_core::__private::kept_on_this_thread;
use llmobs_exporter::{Config, Exporter, Mode};
use serde_json::Value;

fn record(round: &str, n: usize) {
    for i in 0..n {
        let root = llmobs_core::workflow("handle").start();
        let chat = llmobs_core::llm("chat").model_name("m").start();
        let mut a = llmobs_core::annotate()
            .input_messages([llmobs_core::Message::user(format!("{round} question {i}"))])
            .output_messages([llmobs_core::Message::assistant("answer")])
            .metric("input_tokens", 3)
            .tag("round", round);
        if round == "first" {
            a = a
                .metadata("first_only", 1)
                .metric("first_only", 1)
                .tag("first_only", "x")
                .prompt(llmobs_core::Prompt::template("first {{q}}").variable("q", "v"));
        }
        a.apply().expect("annotate");
        chat.finish();
        root.finish();
    }
}

#[test]
fn the_worker_gives_memory_back_and_reused_memory_carries_nothing_over() {
    let intake = Intake::start();
    let exporter = std::sync::Arc::new(
        Exporter::start(
            Config::default()
                .mode(Mode::Agent)
                .agent_url(intake.url())
                .ml_app("recycling")
                // No tick but the ones flush forces: none lands while a round records.
                .interval(Duration::from_secs(3600)),
        )
        .expect("start"),
    );
    llmobs_core::set_sink(Some(exporter.clone()));
    llmobs_core::set_enabled(true);

    let arenas_before = kept_on_this_thread();
    record("first", 20);
    let report = exporter.flush(Duration::from_secs(10));
    assert_eq!((report.delivered, report.timed_out), (40, false));
    // The worker drops each batch once it has encoded it: wait (bounded) for the arenas.
    let deadline = Instant::now() + Duration::from_secs(10);
    let arenas = loop {
        let kept = kept_on_this_thread();
        if kept >= arenas_before + 20 || Instant::now() > deadline {
            break kept;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        arenas >= arenas_before + 20,
        "every trace's arena came back: {arenas_before} -> {arenas}"
    );

    // The second round runs on reused arenas: each span must hold its own annotations only.
    record("second", 20);
    let left = kept_on_this_thread();
    assert!(
        left < arenas,
        "round two took arenas that came back: {arenas} -> {left}"
    );
    let report = exporter.flush(Duration::from_secs(10));
    assert_eq!((report.delivered, report.timed_out), (40, false));
    let events = intake.span_events();
    let second: Vec<&Value> = events
        .iter()
        .filter(|e| e["tags"].to_string().contains("round:second"))
        .collect();
    assert_eq!(second.len(), 20);
    for e in &second {
        let input = e["meta"]["input"]["messages"].to_string();
        assert!(
            input.contains("second question") && !input.contains("first"),
            "{input}"
        );
        assert_eq!(e["metrics"]["input_tokens"], 3, "{e}");
        assert!(
            !e.to_string().contains("first"),
            "nothing of round one: {e}"
        );
        assert_eq!(e["meta"]["model_name"], "m", "{e}");
    }
    // Workflow spans of the second round were never annotated: reuse gives them nothing.
    let workflows: Vec<&Value> = events.iter().filter(|e| e["name"] == "handle").collect();
    assert_eq!(workflows.len(), 40);
    for w in workflows {
        assert!(w["meta"]["input"].is_null(), "{w}");
        assert!(!w["tags"].to_string().contains("round:"), "{w}");
    }

    llmobs_core::set_enabled(false);
    llmobs_core::set_sink(None);
}
