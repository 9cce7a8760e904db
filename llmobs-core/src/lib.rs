//! The span model and context of `llmobs`, the Rust SDK for LLM Observability.
//!
//! Users depend on the `llmobs` crate, which re-exports this one; see its documentation for the
//! quickstart. This crate holds everything that runs on the application's threads: span ids and
//! clock, the thread-local span stack, guards and async instrumentation, context propagation,
//! annotation, evaluations, and the [`Sink`] boundary through which finished spans leave. It does
//! no I/O.
//!
//! # Layers
//!
//! Modules import only from their own layer or the layers below (the module graph has no
//! cycle), bottom to top:
//!
//! 1. **Records**: ids and the clock (`id`, `clock`), what a span holds (`kind`, `shared_str`,
//!    `message`, `document`, `prompt`, `metrics`, `json`, `span_event`), evaluations and errors
//!    (`evaluation`, `error`). No behaviour beyond building and reading values.
//! 2. **Inheritance and the compact form**: where a span's record goes (`route`: the sink or a
//!    test capture), what a child inherits and the one builder of a child's record (`parent`),
//!    the 64-byte slot the stack records a span in (`slot`), the reuse of slot arenas
//!    (`recycle`), and the batch that crosses the sink boundary (`span_batch`).
//! 3. **The switch and the boundary**: on/off (`gate`), panic capture (`panic`), and the
//!    installed [`Sink`] with the delivery of each batch to the sink or its test captures (`sink`).
//! 4. **The span stack** (`stack`): per thread, what is current, the arena, and the hand-over of
//!    finished traces.
//! 5. **Context**: guards and builders (`span`), futures (`instrument`), carried contexts
//!    (`context`), span handles (`span_ref`).
//! 6. **The public API**: [`annotate()`], automatic capture (`capture`, `outcome`), evaluations
//!    (`evaluate`), distributed headers (`propagation`), settings, and [`testing`].

#![deny(missing_docs)]

mod agent_manifest;
mod annotate;
mod annotation_context;
mod capture;
mod clock;
mod context;
mod document;
mod error;
mod evaluate;
mod evaluation;
mod feedback;
mod gate;
mod id;
mod instrument;
pub mod json;
mod kind;
mod labelled;
mod link;
mod message;
mod metrics;
mod outcome;
mod panic;
mod parent;
mod prompt;
mod propagation;
mod recycle;
mod route;
mod scope;
mod settings;
mod shared_str;
mod sink;
mod slot;
mod span;
mod span_batch;
mod span_event;
mod span_ref;
mod stack;
pub mod stream;
pub mod testing;

pub use agent_manifest::{AgentManifest, ALLOWED_MODEL_SETTINGS};
pub use annotate::{annotate, Annotate, MetricValue};
pub use annotation_context::{annotation_context, Annotated, AnnotationContext, AnnotationGuard};
pub use clock::now_epoch_ns;
pub use context::{Context, ContextGuard};
pub use document::Document;
pub use error::{AnnotateError, EvaluationError, ExportError, FeedbackError, PropagationError};
pub use evaluate::{export_span, submit_evaluation, Evaluation};
pub use evaluation::{
    Assessment, EvalScope, EvaluationMetric, EvaluationValue, ExportedSpan, JoinOn, Submitter,
};
pub use feedback::{submit_feedback, Feedback};
pub use gate::is_enabled;

/// Turns span recording on or off for the whole process. Called by `init()` and by the
/// exporter's shutdown. Turning it on installs the chained panic hook that lets spans record
/// the panics that unwind through them. Not a public API: users call `llmobs::init()`.
#[doc(hidden)]
pub fn set_enabled(on: bool) {
    if on {
        panic::install_hook();
    }
    gate::set_enabled(on);
}
pub use id::{SpanId, TraceId};
pub use instrument::{Instrument, Instrumented, NoOutcome, WithContext};
pub use kind::SpanKind;
pub use link::{LinkError, LinkSide, SpanLink};
pub use message::{Message, ToolCall, ToolResult};
pub use metrics::{IntoIter as MetricsIntoIter, Metrics};
pub use prompt::{Prompt, ToolDefinition};
pub use propagation::{
    activate_distributed_headers, extract_distributed_headers, inject_distributed_headers,
    HeaderCarrier, RemoteContextGuard,
};
pub use settings::{default_ml_app, set_default_ml_app, DEFAULT_ML_APP};
pub use shared_str::{SharedStr, ToSharedStr};
pub use sink::{
    evaluations_lost_to_sink_panics, set_sink, spans_dropped_without_sink,
    spans_lost_to_sink_panics, Sink,
};
pub use span::{
    agent, embedding, llm, retrieval, task, tool, workflow, DetachedSpan, Span, SpanBuilder,
};
pub use span_batch::SpanBatch;
pub use span_event::{AgentAttribution, Annotations, SpanError, SpanEvent, SpanIo};
pub use span_ref::SpanRef;

/// What the attributes expand to. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::capture::{Cap, ViaDebug, ViaNothing, ViaSerialize};
    pub use crate::instrument::{instrument, Instrumented};
    pub use crate::outcome::{
        ErrRef, ErrViaDebug, ErrViaDisplay, ErrViaNothing, ErrViaStd, Ret, SplitPlain, SplitResult,
    };
    pub use crate::recycle::{kept_on_this_thread, send_home};
    pub use crate::span::{CapturedArgs, Outcome, PendingSpan};
    pub use crate::{SharedStr, Span, SpanBuilder, SpanKind};

    /// The one check an attribute makes when LLM Observability is off.
    #[inline(always)]
    pub fn gate_open() -> bool {
        crate::gate::is_open()
    }

    /// Runs `f` out of line: work only a recorded span does (capturing arguments) stays out of
    /// the instrumented function's frame, so the disabled path does not pay to set it up.
    #[inline(never)]
    #[cold]
    pub fn out_of_line<R, F: FnOnce() -> R>(f: F) -> R {
        f()
    }

    /// Calls `f` once. Passing the body as an `FnOnce` (rather than calling a closure directly)
    /// makes the compiler treat it as `FnOnce`, so bodies may return borrows of `&mut self`.
    #[inline(always)]
    pub fn call_once<R, F: FnOnce() -> R>(f: F) -> R {
        f()
    }

    /// Lets a desugared `async fn` capture every lifetime of its arguments in its `impl Future`.
    pub trait Captures<T: ?Sized> {}
    impl<T: ?Sized, U: ?Sized> Captures<T> for U {}
}
