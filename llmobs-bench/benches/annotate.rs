//! What recording costs beyond an empty span: an `#[llm]` span annotated as a chat call is
//! (two messages, three token metrics), and automatic capture of a small struct argument.
//! Spans go to the encode-and-discard sink, so they are recorded as in production.

use std::hint::black_box;

use criterion::Criterion;
use llmobs_bench::discard::DiscardSink;
use llmobs_bench::workload as w;

fn llm_annotate(c: &mut Criterion) {
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
    g.finish();
}

fn capture(c: &mut Criterion) {
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
    g.finish();
}

fn main() {
    let _sink = DiscardSink::install();
    let mut c = llmobs_bench::criterion();
    llm_annotate(&mut c);
    capture(&mut c);
    c.final_summary();
}
