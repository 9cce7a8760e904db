//! The peers, each set up as its users run it in production, but reporting to a sink that
//! discards: what is measured is the cost on the application thread, with the peer's own
//! background machinery (fastrace's collector, OpenTelemetry's batch processor) running.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::layer::SubscriberExt as _;

/// A `tracing` layer that does nothing: the span cost is the `Registry`'s, as for any
/// subscriber built on it.
struct NoopLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

/// Installs a `Registry` with one no-op layer as the global `tracing` subscriber. Idempotent.
pub fn install_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(NoopLayer);
        // Only fails when another subscriber is already global, which then is measured instead.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Spans fastrace's collector handed to the reporter so far.
pub static FASTRACE_REPORTED: AtomicU64 = AtomicU64::new(0);

struct DiscardReporter;

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::prelude::SpanRecord>) {
        FASTRACE_REPORTED.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// Starts fastrace's global collector with a reporter that counts and discards. Idempotent.
pub fn install_fastrace() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        fastrace::set_reporter(DiscardReporter, fastrace::collector::Config::default());
    });
}

/// Spans OpenTelemetry's batch processor exported so far.
pub static OTEL_EXPORTED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
struct DiscardExporter;

impl SpanExporter for DiscardExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        OTEL_EXPORTED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// The OpenTelemetry SDK tracer: a provider with the batch span processor (the one the SDK
/// recommends outside tests) and an exporter that discards. Built on first use.
pub fn otel_tracer() -> &'static SdkTracer {
    static TRACER: OnceLock<SdkTracer> = OnceLock::new();
    TRACER.get_or_init(|| otel_provider().tracer("llmobs-bench"))
}

fn otel_provider() -> &'static SdkTracerProvider {
    static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        SdkTracerProvider::builder()
            .with_batch_exporter(DiscardExporter)
            .build()
    })
}

/// Waits until OpenTelemetry's batch processor has exported everything ended so far.
pub fn otel_drain() {
    let _ = otel_provider().force_flush();
}

/// Waits until fastrace's collector has reported everything finished so far.
pub fn fastrace_drain() {
    fastrace::flush();
}
