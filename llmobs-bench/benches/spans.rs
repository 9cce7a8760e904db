//! Empty spans side by side: `#[llmobs::task]` with a consumer running, the disabled path, the
//! uninstrumented call, `tracing`, `fastrace` and the OpenTelemetry SDK, all in one run.
//!
//! One iteration is one root span with N children, so the per-span cost is the iteration time
//! divided by N + 1 (the report does the division).

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput};
use llmobs_bench::discard::DiscardSink;
use llmobs_bench::intake::Intake;
use llmobs_bench::{drained, peers, results, workload as w};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn disabled_call(c: &mut Criterion) {
    assert!(
        !llmobs::__private::gate_open(),
        "the disabled path must be measured before anything turns LLM Observability on"
    );
    let mut g = c.benchmark_group("disabled_call");
    g.bench_function("uninstrumented", |b| {
        b.iter(|| w::plain_add_one(black_box(41)))
    });
    g.bench_function("llmobs_disabled", |b| {
        b.iter(|| w::llmobs_add_one(black_box(41)))
    });
    g.finish();
}

fn uninstall_llmobs() {
    llmobs_core::set_enabled(false);
    llmobs_core::set_sink(None);
}

fn span_group<const N: usize>(c: &mut Criterion, group: &str, intake: &Intake) {
    let mut g: Group = c.benchmark_group(group);
    g.throughput(Throughput::Elements(N as u64 + 1));

    g.bench_function("uninstrumented", |b| b.iter(w::plain_root::<N>));
    g.bench_function("llmobs_disabled", |b| b.iter(w::llmobs_root::<N>));

    let sink = DiscardSink::install();
    g.bench_function("llmobs_sink", |b| b.iter(w::llmobs_root::<N>));
    sink.drain();
    g.bench_function("llmobs_sink_drained", |b| {
        drained(b, w::llmobs_root::<N>, N + 1, &|| sink.drain())
    });
    uninstall_llmobs();
    let counts = sink.counts();
    let (encoded, dropped) = (
        counts.encoded.load(Ordering::Relaxed),
        counts.dropped.load(Ordering::Relaxed),
    );
    report_share(group, "llmobs_sink", encoded, dropped);

    let guard = intake.init_agent_mode();
    g.bench_function("llmobs_agent", |b| b.iter(w::llmobs_root::<N>));
    let stats = guard.stats();
    g.bench_function("llmobs_agent_drained", |b| {
        drained(b, w::llmobs_root::<N>, N + 1, &|| {
            guard.flush(Duration::from_secs(5));
        })
    });
    drop(guard);
    report_share(
        group,
        "llmobs_agent",
        stats.spans_delivered,
        stats.spans_dropped.total(),
    );

    peers::install_tracing();
    g.bench_function("tracing", |b| b.iter(w::tracing_root::<N>));
    peers::install_fastrace();
    g.bench_function("fastrace", |b| b.iter(w::fastrace_root::<N>));
    peers::fastrace_drain();
    g.bench_function("fastrace_drained", |b| {
        drained(b, w::fastrace_root::<N>, N + 1, &peers::fastrace_drain)
    });
    g.bench_function("opentelemetry", |b| b.iter(w::otel_root::<N>));
    peers::otel_drain();
    g.bench_function("opentelemetry_drained", |b| {
        drained(b, w::otel_root::<N>, N + 1, &peers::otel_drain)
    });
    g.finish();
}

/// Says how much of the load the consumer took, since a bench that overruns its consumer
/// measures the drop path: the table is only honest next to this number.
fn report_share(group: &str, id: &str, consumed: u64, dropped: u64) {
    let total = consumed + dropped;
    let pct = if total == 0 {
        0.0
    } else {
        100.0 * consumed as f64 / total as f64
    };
    eprintln!("{group}/{id}: consumer took {consumed} spans, {dropped} dropped ({pct:.1}% taken)");
    results::record(&format!("{group}_{id}_taken_pct"), pct);
}

fn main() {
    let mut c = llmobs_bench::criterion();
    disabled_call(&mut c);
    let intake = Intake::discarding(std::time::Duration::ZERO);
    span_group::<1>(&mut c, "span_root_1", &intake);
    span_group::<100>(&mut c, "span_root_100", &intake);
    c.final_summary();
    eprintln!(
        "fastrace reported {} spans, OpenTelemetry exported {}",
        peers::FASTRACE_REPORTED.load(Ordering::Relaxed),
        peers::OTEL_EXPORTED.load(Ordering::Relaxed)
    );
    println!("\nPer span, median ns (ratios: llmobs ÷ peer):\n");
    println!("{}", results::span_table());
}
