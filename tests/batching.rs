//! Children leave with their local root: one batch per local trace reaches the sink.
//! (A process-wide sink is installed and the SDK switched on and off, so this file holds a
//! single test.)

use std::sync::{Arc, Mutex};

use llmobs::{Instrument, SpanEvent};

#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<Vec<String>>>,
}

impl llmobs_core::Sink for Recorder {
    fn send_spans(&self, spans: llmobs_core::SpanBatch) {
        let spans: Vec<SpanEvent> = spans.into_events();
        self.batches
            .lock()
            .unwrap()
            .push(spans.iter().map(|s| s.name.to_string()).collect());
    }
    fn send_evaluation(&self, _: llmobs::EvaluationMetric) {}
}

#[llmobs::task]
async fn child(i: u32) -> u32 {
    tokio::task::yield_now().await;
    i
}

#[llmobs::workflow]
async fn async_root() -> u32 {
    let mut sum = 0;
    for i in 0..3 {
        sum += child(i).await;
    }
    sum
}

#[test]
fn one_batch_per_local_trace_in_start_order() {
    let rec = Arc::new(Recorder::default());
    llmobs_core::set_sink(Some(rec.clone()));
    llmobs_core::set_enabled(true);

    {
        let _root = llmobs::workflow("sync_root").start();
        for i in 0..100 {
            let _c = llmobs::task(format!("sync_child_{i}")).start();
        }
    }
    // A second trace on the same thread: nothing of the first is left in what it reuses.
    {
        let _root = llmobs::workflow("sync_root_2").start();
        for _ in 0..20 {
            let _c = llmobs::task("second_child").start();
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(async_root()), 3);
    rt.block_on(async { tokio::task::yield_now().await }.in_span(llmobs::agent("in_span_root")));

    // A span still open when the exporter goes away is counted, not silently lost.
    let before = llmobs_core::spans_dropped_without_sink();
    let open = llmobs::task("open-during-shutdown").start();
    llmobs_core::set_enabled(false);
    llmobs_core::set_sink(None);
    drop(open);
    assert_eq!(llmobs_core::spans_dropped_without_sink(), before + 1);

    let batches = rec.batches.lock().unwrap().clone();
    assert_eq!(batches.len(), 4, "{batches:?}");
    assert_eq!(batches[0].len(), 101);
    assert_eq!(batches[0][0], "sync_root", "start order: root first");
    assert_eq!(batches[0][100], "sync_child_99");
    let second: Vec<String> = std::iter::once("sync_root_2".to_string())
        .chain(std::iter::repeat_n("second_child".to_string(), 20))
        .collect();
    assert_eq!(batches[1], second, "nothing of the first trace is left");
    let batches = &batches[1..];
    assert_eq!(
        batches[1].len(),
        4,
        "the async root leaves with its awaited children: {:?}",
        batches[1]
    );
    assert!(batches[1].contains(&"async_root".to_string()));
    assert_eq!(batches[2], ["in_span_root"]);
}
