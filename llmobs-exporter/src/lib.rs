//! Delivery of `llmobs` spans and evaluations to Datadog LLM Observability.
//!
//! Finished spans cross the core's [`llmobs_core::Sink`] boundary into a bounded queue; one
//! worker thread encodes them exactly as the reference SDK does, packs them into requests under
//! the intake's size limit and delivers them through the Datadog Agent, directly to the intake,
//! or (with neither available) to stderr and a local JSONL file.
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
mod payload;
mod pipeline;
mod queue;
mod redact;
mod retry;
mod stats;
mod transport;

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
pub use stats::{Drops, FlushReport, Stats};
