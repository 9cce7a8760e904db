//! Exporter throughput: spans per second encoded, and encoded and delivered through the Agent
//! path to a loopback intake, with the request body bytes per span.
//!
//! One iteration hands a fixed number of recorded spans to the exporter and waits for the
//! flush, so every iteration is bounded in count and the flush timeout bounds it in time.

use std::time::Duration;

use criterion::{BatchSize, Throughput};
use llmobs_bench::intake::Intake;
use llmobs_bench::{results, thread_cpu, workload as w};
use llmobs_core::SpanEvent;
use llmobs_exporter::{Config, Encoder, Exporter, Mode};

/// Requests per iteration: enough spans that the per-request cost is amortised as it is under
/// load, few enough that an iteration stays well under a second.
const TRACES_PER_ITER: usize = 2_000;

/// The name of the exporter's worker thread.
const WORKER_THREAD: &str = "llmobs-exporter";

/// The spans of one realistic request: a workflow, an annotated LLM call, a captured task.
fn one_trace() -> Vec<SpanEvent> {
    let spans = llmobs::testing::capture(|| w::llmobs_request("When does my sofa ship?"));
    assert_eq!(spans.len(), 3, "the request makes three spans");
    spans
}

fn main() {
    let mut c = llmobs_bench::criterion();
    let trace = one_trace();
    let spans_per_iter = (TRACES_PER_ITER * trace.len()) as u64;
    results::record("exporter_spans_per_iter", spans_per_iter as f64);

    let mut g = c.benchmark_group("exporter");
    g.throughput(Throughput::Elements(spans_per_iter));
    g.sample_size(10);

    let encoder = Encoder::new(&Config::default().ml_app("llmobs-bench"));
    g.bench_function("encode", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for _ in 0..TRACES_PER_ITER {
                for span in &trace {
                    bytes += encoder.encode_span(span).json.len();
                }
            }
            bytes
        })
    });

    let intake = Intake::discarding(std::time::Duration::ZERO);
    let exporter = Exporter::start(
        Config::default()
            .mode(Mode::Agent)
            .agent_url(intake.url())
            .ml_app("llmobs-bench")
            .queue_max_spans(spans_per_iter as usize * 2),
    )
    .expect("start the exporter in agent mode");
    let worker_cpu_before = thread_cpu::cpu_ns(WORKER_THREAD);
    g.bench_function("deliver_agent", |b| {
        b.iter_batched(
            || vec![trace.clone(); TRACES_PER_ITER],
            |traces| {
                for t in traces {
                    exporter.send_spans(t);
                }
                let report = exporter.flush(Duration::from_secs(30));
                assert!(!report.timed_out, "the loopback intake stopped answering");
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    // Read before shutdown, while the worker thread still exists.
    let worker_cpu = thread_cpu::cpu_ns(WORKER_THREAD)
        .zip(worker_cpu_before)
        .map(|(after, before)| after.saturating_sub(before));

    let last = exporter.shutdown(Duration::from_secs(5));
    let s = exporter.stats();
    if let Some(ns) = worker_cpu.filter(|_| s.spans_delivered > 0) {
        // CPU time rather than wall clock: the exporter thread's own cost per span, which the
        // host's other work moves much less than it moves throughput.
        let per_span = ns as f64 / s.spans_delivered as f64;
        results::record("exporter_worker_cpu_ns_per_span", per_span);
        eprintln!("exporter: worker thread CPU {per_span:.0} ns per delivered span");
    }
    if s.spans_delivered > 0 {
        let per_span = s.bytes_sent as f64 / s.spans_delivered as f64;
        results::record("exporter_bytes_per_span", per_span);
        eprintln!(
            "exporter: {} spans in {} requests, {} bytes, {per_span:.0} bytes/span, {} dropped (last flush: {last:?})",
            s.spans_delivered,
            s.requests,
            s.bytes_sent,
            s.spans_dropped.total()
        );
    }
    c.final_summary();
}
