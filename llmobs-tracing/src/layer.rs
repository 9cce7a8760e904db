//! The layer: a `tracing` span with `gen_ai.operation.name` opens an LLM Observability span when
//! it is created, is that span's current context each time it is entered, and finishes it when it
//! closes, with what its fields said by then.
//!
//! The llmobs span is a detached span ([`llmobs_core::DetachedSpan`]) kept in the `tracing`
//! span's extensions: created where the `tracing` span is, so its parent is the llmobs span
//! current there (an attribute's span, or the bridged span of an enclosing `tracing` span), and
//! entered on whichever thread polls the future the `tracing` span instruments, so that spans
//! started inside (a `#[llmobs::tool]` function a rig agent calls) are its children.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use llmobs_core::{ContextGuard, DetachedSpan, SpanBuilder, SpanError, SpanKind};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::fields::Fields;
use crate::genai;

/// Bridged `tracing` spans open now, in every subscriber: while there are none, entering,
/// exiting, recording and closing other spans costs the layer one load.
static OPEN: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The llmobs contexts of the bridged spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<(Id, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

/// Which ordinary spans (without GenAI fields) become task spans.
type TaskFilter = Arc<dyn Fn(&Metadata<'_>) -> bool + Send + Sync>;

/// A [`tracing_subscriber::Layer`] that turns `tracing` spans carrying OpenTelemetry GenAI
/// fields into LLM Observability spans. Made by [`crate::layer`].
#[derive(Clone, Default)]
pub struct LlmObsLayer {
    tasks: Option<TaskFilter>,
}

impl std::fmt::Debug for LlmObsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmObsLayer")
            .field("tasks", &self.tasks.is_some())
            .finish()
    }
}

impl LlmObsLayer {
    /// Also turns the ordinary `tracing` spans (without `gen_ai.operation.name`) that `filter`
    /// accepts into task spans, with their fields as metadata. By default they are ignored.
    ///
    /// ```
    /// # mod llmobs { pub mod tracing { pub use llmobs_tracing::*; } }
    /// let layer = llmobs::tracing::layer().task_spans(|meta| meta.target().starts_with("my_app"));
    /// # drop(layer);
    /// ```
    pub fn task_spans(
        mut self,
        filter: impl Fn(&Metadata<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.tasks = Some(Arc::new(filter));
        self
    }
}

/// What a bridged span keeps in its extensions.
struct Bridged {
    /// Taken when the span closes.
    span: Option<DetachedSpan>,
    fields: Fields,
    /// The name the span started with, from the fields at creation: a later name replaces an
    /// annotation context's name only when recorded fields change it.
    start_name: String,
    /// An error event recorded inside the span.
    error_event: Option<SpanError>,
}

/// The extension, behind a mutex: extensions must be `Sync`, and the span is entered from
/// any thread.
struct Slot(Mutex<Bridged>);

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Bridged> {
    match slot.0.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl<S> tracing_subscriber::Layer<S> for LlmObsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        let genai = meta.fields().field(genai::OPERATION).is_some();
        if !genai && !self.tasks.as_ref().is_some_and(|f| f(meta)) {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let kind = if genai {
            genai::kind(fields.str(genai::OPERATION))
        } else {
            SpanKind::Task
        };
        let start_name = genai::name(&fields, meta.name());
        let mut builder = SpanBuilder::new(kind, start_name.clone());
        if let Some(session) = genai::session(&fields) {
            builder = builder.session_id(session.to_owned());
        }
        if kind.is_model() {
            if let Some(m) = genai::model(&fields) {
                builder = builder.model_name(m.to_owned());
            }
            if let Some(p) = genai::provider(&fields) {
                builder = builder.model_provider(p.to_lowercase());
            }
        }
        let Some(s) = ctx.span(id) else { return };
        let span = builder.start_detached();
        if !span.is_recording() {
            return;
        }
        OPEN.fetch_add(1, Relaxed);
        s.extensions_mut().insert(Slot(Mutex::new(Bridged {
            span: Some(span),
            fields,
            start_name,
            error_event: None,
        })));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if OPEN.load(Relaxed) == 0 {
            return;
        }
        let Some(s) = ctx.span(id) else { return };
        let ext = s.extensions();
        if let Some(slot) = ext.get::<Slot>() {
            values.record(&mut lock(slot).fields);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if OPEN.load(Relaxed) == 0 {
            return;
        }
        let Some(s) = ctx.span(id) else { return };
        let ext = s.extensions();
        let Some(slot) = ext.get::<Slot>() else {
            return;
        };
        let guard = match &lock(slot).span {
            Some(span) => span.enter(),
            None => return,
        };
        // Not during the thread's teardown, when its locals are gone: the span is then simply
        // not current (and the guard, dropped here, leaves the stack as it was).
        let _ = ENTERED.try_with(|e| e.borrow_mut().push((id.clone(), guard)));
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        // A bridged span that is entered is not closed yet, so `OPEN` counts it.
        if OPEN.load(Relaxed) == 0 {
            return;
        }
        let guard = ENTERED
            .try_with(|e| {
                let mut e = e.borrow_mut();
                let at = e.iter().rposition(|(i, _)| i == id)?;
                Some(e.remove(at).1)
            })
            .ok()
            .flatten();
        drop(guard);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if OPEN.load(Relaxed) == 0 || *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(s) = ctx.event_span(event) else {
            return;
        };
        let ext = s.extensions();
        let Some(slot) = ext.get::<Slot>() else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields
            .text("message")
            .or_else(|| fields.text("error"))
            .unwrap_or_default();
        let kind = fields.str("error.type").unwrap_or("Error").to_owned();
        lock(slot).error_event = Some(SpanError::new(kind, message));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if OPEN.load(Relaxed) == 0 {
            return;
        }
        let Some(s) = ctx.span(&id) else { return };
        let Some(slot) = s.extensions_mut().remove::<Slot>() else {
            return;
        };
        OPEN.fetch_sub(1, Relaxed);
        let mut b = match slot.0.into_inner() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        let Some(span) = b.span.take() else { return };
        let span_name = s.name();
        let error_event = b.error_event.take();
        let fields = &b.fields;
        span.edit(|e| {
            if let Some(op) = fields.str(genai::OPERATION) {
                // The operation may be recorded after creation.
                let kind = genai::kind(Some(op));
                if kind != e.kind && e.kind == SpanKind::Task {
                    e.kind = kind;
                }
            }
            genai::apply(fields, span_name, &b.start_name, e);
            if e.error.is_none() {
                e.error = error_event.map(Box::new);
            }
        });
        span.finish();
    }
}
