//! Destinations: where the pipeline's spans and evaluations go.
//!
//! The pipeline turns every queued trace into records, runs the processors and redaction once,
//! and hands the result to each destination in turn. A destination turns what it takes into
//! payloads (request bodies, file lines) through [`Payloads`], and sends each payload when the
//! pipeline asks. Everything around that is shared, so a destination never re-implements it:
//! packing items into bodies under the payload size limit, retrying with backoff within the
//! retry window, keeping failed payloads in the retry buffer, panic isolation, and the
//! [`crate::Stats`] counters.
//!
//! Built in: the Datadog Agent or intake (`destination/datadog.rs`) and local mode
//! (`destination/local.rs`), one of which is always active (chosen by [`crate::Mode`]). More
//! are added with [`crate::Config::destination`]; each gets exactly what the built-in one gets.

use std::time::Duration;

use llmobs_core::{EvaluationMetric, SpanEvent};

use crate::payload::Batcher;
pub use crate::payload::{Framing, Payload, PayloadKind};

/// The outcome of one [`Destination::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sent {
    /// Delivered.
    Delivered,
    /// Refused for good: sending the same payload again would be refused again (a 4xx other
    /// than 408 and 429, a file that cannot be written). Dropped and counted as
    /// `payload_rejected`; the reason is logged.
    Rejected(String),
    /// Delivered, but the receiver refused some of what the payload held (OTLP's
    /// `partial_success`): those are dropped and counted as `payload_rejected`, the rest as
    /// delivered. Not retried.
    PartlyRejected {
        /// How many spans or evaluations were refused.
        rejected: u64,
        /// Why, for the log.
        reason: String,
    },
    /// Failed in a way worth retrying (no answer, 408, 429, 5xx): retried with backoff, then
    /// kept for later ticks within the retry window and buffer.
    Failed {
        /// Why, for the log.
        reason: String,
        /// How long the server asked to wait (`Retry-After`), capped by
        /// `Config::retry_after_cap`.
        retry_after: Option<Duration>,
    },
}

/// Where a destination puts the payload items it makes from what it takes. The pipeline packs
/// them into bodies with the destination's [`Framing`] under the payload size limit.
pub struct Payloads<'a> {
    pub(crate) spans: &'a mut Batcher,
    pub(crate) evaluations: &'a mut Batcher,
    /// Bodies that filled up, to be sent.
    pub(crate) ready: &'a mut Vec<Payload>,
    pub(crate) added: [u64; 2],
    pub(crate) truncated: u64,
}

impl Payloads<'_> {
    /// Adds one item (one span or one evaluation) that `write` appends to the body in place.
    pub fn add(&mut self, kind: PayloadKind, write: impl FnOnce(&mut Vec<u8>)) {
        self.add_group(kind, 1, write);
    }

    /// Adds one item that holds `count` spans or evaluations (a format that groups them, such
    /// as OTLP's spans under one resource). The item is never split across bodies.
    pub fn add_group(&mut self, kind: PayloadKind, count: u64, write: impl FnOnce(&mut Vec<u8>)) {
        let batcher = match kind {
            PayloadKind::Spans => &mut *self.spans,
            PayloadKind::Evaluations => &mut *self.evaluations,
        };
        if let Some(full) = batcher.push_with(count, write) {
            self.ready.push(full);
        }
        self.added[kind.index()] += count;
    }

    /// Counts a span whose input and output were dropped for size ([`crate::Stats`]'s
    /// `spans_truncated`).
    pub fn count_truncated(&mut self) {
        self.truncated += 1;
    }
}

/// Somewhere spans and evaluations go: a backend, a file, a test's list.
///
/// Each method runs on the exporter's thread; a panic in any of them is caught, and what the
/// call was given is dropped and counted (`sink_panicked`).
///
/// A destination that makes no payloads (it keeps, prints or forwards what it takes) has what it
/// takes counted as delivered when [`Destination::take_spans`] returns:
///
/// ```
/// # mod llmobs { pub use llmobs_core::*; pub use llmobs_exporter::*; }
/// use std::sync::{Arc, Mutex};
/// use llmobs::{Destination, Payloads, SpanEvent};
///
/// #[derive(Clone, Default)]
/// struct Names(Arc<Mutex<Vec<String>>>);
///
/// impl Destination for Names {
///     fn name(&self) -> String {
///         "span names".into()
///     }
///     fn take_spans(&mut self, spans: &[SpanEvent], _out: &mut Payloads<'_>) {
///         let mut names = self.0.lock().unwrap();
///         names.extend(spans.iter().map(|s| s.name.to_string()));
///     }
/// }
///
/// let names = Names::default();
/// let config = llmobs::Config::default().destination(names.clone());
/// # let _ = config;
/// ```
pub trait Destination: Send + 'static {
    /// What to call the destination in log lines, e.g. `the Datadog Agent at http://..`.
    fn name(&self) -> String;

    /// How the destination's payload items are joined into one body. The default joins
    /// nothing: items are concatenated.
    fn framing(&self, kind: PayloadKind) -> Framing {
        let _ = kind;
        Framing::default()
    }

    /// Takes the spans of one trace (or of part of one), in start order, after the processors
    /// and redaction. Each span is added to `out` at most once (alone, or in a group); a span
    /// not added is counted as delivered when this returns.
    fn take_spans(&mut self, spans: &[SpanEvent], out: &mut Payloads<'_>);

    /// Takes one evaluation; the default ignores it (counted as delivered).
    fn take_evaluation(&mut self, metric: &EvaluationMetric, out: &mut Payloads<'_>) {
        let _ = (metric, out);
    }

    /// Sends one payload this destination made. The default delivers nothing and succeeds.
    fn send(&mut self, payload: &Payload) -> Sent {
        let _ = payload;
        Sent::Delivered
    }

    /// Called at the end of each of the pipeline's ticks, after this tick's payloads were
    /// sent (local mode prints its trace trees here).
    fn end_tick(&mut self) {}
}

pub(crate) mod datadog;
pub(crate) mod local;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
