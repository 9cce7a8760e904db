//! LLM observability for Rust, wire-compatible with Datadog LLM Observability.
//!
//! Trace every step of an LLM application (workflows, agents, tools, tasks, retrievals,
//! embeddings and LLM calls) with inputs, outputs, token counts, latency and errors; group
//! conversations by session; attach evaluations; and send it all to Datadog, or print it locally.
//!
//! ```no_run
//! #[llmobs::workflow]
//! fn answer(question: &str) -> String {
//!     let docs = search(question);
//!     chat(question, &docs)
//! }
//!
//! #[llmobs::retrieval]
//! fn search(query: &str) -> Vec<String> { vec![format!("about {query}")] }
//!
//! #[llmobs::llm(model_name = "gpt-4o-mini", model_provider = "openai")]
//! fn chat(question: &str, docs: &[String]) -> String { format!("{question}: {}", docs.join(" ")) }
//!
//! fn main() -> Result<(), llmobs::Error> {
//!     let _llmobs = llmobs::init()?; // flushes and stops the exporter when dropped
//!     println!("{}", answer("when does my sofa ship?"));
//!     Ok(())
//! }
//! ```
//!
//! With no Datadog Agent and no API key, `init()` runs in local mode: the trace tree is printed
//! on stderr and the exact intake payloads are appended to a JSONL file.

#![deny(missing_docs)]

// --- span-kind attributes (macro namespace) and inline span builders (value namespace) ---
pub use llmobs_core::{agent, embedding, llm, retrieval, task, tool, workflow};
pub use llmobs_macros::{agent, embedding, llm, retrieval, task, tool, workflow};

// --- core API ---
pub use llmobs_core::{
    activate_distributed_headers, extract_distributed_headers, inject_distributed_headers,
    HeaderCarrier, PropagationError, RemoteContextGuard,
};
pub use llmobs_core::{annotate, Annotate, AnnotateError, MetricValue, SpanRef};
pub use llmobs_core::{export_span, submit_evaluation, Evaluation, EvaluationError, ExportError};
pub use llmobs_core::{
    Annotations, Assessment, Context, ContextGuard, DetachedSpan, Document, EvalScope,
    EvaluationMetric, EvaluationValue, ExportedSpan, Instrument, Instrumented, JoinOn, Message,
    Metrics, Prompt, SharedStr, Span, SpanBuilder, SpanError, SpanEvent, SpanId, SpanIo, SpanKind,
    ToolCall, ToolDefinition, ToolResult, TraceId, WithContext,
};

/// Capturing spans in tests, with no network.
pub mod testing {
    pub use llmobs_core::testing::{capture, capture_with_result, Capture};
}

// --- exporter API ---
pub use llmobs_exporter::{
    flush, flush_timeout, init, shutdown, stats, Config, Detector, Drops, Error, Exporter,
    FlushReport, Keep, LLMObsGuard, Mode, Redaction, Stats,
};

#[doc(hidden)]
pub mod __private {
    pub use llmobs_core::__private::*;
}
