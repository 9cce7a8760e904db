//! Span times as the exporter receives them, for traces recorded outside any test capture: a
//! trace root's start is converted when it is written, its other times when the exporter builds
//! the records. (A process-wide sink is installed, so this file holds a single test.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llmobs::SpanEvent;

#[derive(Default)]
struct Recorder {
    spans: Mutex<Vec<SpanEvent>>,
}

impl llmobs_core::Sink for Recorder {
    fn send_spans(&self, spans: llmobs_core::SpanBatch) {
        // Built on another thread, as the exporter builds them.
        let events = std::thread::spawn(move || spans.into_events())
            .join()
            .unwrap();
        self.spans.lock().unwrap().extend(events);
    }
    fn send_evaluation(&self, _: llmobs::EvaluationMetric) {}
}

fn epoch_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn end(s: &SpanEvent) -> u64 {
    s.start_ns + s.duration_ns
}

#[llmobs::task]
fn step(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// A root whose model is noted (a literal on the attribute), then applied to its annotations
/// by an annotation that is not a note.
#[llmobs::llm(model_name = "m", model_provider = "p")]
fn chat() -> String {
    llmobs::annotate().tag("k", "v").apply().unwrap();
    std::thread::sleep(Duration::from_millis(2));
    "ok".into()
}

#[llmobs::workflow]
async fn async_root() {
    for _ in 0..3 {
        step(2);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn times_are_consistent_across_the_clock_windows_and_threads() {
    let rec = Arc::new(Recorder::default());
    llmobs_core::set_sink(Some(rec.clone()));
    llmobs_core::set_enabled(true);

    let before = epoch_ns();
    {
        let _root = llmobs::workflow("root").start();
        step(5);
        // Past the clock's 100 ms window: the mapping the trace leaves with is taken after it.
        std::thread::sleep(Duration::from_millis(150));
        let _child = llmobs::task("child").start();
        // A child whose record is built on this thread (a session of its own), and so is its
        // trace id.
        drop(llmobs::task("own_record").session_id("s-1").start());
        step(5);
    }
    let after = epoch_ns();
    // Well after the clock's anchor (taken at the first root, 150 ms ago).
    let before_chat = epoch_ns();
    chat();
    let after_chat = epoch_ns();
    // An async root on a multi-threaded runtime: its children may be recorded on several
    // threads, each converting with its own mapping.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async { tokio::spawn(async_root()).await.unwrap() });
    drop(rt);
    llmobs_core::set_enabled(false);
    llmobs_core::set_sink(None);

    let spans = rec.spans.lock().unwrap().clone();
    let by = |n: &str| spans.iter().find(|s| s.name == n).unwrap().clone();
    let (root, child, own_record) = (by("root"), by("child"), by("own_record"));
    // The span clock follows the OS clock to within 2 ms (the counter's rate is refined against
    // it as the process runs; early on, the two can differ by a few parts in 10,000).
    let slack = 2_000_000;
    assert!(
        root.start_ns + slack >= before && end(&root) <= after + slack,
        "the root lies between the clock readings around it: {before} <= {} .. {} <= {after}",
        root.start_ns,
        end(&root)
    );
    assert!(root.duration_ns >= 160_000_000, "{}", root.duration_ns);
    assert_eq!(
        (root.trace_id.0 >> 96) as u64,
        root.start_ns / 1_000_000_000,
        "the trace id holds the second the root started in"
    );
    for s in spans
        .iter()
        .filter(|s| s.name == "step" && s.trace_id == root.trace_id)
    {
        assert!(s.duration_ns >= 5_000_000, "{}", s.duration_ns);
    }
    for s in [&child, &own_record] {
        assert_eq!(s.trace_id, root.trace_id, "{}", s.name);
        assert!(s.start_ns >= root.start_ns + 155_000_000, "{}", s.name);
        assert!(end(s) <= end(&root), "{}", s.name);
    }
    assert!(end(&own_record) <= end(&child));

    // Applying a root's notes keeps its start converted: were it read as a counter value, the
    // start would fall back to the anchor and the trace id to the anchor's second.
    let chat = by("chat");
    assert!(
        chat.start_ns + slack >= before_chat && end(&chat) <= after_chat + slack,
        "{before_chat} <= {} .. {} <= {after_chat}",
        chat.start_ns,
        end(&chat)
    );
    assert!(chat.duration_ns >= 2_000_000 && chat.duration_ns < 1_000_000_000);
    assert_eq!(
        (chat.trace_id.0 >> 96) as u64,
        chat.start_ns / 1_000_000_000
    );
    assert_eq!(chat.tag("k"), Some("v"));

    let aroot = by("async_root");
    let asteps: Vec<&SpanEvent> = spans
        .iter()
        .filter(|s| s.name == "step" && s.trace_id == aroot.trace_id)
        .collect();
    assert_eq!(asteps.len(), 3);
    let mut last_end = aroot.start_ns;
    for s in asteps {
        assert!(s.duration_ns >= 2_000_000, "{}", s.duration_ns);
        assert!(
            s.start_ns >= last_end,
            "the async root's steps run one after the other"
        );
        last_end = end(s);
    }
    assert!(last_end <= end(&aroot));
    assert!(aroot.duration_ns >= 21_000_000, "{}", aroot.duration_ns);
}
