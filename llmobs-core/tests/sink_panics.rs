//! A panicking [`Sink`] never aborts the process and never reaches the application: spans leave
//! from guards dropped while a panic unwinds, and from the span stack's thread-local destructor,
//! where a second panic would abort. What the sink was given is counted as lost.
//!
//! Its own test binary: the sink is process-wide.

extern crate llmobs_core as llmobs;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use llmobs::{EvaluationMetric, SpanBatch};

#[derive(Default)]
struct PanickySink {
    calls: AtomicU64,
}

impl llmobs::Sink for PanickySink {
    fn send_spans(&self, _: SpanBatch) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        panic!("sink bug");
    }
    fn send_evaluation(&self, _: EvaluationMetric) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        panic!("sink bug");
    }
}

/// The tests share the sink and its counters: one test, in steps.
#[test]
fn a_panicking_sink_is_counted_and_skipped() {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL.lock().unwrap();
    let sink = Arc::new(PanickySink::default());
    llmobs::set_sink(Some(sink.clone()));
    llmobs::set_enabled(true);

    // 1. A span finished in the normal way.
    drop(llmobs::task("plain").start());
    assert_eq!(llmobs::spans_lost_to_sink_panics(), 1);

    // 2. A span whose guard drops while the application's own panic unwinds: the application
    //    gets its panic back, not an abort.
    let app = std::panic::catch_unwind(|| {
        let _s = llmobs::task("unwinding").start();
        panic!("the application's own panic");
    });
    let payload = app.expect_err("the application's panic comes back");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the application's own panic")
    );
    assert_eq!(llmobs::spans_lost_to_sink_panics(), 2);

    // 3. Spans handed over from the stack's thread-local destructor (a root whose guard was
    //    forgotten, and its finished child).
    std::thread::spawn(|| {
        let root = llmobs::workflow("forgotten").start();
        drop(llmobs::task("child").start());
        std::mem::forget(root);
    })
    .join()
    .expect("the thread exits normally");
    assert_eq!(llmobs::spans_lost_to_sink_panics(), 4);

    // 4. An evaluation: submitted, and lost to the sink.
    let span = llmobs::ExportedSpan {
        span_id: "1".into(),
        trace_id: "2".repeat(32),
    };
    llmobs::submit_evaluation(llmobs::Evaluation::boolean("ok", true).span(&span))
        .expect("the evaluation is valid");
    assert_eq!(llmobs::evaluations_lost_to_sink_panics(), 1);

    assert_eq!(sink.calls.load(Ordering::Relaxed), 4);
    llmobs::set_enabled(false);
    llmobs::set_sink(None);
}
