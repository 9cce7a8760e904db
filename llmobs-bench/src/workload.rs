//! One workload per tracer: a root span whose body calls an empty child `N` times.
//!
//! Every function is `#[inline(never)]` so the uninstrumented twin still costs a call, as the
//! instrumented ones do; otherwise the baseline would be optimised away and every ratio
//! against it would be meaningless.

use std::hint::black_box;

use opentelemetry::trace::Tracer as _;
use serde::Serialize;

/// The uninstrumented child.
#[inline(never)]
pub fn plain_child() {
    black_box(());
}

/// The uninstrumented root: calls [`plain_child`] `N` times.
#[inline(never)]
pub fn plain_root<const N: usize>() {
    for _ in 0..N {
        plain_child();
    }
}

/// An empty `#[llmobs::task]` span.
#[llmobs::task]
#[inline(never)]
pub fn llmobs_child() {
    black_box(());
}

/// A `#[llmobs::task]` root with `N` `#[llmobs::task]` children.
#[llmobs::task]
#[inline(never)]
pub fn llmobs_root<const N: usize>() {
    for _ in 0..N {
        llmobs_child();
    }
}

/// An empty `#[tracing::instrument]` span.
#[tracing::instrument]
#[inline(never)]
pub fn tracing_child() {
    black_box(());
}

/// A `#[tracing::instrument]` root with `N` instrumented children.
#[tracing::instrument]
#[inline(never)]
pub fn tracing_root<const N: usize>() {
    for _ in 0..N {
        tracing_child();
    }
}

/// An empty `#[fastrace::trace]` span.
#[fastrace::trace]
#[inline(never)]
pub fn fastrace_child() {
    black_box(());
}

/// A fastrace root span with `N` `#[fastrace::trace]` children. fastrace's attribute records
/// nothing without a local parent, so the root is started by hand, as its users do.
#[inline(never)]
pub fn fastrace_root<const N: usize>() {
    let root = fastrace::Span::root("fastrace_root", fastrace::prelude::SpanContext::random());
    let _guard = root.set_local_parent();
    for _ in 0..N {
        fastrace_child();
    }
}

/// An empty OpenTelemetry span, made current while it runs as `in_span` does for its users.
#[inline(never)]
pub fn otel_child() {
    crate::peers::otel_tracer().in_span("otel_child", |_cx| black_box(()));
}

/// An OpenTelemetry root span with `N` children.
#[inline(never)]
pub fn otel_root<const N: usize>() {
    crate::peers::otel_tracer().in_span("otel_root", |_cx| {
        for _ in 0..N {
            otel_child();
        }
    });
}

/// A disabled-path probe: a traced function with an argument and a return value.
#[llmobs::task]
#[inline(never)]
pub fn llmobs_add_one(x: u64) -> u64 {
    black_box(x) + 1
}

/// The uninstrumented twin of [`llmobs_add_one`].
#[inline(never)]
pub fn plain_add_one(x: u64) -> u64 {
    black_box(x) + 1
}

/// The reply every `chat` variant returns.
pub const REPLY: &str = "Your sofa ships in 3 days.";

/// An `#[llmobs::llm]` call annotated as a chat model call is: two messages, three token
/// metrics.
#[llmobs::llm(model_name = "gpt-4o-mini", model_provider = "openai")]
#[inline(never)]
pub fn llmobs_chat(question: &str) -> &'static str {
    let _ = llmobs::annotate()
        .input_messages([llmobs::Message::user(question)])
        .output_messages([llmobs::Message::assistant(REPLY)])
        .metric("input_tokens", 412.0)
        .metric("output_tokens", 38.0)
        .metric("total_tokens", 450.0)
        .apply();
    black_box(REPLY)
}

/// [`llmobs_chat`] without the annotation: what the span alone costs.
#[llmobs::llm(model_name = "gpt-4o-mini", model_provider = "openai")]
#[inline(never)]
pub fn llmobs_chat_bare(question: &str) -> &'static str {
    black_box(question);
    black_box(REPLY)
}

/// The uninstrumented twin of [`llmobs_chat`].
#[inline(never)]
pub fn plain_chat(question: &str) -> &'static str {
    black_box(question);
    black_box(REPLY)
}

/// A small argument of the kind applications pass to their steps.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    /// The order number.
    pub id: u64,
    /// The product.
    pub sku: &'static str,
    /// How many.
    pub quantity: u32,
}

/// The order every capture bench passes.
pub const ORDER: Order = Order {
    id: 40_172,
    sku: "SOFA-3S-GREY",
    quantity: 2,
};

/// A `#[llmobs::task]` whose argument and return value are captured automatically.
#[llmobs::task]
#[inline(never)]
pub fn llmobs_check_order(order: &Order) -> u32 {
    black_box(order.quantity)
}

/// [`llmobs_check_order`] with automatic capture turned off.
#[llmobs::task(capture_input = false, capture_output = false)]
#[inline(never)]
pub fn llmobs_check_order_uncaptured(order: &Order) -> u32 {
    black_box(order.quantity)
}

/// The uninstrumented twin of [`llmobs_check_order`].
#[inline(never)]
pub fn plain_check_order(order: &Order) -> u32 {
    black_box(order.quantity)
}

/// A request as an application traces it: a workflow with an LLM call and a captured task.
/// Its spans are what the exporter benches encode and deliver.
#[llmobs::workflow]
#[inline(never)]
pub fn llmobs_request(question: &str) -> u32 {
    llmobs_chat(question);
    llmobs_check_order(&ORDER)
}
