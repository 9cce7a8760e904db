//! The seven kinds of span LLM Observability knows.

use std::fmt;

/// What a span represents in an LLM application; sent as `meta.span.kind`.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::SpanKind;
/// assert_eq!(SpanKind::Retrieval.as_str(), "retrieval");
/// assert!(SpanKind::Llm.is_model());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// A call to a language model: messages in, messages out, token metrics.
    Llm,
    /// A call to an embedding model: documents in.
    Embedding,
    /// A static sequence of steps, typically the root of a request.
    Workflow,
    /// An autonomous loop that decides which tools and models to call.
    Agent,
    /// A call to an external tool or API chosen by a model or agent.
    Tool,
    /// A standalone step that calls no model, such as pre- or post-processing.
    Task,
    /// A search over a document store; documents out.
    Retrieval,
}

impl SpanKind {
    /// Every kind, in declaration order.
    pub const ALL: [SpanKind; 7] = [
        SpanKind::Llm,
        SpanKind::Embedding,
        SpanKind::Workflow,
        SpanKind::Agent,
        SpanKind::Tool,
        SpanKind::Task,
        SpanKind::Retrieval,
    ];

    /// The wire name (`"llm"`, `"workflow"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Llm => "llm",
            SpanKind::Embedding => "embedding",
            SpanKind::Workflow => "workflow",
            SpanKind::Agent => "agent",
            SpanKind::Tool => "tool",
            SpanKind::Task => "task",
            SpanKind::Retrieval => "retrieval",
        }
    }

    /// Whether spans of this kind name a model (`llm` and `embedding`).
    pub const fn is_model(self) -> bool {
        matches!(self, SpanKind::Llm | SpanKind::Embedding)
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
