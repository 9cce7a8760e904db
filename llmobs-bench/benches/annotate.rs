//! What recording costs beyond an empty span: an `#[llm]` span annotated as a chat call is
//! (two messages, three token metrics), and automatic capture of a small struct argument.
//! Spans go to the encode-and-discard sink, so they are recorded as in production: in a
//! continuous loop (the consumer falls behind and the queue drops) and in bursts the consumer
//! drains between (`_drained`). The model call is measured again with the exporter itself in
//! agent mode, sending to a loopback intake (`_agent`), as the empty spans are: the sink's
//! consumer polls every millisecond and works on the other core while a burst runs, the
//! exporter's worker wakes on its tick or when the queue passes half its bound.

use std::hint::black_box;

use std::time::Duration;

use criterion::Criterion;
use llmobs_bench::discard::DiscardSink;
use llmobs_bench::intake::Intake;
use llmobs_bench::{drained, workload as w};

fn llm_annotate(c: &mut Criterion, sink: &DiscardSink) {
    let mut g = c.benchmark_group("llm_annotate");
    let question = "When does my sofa ship?";
    g.bench_function("uninstrumented", |b| {
        b.iter(|| w::plain_chat(black_box(question)))
    });
    g.bench_function("llm_span", |b| {
        b.iter(|| w::llmobs_chat_bare(black_box(question)))
    });
    g.bench_function("llm_annotate", |b| {
        b.iter(|| w::llmobs_chat(black_box(question)))
    });
    sink.drain();
    g.bench_function("llm_span_drained", |b| {
        drained(
            b,
            || {
                black_box(w::llmobs_chat_bare(black_box(question)));
            },
            1,
            &|| sink.drain(),
        )
    });
    g.bench_function("llm_annotate_drained", |b| {
        drained(
            b,
            || {
                black_box(w::llmobs_chat(black_box(question)));
            },
            1,
            &|| sink.drain(),
        )
    });
    g.finish();
}

fn capture(c: &mut Criterion, sink: &DiscardSink) {
    let mut g = c.benchmark_group("capture");
    let order = w::ORDER;
    g.bench_function("uninstrumented", |b| {
        b.iter(|| w::plain_check_order(black_box(&order)))
    });
    g.bench_function("uncaptured", |b| {
        b.iter(|| w::llmobs_check_order_uncaptured(black_box(&order)))
    });
    g.bench_function("captured", |b| {
        b.iter(|| w::llmobs_check_order(black_box(&order)))
    });
    sink.drain();
    g.bench_function("captured_drained", |b| {
        drained(
            b,
            || {
                black_box(w::llmobs_check_order(black_box(&order)));
            },
            1,
            &|| sink.drain(),
        )
    });
    g.finish();
}

/// The model call with the exporter in agent mode, sending to a loopback intake.
fn llm_agent(c: &mut Criterion) {
    let intake = Intake::discarding(std::time::Duration::ZERO);
    let guard = intake.init_agent_mode();
    let question = "When does my sofa ship?";
    let mut g = c.benchmark_group("llm_annotate");
    g.bench_function("llm_annotate_agent", |b| {
        b.iter(|| w::llmobs_chat(black_box(question)))
    });
    g.bench_function("llm_annotate_agent_drained", |b| {
        drained(
            b,
            || {
                black_box(w::llmobs_chat(black_box(question)));
            },
            1,
            &|| {
                guard.flush(Duration::from_secs(5));
            },
        )
    });
    g.finish();
}

fn main() {
    let sink = DiscardSink::install();
    let mut c = llmobs_bench::criterion();
    llm_annotate(&mut c, &sink);
    capture(&mut c, &sink);
    llmobs_core::set_enabled(false);
    llmobs_core::set_sink(None);
    llm_agent(&mut c);
    c.final_summary();
}
