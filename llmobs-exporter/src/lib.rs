//! Delivery of `llmobs` spans and evaluations: to Datadog LLM Observability, to local mode, and
//! to any [`Destination`] added beside them.
//!
//! Finished spans cross the core's [`llmobs_core::Sink`] boundary into a bounded queue; one
//! pipeline thread turns them into records, runs the processors and redaction once, and offers
//! the result to each destination. The built-in destination encodes exactly as the reference
//! SDK does and delivers through the Datadog Agent, directly to the intake, or (with neither
//! available) to stderr and a local JSONL file.
//!
//! Layers, bottom to top (a module imports only from layers below it):
//! - settings and values: `config`, `error`, `stats`, `retry`, `redact`;
//! - the wire: `payload` (payload types, packing under the size limit), `encode` (the intake's
//!   JSON), `transport` (HTTP and the Agent probe);
//! - `destination` (the trait) and its implementations, `destination/datadog.rs` and
//!   `destination/local.rs`;
//! - `queue` (the application's half: hand-over and accounting), `pipeline` (the thread);
//! - `exporter` (start, flush, shutdown) and `global` ([`init`] and the guard).
//!
//! ```no_run
//! # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
//! fn main() -> Result<(), llmobs::Error> {
//!     let _llmobs = llmobs::Config::from_env()?
//!         .ml_app("furnish-hub")
//!         .processor(|span| {
//!             span.annotations_mut().tags.remove("internal");
//!             llmobs::Keep::Yes
//!         })
//!         .init()?;
//!     // ... instrumented work ...
//!     let report = llmobs::flush();
//!     eprintln!("delivered {}, dropped {}", report.delivered, report.dropped);
//!     Ok(())
//! }
//! ```
//!
//! See `docs/exporting.md` for how spans leave the process and `docs/configuration.md` for
//! every setting.

#![deny(missing_docs)]

mod config;
mod destination;
mod encode;
mod error;
mod exporter;
mod global;
mod json_text;
mod payload;
mod pipeline;
mod queue;
mod redact;
mod retry;
mod sampling;
mod stats;
mod transport;
mod unix_socket;
mod viewer;

#[cfg(feature = "otlp")]
pub use config::OtlpProtocol;
pub use config::{
    validate_ml_app, Config, Keep, Mode, DEFAULT_EVENT_SIZE_BYTES, DEFAULT_PAYLOAD_SIZE_BYTES,
};
pub use destination::{Destination, Framing, Payload, PayloadKind, Payloads, Sent};
pub use encode::{
    EncodedSpan, Encoder, DROPPED_IO_COLLECTION_ERROR, DROPPED_VALUE_TEXT, TRACER_VERSION,
};
pub use error::{Error, ML_APP_RULE};
pub use exporter::Exporter;
pub use global::{flush, flush_with_timeout, init, shutdown, stats, LlmObsGuard};
pub use redact::{Detector, Redaction};
pub use sampling::SamplingRule;
pub use stats::{Drops, FlushReport, Stats};
pub use viewer::{write_viewer, ViewerReport};
