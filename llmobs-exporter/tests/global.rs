//! The process-wide exporter: installed as the core's sink by `init`, flushed by `flush` (also
//! from inside async runtimes) and by dropping the guard. One test, because the global is shared.

mod common;

use std::time::Duration;

use common::Intake;
use llmobs_exporter::{Config, FlushReport, Mode};

#[test]
fn init_exports_core_spans_flushes_anywhere_and_the_guard_flushes_on_drop() {
    let intake = Intake::start();
    let guard = Config::default()
        .ml_app("global-app")
        .agent_url(intake.url())
        .mode(Mode::Agent)
        .interval(Duration::from_secs(3600))
        .flush_timeout(Duration::from_secs(20))
        .init()
        .expect("init");
    assert!(llmobs_core::is_enabled());
    assert_eq!(llmobs_core::default_ml_app().as_str(), "global-app");

    let root = llmobs_core::workflow("root").start();
    llmobs_core::task("child").start().finish();
    root.finish();
    let report = llmobs_exporter::flush();
    assert_eq!(
        (report.delivered, report.timed_out),
        (2, false),
        "{report:?}"
    );

    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    current.block_on(async {
        llmobs_core::workflow("in-current-thread-runtime")
            .start()
            .finish();
        assert_eq!(llmobs_exporter::flush().delivered, 1);
    });
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    multi.block_on(async {
        let joined = tokio::spawn(async {
            llmobs_core::workflow("in-multi-thread-runtime")
                .start()
                .finish();
            llmobs_exporter::flush().delivered
        })
        .await
        .expect("task");
        assert_eq!(joined, 1);
    });

    llmobs_core::workflow("at-exit").start().finish();
    drop(guard);
    assert!(!llmobs_core::is_enabled());
    assert_eq!(
        llmobs_exporter::flush(),
        FlushReport::default(),
        "nothing to flush once stopped"
    );
    assert_eq!(
        llmobs_exporter::shutdown(),
        FlushReport::default(),
        "shutdown is idempotent"
    );

    let events = intake.span_events();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "root",
            "child",
            "in-current-thread-runtime",
            "in-multi-thread-runtime",
            "at-exit"
        ]
    );
    assert!(events.iter().all(|e| e["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "ml_app:global-app"))));
    assert_eq!(events[1]["parent_id"], events[0]["span_id"]);

    let disabled = Config::default()
        .enabled(false)
        .init()
        .expect("disabled init succeeds");
    assert!(!llmobs_core::is_enabled());
    drop(disabled);
}
