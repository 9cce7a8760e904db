//! LLM observability for Rust, wire-compatible with Datadog LLM Observability.
//!
//! Trace every step of an LLM application (workflows, agents, tools, tasks, retrievals,
//! embeddings and LLM calls) with inputs, outputs, token counts, latency and errors; group
//! conversations by session; attach evaluations; and send it all to Datadog, to the terminal
//! and a local file, or nowhere: turned off, every call is a no-op that succeeds.
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
//! With no Datadog Agent and no API key, `init()` runs in [local mode](#local-mode): the trace
//! tree is printed on stderr and the exact intake payloads are appended to a JSONL file.
//!
//! # Tour
//!
//! ## Trace a function
//!
//! One attribute per span kind: [`workflow`](macro@workflow), [`agent`](macro@agent),
//! [`tool`](macro@tool), [`task`](macro@task), [`retrieval`](macro@retrieval),
//! [`llm`](macro@llm) and [`embedding`](macro@embedding). Sync or `async`, free functions,
//! methods and generics. Arguments are captured as the input and the return value as the
//! output (`skip(..)`, `capture_input = false` leave them out); an `Err` marks the span as an
//! error.
//!
//! ```
//! #[llmobs::tool]
//! async fn check_inventory(sku: &str) -> Result<u32, std::io::Error> {
//!     Ok(4)
//! }
//!
//! #[llmobs::agent(session_id = "session-42")]
//! async fn support_agent(question: String) -> String {
//!     match check_inventory("SOFA-OSLO-3").await {
//!         Ok(n) => format!("{n} in stock"),
//!         Err(_) => "unknown".into(),
//!     }
//! }
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let spans = llmobs::testing::capture(|| rt.block_on(support_agent("in stock?".into())));
//! assert_eq!(spans.len(), 2);
//! ```
//!
//! ## Trace a block
//!
//! A span started with `.start()` is current on its thread until its guard drops:
//!
//! ```
//! let parse = llmobs::task("parse_order").start();
//! // ... spans started here are children of `parse_order`
//! drop(parse);
//! ```
//!
//! ## Annotate
//!
//! [`annotate()`](annotate) adds messages, documents, metadata, metrics and tags to the current
//! span (or, with `apply_to`, to a given one). Observability should never fail a request: log
//! what the SDK refuses rather than returning it.
//!
//! ```
//! use llmobs::Message;
//!
//! #[llmobs::llm(model_name = "gpt-4o-mini", model_provider = "openai")]
//! fn chat(question: &str) -> String {
//!     let reply = "Four are in stock.".to_string();
//!     let noted = llmobs::annotate()
//!         .input_messages([Message::user(question)])
//!         .output_messages([Message::assistant(&reply)])
//!         .metric("input_tokens", 12.0)
//!         .metric("output_tokens", 5.0)
//!         .apply();
//!     if let Err(e) = noted {
//!         eprintln!("llmobs: {e}"); // or log::warn!; a bug in the annotation, not in the call
//!     }
//!     reply
//! }
//! # let spans = llmobs::testing::capture(|| chat("in stock?"));
//! # assert_eq!(spans[0].metric("output_tokens"), Some(5.0));
//! ```
//!
//! ## Async code and threads
//!
//! An instrumented `async fn` takes its parent when it is called, so `tokio::spawn(f())` stays
//! in the caller's trace. For other futures and threads, carry the context:
//! [`Instrument::in_current_span`], [`Context::current`] and [`Context::attach`].
//!
//! ```
//! use llmobs::Instrument;
//! # async fn fetch_docs() {}
//! let root = llmobs::workflow("root").start();
//! let fut = fetch_docs().in_span(llmobs::retrieval("fetch_docs")); // a child of `root`
//! let ctx = llmobs::Context::current();
//! std::thread::spawn(move || {
//!     let _g = ctx.attach();
//!     let _child = llmobs::task("background").start(); // also a child of `root`
//! })
//! .join()
//! .unwrap();
//! # drop(fut); drop(root);
//! ```
//!
//! ## Annotation contexts
//!
//! Tags, a prompt, a name, span links and an agent manifest for every span started inside a
//! scope, including spans of the attributes and of the `tracing` bridge, and tasks that carry the
//! context:
//!
//! ```
//! # let spans = llmobs::testing::capture(|| {
//! let _ctx = llmobs::annotation_context().tag("tenant", "acme").enter();
//! let _wf = llmobs::workflow("handle").start(); // tagged tenant:acme, and so are its children
//! # });
//! # assert_eq!(spans[0].tag("tenant"), Some("acme"));
//! ```
//!
//! For async code, `llmobs::annotation_context().tag(..).scope(fut).await`.
//!
//! ## Evaluations
//!
//! Judge a span (or its trace) with a score, category, boolean or JSON value. With LLM
//! Observability off, [`export_span`] returns ids that [`submit_evaluation`] accepts and drops,
//! so the same code runs either way.
//! What users say about an answer (a thumbs-up, a rating, a comment) is sent the same way with
//! [`submit_feedback`], by span, trace, session or a key of your own.
//!
//! ```
//! use llmobs::Evaluation;
//!
//! fn evaluate() -> Result<(), llmobs::Error> {
//!     let span = llmobs::export_span(None)?; // the current span's ids
//!     llmobs::submit_evaluation(Evaluation::score("relevance", 0.9).span(&span))?;
//!     Ok(())
//! }
//! # let spans = llmobs::testing::capture(|| {
//! let _wf = llmobs::workflow("answer").start();
//! if let Err(e) = evaluate() {
//!     eprintln!("llmobs: {e}");
//! }
//! # });
//! ```
//!
//! ## Sessions and users
//!
//! `session_id` on the root span groups a conversation; everything below inherits it.
//! `annotate().user_id(..)` names the user.
//!
//! ```
//! #[llmobs::workflow(session_id = session.as_str())]
//! fn handle_message(session: &String, text: &str) -> usize {
//!     text.len()
//! }
//! # let spans = llmobs::testing::capture(|| handle_message(&"s-1".to_string(), "hi"));
//! # assert_eq!(spans[0].session_id.as_deref(), Some("s-1"));
//! ```
//!
//! ## One trace across services
//!
//! [`inject_distributed_headers`] writes the current span's context into outgoing headers;
//! [`activate_distributed_headers`] makes the sender the parent of what a request handler does
//! (headers with no context, from an uninstrumented caller, start a new trace).
//!
//! ```
//! use std::collections::HashMap;
//!
//! #[llmobs::workflow]
//! fn handle_request(headers: &HashMap<String, String>) -> String {
//!     "ok".into()
//! }
//!
//! fn server(headers: HashMap<String, String>) -> String {
//!     let _remote = llmobs::activate_distributed_headers(&headers); // never fails
//!     handle_request(&headers)
//! }
//! # assert_eq!(server(HashMap::new()), "ok");
//! ```
//!
//! ## Testing your instrumentation
//!
//! [`testing::capture`] records the spans a closure makes, with no network and no `init()`;
//! captures in parallel tests do not see each other's spans.
//!
//! ```
//! #[llmobs::task]
//! fn step(x: u32) -> u32 { x + 1 }
//!
//! let spans = llmobs::testing::capture(|| step(1));
//! assert_eq!(spans[0].name, "step");
//! assert_eq!(spans[0].output_text().as_deref(), Some("2"));
//! ```
//!
//! ## Configuration
//!
//! [`init`] reads the environment (`DD_LLMOBS_ML_APP`, `DD_API_KEY`, `DD_SITE`,
//! `DD_TRACE_AGENT_URL`, `DD_LLMOBS_ENABLED`, ...); [`Config`] sets the same in code.
//!
//! ```no_run
//! fn main() -> Result<(), llmobs::Error> {
//!     let _llmobs = llmobs::Config::from_env()?
//!         .default_ml_app("furnish-hub") // unless DD_LLMOBS_ML_APP says otherwise
//!         .redact(llmobs::Redaction::builtin()) // emails, phone numbers, keys, ...
//!         .init()?;
//!     Ok(())
//! }
//! ```
//!
//! Where spans go: to the Datadog Agent when one is configured (`DD_TRACE_AGENT_URL`,
//! `DD_AGENT_HOST`) or answers at `localhost:8126`; straight to the intake with
//! `DD_LLMOBS_AGENTLESS_ENABLED=1` and `DD_API_KEY`; otherwise local mode. A configured Agent
//! that is not up yet is waited for, never replaced by local mode. Dropping the guard waits at
//! most 3 s (`DD_LLMOBS_SHUTDOWN_TIMEOUT`) and says on stderr if anything was not delivered.
//!
//! ## Local mode
//!
//! With nothing configured and no Agent found, each trace is printed as a tree on stderr and
//! the request bodies Datadog would have received are appended to `./llmobs-payloads.jsonl`
//! (`DD_LLMOBS_LOCAL_FILE`). An Agent that starts later is found and used from then on.
//! `Config::mode(llmobs::Mode::Local)` chooses local mode explicitly.
//!
//! ## Errors
//!
//! Every error the SDK returns converts into [`Error`], so a function returning
//! `Result<_, llmobs::Error>` can use `?` on any call, and `fn main() -> Result<(),
//! llmobs::Error>` prints the message that says what to fix. Instrumented functions should
//! return the application's own error type: the SDK's errors are about the telemetry, and are
//! best logged where they happen (the patterns above), not turned into a failed request.
//! With LLM Observability off or never initialised, no call returns an error.

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
pub use llmobs_core::{
    annotation_context, AgentManifest, Annotated, AnnotationContext, AnnotationGuard,
    ALLOWED_MODEL_SETTINGS,
};
pub use llmobs_core::{export_span, submit_evaluation, Evaluation, EvaluationError, ExportError};
pub use llmobs_core::{submit_feedback, Feedback, FeedbackError, Submitter};
pub use llmobs_core::{
    Annotations, Assessment, Context, ContextGuard, DetachedSpan, Document, EvalScope,
    EvaluationMetric, EvaluationValue, ExportedSpan, Instrument, Instrumented, JoinOn, Message,
    Metrics, Prompt, SharedStr, Span, SpanBuilder, SpanError, SpanEvent, SpanId, SpanIo, SpanKind,
    ToolCall, ToolDefinition, ToolResult, TraceId, WithContext,
};
pub use llmobs_core::{LinkError, LinkSide, SpanLink};

