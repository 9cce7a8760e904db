//! A [`tracing_subscriber::Layer`] that turns the `tracing` spans of Rust LLM clients into LLM
//! Observability spans.
//!
//! Rust LLM clients describe their calls with `tracing` spans carrying the OpenTelemetry GenAI
//! fields: `rig-core` (`invoke_agent`, `chat`, `execute_tool` spans) and `genai` with its `otel`
//! feature. With this layer installed, each span whose fields include `gen_ai.operation.name`
//! becomes an LLM Observability span of the matching kind, in the same trace as the spans of
//! the `#[llmobs::...]` attributes around and inside it:
//!
//! | `gen_ai.operation.name` | span kind |
//! |---|---|
//! | `chat`, `text_completion`, `generate_content` | llm |
//! | `embeddings` | embedding |
//! | `execute_tool` | tool |
//! | `invoke_agent`, `create_agent` | agent |
//! | `invoke_workflow` | workflow |
//! | `retrieval` | retrieval |
//! | anything else | task |
//!
//! The model (`gen_ai.response.model`, else `gen_ai.request.model`), the provider, the input and
//! output messages (the GenAI role/parts JSON, with tool calls and tool results), the token
//! usage, the request parameters (as metadata), a tool's arguments and result, the conversation
//! id (as the session) and errors (`error.type`, `otel.status_code = "ERROR"`, or an
//! `error!` event inside the span) are read from the fields, including those recorded after the
//! span was created, until it closes. Other `tracing` spans are ignored unless
//! [`LlmObsLayer::task_spans`] selects some.
//!
//! ```
//! # mod llmobs { pub mod tracing { pub use llmobs_tracing::*; } }
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(llmobs::tracing::layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     // Calls made through rig or genai here are traced.
//! });
//! ```
//!
//! See `docs/tracing.md` for the full mapping and what each client sends.

#![deny(missing_docs)]

mod fields;
mod genai;
mod layer;

pub use layer::LlmObsLayer;

/// The layer, to add to a `tracing_subscriber` registry beside any other layers
/// (`fmt`, `tracing-opentelemetry`, ...).
pub fn layer() -> LlmObsLayer {
    LlmObsLayer::default()
}
