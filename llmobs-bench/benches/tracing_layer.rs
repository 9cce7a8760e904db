//! What the `tracing` bridge costs the spans it does not bridge: a `#[tracing::instrument]`
//! root with one child (no GenAI fields), under a registry with a no-op layer, with and without
//! `llmobs::tracing::layer()` beside it, and with a second no-op layer instead (what adding any
//! layer costs). The layer checks each new span for
//! `gen_ai.operation.name` and, while no bridged span is open, nothing else.

use criterion::Throughput;
use llmobs_bench::{results, workload as w};
use tracing_subscriber::layer::SubscriberExt as _;

struct NoopLayer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

fn main() {
    let mut c = llmobs_bench::criterion();
    let mut g = c.benchmark_group("tracing_layer");
    g.throughput(Throughput::Elements(2));
    let without = tracing_subscriber::registry().with(NoopLayer);
    tracing::subscriber::with_default(without, || {
        g.bench_function("without_layer", |b| b.iter(w::tracing_root::<1>));
    });
    // Any second layer costs the registry's dispatch to it: this is the floor.
    let two_noops = tracing_subscriber::registry()
        .with(NoopLayer)
        .with(NoopLayer);
    tracing::subscriber::with_default(two_noops, || {
        g.bench_function("with_noop_layer", |b| b.iter(w::tracing_root::<1>));
    });
    let with = tracing_subscriber::registry()
        .with(NoopLayer)
        .with(llmobs_tracing::layer());
    tracing::subscriber::with_default(with, || {
        g.bench_function("with_layer", |b| b.iter(w::tracing_root::<1>));
    });
    g.finish();
    c.final_summary();
    let _ = results::criterion_dir();
}