/// Streamed model calls: `llmobs::llm(..).stream(chunks, read)` and `.stream_async(..)` keep
/// the span open while the reply arrives (see `docs/streaming.md`).
pub mod stream {
    pub use llmobs_core::stream::{Chunk, Stream, TracedStream, TIME_TO_FIRST_TOKEN};
}

/// Capturing spans in tests, with no network.
pub mod testing {
    pub use llmobs_core::testing::{capture, capture_with_result, Capture};
}

// --- exporter API ---
/// How the OTLP destination encodes bodies (feature `otlp`; see `docs/otlp.md`).
#[cfg(feature = "otlp")]
pub use llmobs_exporter::OtlpProtocol;
pub use llmobs_exporter::{
    flush, flush_with_timeout, init, shutdown, stats, Config, Destination, Detector, Drops, Error,
    Exporter, FlushReport, Framing, Keep, LlmObsGuard, Mode, Payload, PayloadKind, Payloads,
    Redaction, SamplingRule, Sent, Stats,
};
/// The trace viewer: a self-contained HTML page of local mode's payload files (see
/// `docs/viewer.md`; local mode writes `llmobs-traces.html` at exit, and the `llmobs-viewer`
/// command makes one from any payload files).
pub use llmobs_exporter::{write_viewer, ViewerReport};

// --- bridges ---
/// The `tracing` bridge (feature `tracing`): `llmobs::tracing::layer()` turns the `tracing`
/// spans of Rust LLM clients (rig, genai) into LLM Observability spans (see `docs/tracing.md`).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
/// use tracing_subscriber::util::SubscriberInitExt as _;
///
/// tracing_subscriber::registry().with(llmobs::tracing::layer()).init();
/// ```
#[cfg(feature = "tracing")]
pub mod tracing {
    pub use llmobs_tracing::{layer, LlmObsLayer};
}

#[doc(hidden)]
pub mod __private {
    pub use llmobs_core::__private::*;
}
