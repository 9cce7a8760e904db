//! Starting and finishing spans: the builder, the guard that keeps a span active on this thread,
//! and the detached span that can travel between threads.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::parent::ParentRef;
use crate::route::Route;
use crate::scope::Scope;
use crate::stack::{self, SharedEvent};
use crate::{
    clock, gate, Annotations, Message, SharedStr, SpanError, SpanEvent, SpanId, SpanIo, SpanKind,
    ToSharedStr,
};

/// Configures a span before it starts. Made by [`crate::workflow`], [`crate::llm`], ... or by
/// the attributes.
///
/// ```
/// # use llmobs_core as llmobs;
/// let wf = llmobs::workflow("process_message").session_id("s-1").start();
/// let chat = llmobs::llm("chat").model_name("gpt-4o").model_provider("OpenAI").start();
/// chat.finish();
/// wf.finish();
/// ```
#[derive(Debug, Clone)]
#[must_use = "a span builder does nothing until `.start()` or `.start_detached()`"]
pub struct SpanBuilder {
    kind: SpanKind,
    name: SharedStr,
    ml_app: Option<SharedStr>,
    session_id: Option<SharedStr>,
    model_name: Option<SharedStr>,
    model_provider: Option<SharedStr>,
    decorator: bool,
}

impl SpanBuilder {
    /// A builder for a span of this kind and name.
    pub fn new(kind: SpanKind, name: impl Into<SharedStr>) -> Self {
        SpanBuilder {
            kind,
            name: name.into(),
            ml_app: None,
            session_id: None,
            model_name: None,
            model_provider: None,
            decorator: false,
        }
    }

    /// Overrides the ml_app for this span and its descendants.
    #[inline]
    pub fn ml_app(mut self, ml_app: impl ToSharedStr) -> Self {
        if let Some(v) = ml_app.to_shared_str() {
            self.ml_app = Some(v);
        }
        self
    }

    /// Sets the session id for this span and its descendants.
    #[inline]
    pub fn session_id(mut self, session_id: impl ToSharedStr) -> Self {
        if let Some(v) = session_id.to_shared_str() {
            self.session_id = Some(v);
        }
        self
    }

    /// Sets the model name (`llm` and `embedding` spans; ignored on other kinds).
    #[inline]
    pub fn model_name(mut self, name: impl ToSharedStr) -> Self {
        if let Some(v) = name.to_shared_str() {
            self.model_name = Some(v);
        }
        self
    }

    /// Sets the model provider, lower-cased (`llm` and `embedding`; default `"unknown"`, as the reference sends).
    #[inline]
    pub fn model_provider(mut self, provider: impl ToSharedStr) -> Self {
        if let Some(v) = provider.to_shared_str() {
            self.model_provider = Some(if v.chars().any(char::is_uppercase) {
                SharedStr::from(v.to_lowercase())
            } else {
                v
            });
        }
        self
    }

    /// Sets a model provider already known to be lower-case (the attributes lower-case
    /// literals at compile time), skipping the check.
    #[doc(hidden)]
    #[inline]
    pub fn model_provider_lowercase(mut self, provider: &'static str) -> Self {
        self.model_provider = Some(SharedStr::Static(provider));
        self
    }

    #[doc(hidden)]
    pub fn decorator(mut self) -> Self {
        self.decorator = true;
        self
    }

    /// Applies this builder's overrides to a fresh child event going to `route`; `false` when
    /// nothing is recorded (disabled and outside any test capture).
    fn apply(&mut self, e: &mut SpanEvent, route: &Route) -> bool {
        if !gate::is_enabled() && route.is_none() {
            return false;
        }
        e.decorator = self.decorator;
        self.write_overrides(e);
        true
    }

    /// Whether the span needs a full record from the start (it changes what it inherits).
    #[inline]
    fn has_overrides(&self) -> bool {
        self.ml_app.is_some() || self.session_id.is_some()
    }

    /// The model name and provider of a model span, defaulted.
    fn take_model(&mut self) -> (SharedStr, SharedStr) {
        (
            self.model_name
                .take()
                .unwrap_or(SharedStr::Static("unknown")),
            self.model_provider
                .take()
                .unwrap_or(SharedStr::Static("unknown")),
        )
    }

    /// Moves the builder's values into the record, so the builder itself is never moved on the
    /// hot path.
    fn write_overrides(&mut self, e: &mut SpanEvent) {
        if let Some(v) = self.ml_app.take() {
            e.ml_app = Some(v);
        }
        if let Some(v) = self.session_id.take() {
            e.session_id = Some(v);
        }
        if self.kind.is_model() {
            let (name, provider) = self.take_model();
            let a = e.annotations.get_or_insert_with(Annotations::boxed);
            a.model_name = Some(name);
            a.model_provider = Some(provider);
        }
    }

    /// Builds the event as a child of the current span, and where it goes; `None` when
    /// nothing is recorded.
    /// Also applies the annotation context active here (the third value).
    fn build(mut self) -> Option<(SpanEvent, Route, Option<Arc<Scope>>)> {
        if !gate::is_open() {
            return None;
        }
        let (mut e, route, scope) = stack::new_child(self.kind, self.name.clone())?;
        if !self.apply(&mut e, &route) {
            return None;
        }
        if let Some(scope) = &scope {
            scope.apply_to_event(None, &mut e);
        }
        Some((e, route, scope))
    }

    /// Starts the span and makes it the current span of this thread until the returned guard
    /// is dropped or [`Span::finish`]ed.
    #[inline]
    pub fn start(mut self) -> Span {
        if !gate::is_open() {
            return Span::noop();
        }
        let (kind, name, decorator) = (self.kind, self.name.clone(), self.decorator);
        let id = if self.has_overrides() {
            stack::start_span(
                kind,
                name,
                decorator,
                Some(&mut |e: &mut SpanEvent| self.write_overrides(e)),
                None,
            )
        } else if kind.is_model() {
            // The model goes where annotations go, which a slot holds without a full record.
            let (model_name, model_provider) = self.take_model();
            let mut a = Annotations::boxed();
            a.model_name = Some(model_name);
            a.model_provider = Some(model_provider);
            stack::start_span(kind, name, decorator, None, Some(a))
        } else {
            stack::start_span(kind, name, decorator, None, None)
        };
        Span {
            id,
            _not_send: PhantomData,
        }
    }

    /// Starts the span without making it current anywhere. The handle is `Send`: enter it on
    /// any thread with [`DetachedSpan::in_scope`] and finish it from any thread.
    pub fn start_detached(self) -> DetachedSpan {
        match self.build() {
            Some((mut e, route, _)) => {
                e.start_ns = clock::mono_ns();
                let parent = ParentRef::of_span(&e, route);
                DetachedSpan {
                    inner: Some((e.span_id, Arc::new(Mutex::new(Some(e))), parent)),
                }
            }
            None => DetachedSpan { inner: None },
        }
    }

    /// Builds the span for a future: ids and parent now, timing from the first poll.
    #[doc(hidden)]
    pub fn pending(self) -> PendingSpan {
        match self.build() {
            Some((event, route, scope)) => PendingSpan {
                event: Some(event),
                route,
                scope,
            },
            None => PendingSpan::noop(),
        }
    }
}

/// The guard of a span that is active on this thread. Dropping it finishes the span.
///
/// It is not `Send`: a span is active on the thread that started it. Use
/// [`SpanBuilder::start_detached`] for a span that crosses threads. Guards may be dropped in any
/// order.
///
/// # A guard that is never dropped
///
/// A guard that is forgotten (`std::mem::forget`) or outlives its scope cannot finish its span
/// in the usual way. The rules that keep it from capturing every later span:
/// - inside an instrumented future, a guard still alive when the poll that started it ends is
///   closed then: its span ends with an error of type `AbandonedSpan`, and dropping the guard
///   later does nothing (so never hold a guard across `.await`);
/// - spans started under an attached [`crate::Context`] (a test capture, activated distributed
///   headers) are sent as soon as the last of them finishes, whatever stays open below it;
///   attach `Context::default()` to start new traces on a thread where a guard was forgotten;
/// - a span still open when its thread exits ends then, as an `AbandonedSpan` error.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::testing::Capture;
/// # let outer = Capture::new();
/// # let _outer = outer.context().attach();
/// std::mem::forget(llmobs::workflow("forgotten").start());
/// // Under a context attached later (here a test capture's), new spans are roots of their own
/// // traces, and are sent as soon as they finish.
/// let cap = Capture::new();
/// let _g = cap.context().attach();
/// drop(llmobs::task("new_trace").start());
/// assert_eq!(cap.spans().len(), 1);
/// assert_eq!(cap.spans()[0].parent_id, None);
/// ```
#[must_use = "the span finishes as soon as this guard is dropped"]
#[derive(Debug)]
pub struct Span {
    id: Option<SpanId>,
    _not_send: PhantomData<*const ()>,
}

impl Span {
    /// A span that records nothing (LLM Observability disabled).
    #[inline]
    pub fn noop() -> Self {
        Span {
            id: None,
            _not_send: PhantomData,
        }
    }

    /// Whether this span is being recorded.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.id.is_some()
    }

    /// The span id, if the span is recorded.
    pub fn id(&self) -> Option<SpanId> {
        self.id
    }

    /// Finishes the span now.
    pub fn finish(self) {}

    /// Runs `f` on the span's event while it is active.
    pub(crate) fn with_event<R>(&self, f: impl FnOnce(&mut SpanEvent) -> R) -> Option<R> {
        stack::with_span_mut(self.id?, f)
    }

    #[doc(hidden)]
    pub fn record_input(&self, args: CapturedArgs) {
        if let Some(io) = args.into_io() {
            if let Some(id) = self.id {
                stack::with_annotations_mut(id, |_, a| Annotations::set_auto_input(a, io));
            }
        }
    }

    #[doc(hidden)]
    #[inline]
    pub fn record_outcome<R: ?Sized>(&self, ret: &R, outcome: impl FnOnce(&R, bool) -> Outcome) {
        if let Some(id) = self.id {
            record_outcome(id, ret, outcome);
        }
    }

    /// Starts an attribute's span with no options: the attributes' fast path.
    #[doc(hidden)]
    #[inline]
    pub fn enter(kind: SpanKind, name: &'static str) -> Span {
        Span {
            id: stack::enter_span(kind, name),
            _not_send: PhantomData,
        }
    }

    /// Starts an attribute's `llm` or `embedding` span whose model name and provider (lower-cased)
    /// are literals.
    #[doc(hidden)]
    #[inline]
    pub fn enter_model(
        kind: SpanKind,
        name: &'static str,
        model: &'static [&'static str; 2],
    ) -> Span {
        Span {
            id: stack::enter_model_span(kind, name, model),
            _not_send: PhantomData,
        }
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        if let Some(id) = self.id {
            finish_active(id);
        }
    }
}

/// Reads the return value into the span. Out of line: the instrumented function's own frame
/// stays as small as the uninstrumented one's, which is what the disabled path costs.
#[inline(never)]
fn record_outcome<R: ?Sized>(id: SpanId, ret: &R, outcome: impl FnOnce(&R, bool) -> Outcome) {
    let want_output = stack::output_wanted(id);
    let o = outcome(ret, want_output);
    if o.error.is_some() {
        stack::with_span_mut(id, |e| o.apply(e));
    } else if !matches!(o.output, None | Some(Value::Null)) {
        // Output alone goes where annotations go, without building the span's full record.
        stack::with_annotations_mut(id, |kind, a| o.apply_output(kind, a));
    }
}

#[inline(never)]
fn finish_active(id: SpanId) {
    let end = clock::ticks();
    if std::thread::panicking() {
        stack::finish_span(
            id,
            end,
            Some(&mut |e: &mut SpanEvent| {
                if e.error.is_none() {
                    e.error = Some(Box::new(crate::panic::current_panic_error()));
                }
            }),
        );
    } else {
        stack::finish_span(id, end, None);
    }
}

/// Stamps the times on an event whose `start_ns` still holds the monotonic start.
pub(crate) fn stamp(e: &mut SpanEvent, end_mono: u64) {
    e.duration_ns = end_mono.saturating_sub(e.start_ns);
    e.start_ns = clock::to_epoch_ns(e.start_ns);
}

/// Stamps the times on an event and buffers it, to go to `route`.
pub(crate) fn finish_event(mut e: SpanEvent, end_mono: u64, route: Route) {
    stamp(&mut e, end_mono);
    stack::finished(e, route);
}

/// A span that is not tied to a thread: `Send` and `Sync`, entered with [`in_scope`](Self::in_scope),
/// finished from anywhere.
///
/// Dropping it finishes it, like [`Span`]. A detached span that is never finished or dropped
/// (for example one leaked with `std::mem::forget`) is never sent.
///
/// ```
/// # use llmobs_core as llmobs;
/// let bg = llmobs::task("background").start_detached();
/// std::thread::spawn(move || {
///     bg.in_scope(|| { /* spans started here are children of `bg` */ });
///     bg.finish();
/// }).join().unwrap();
/// ```
#[must_use = "the span finishes as soon as this handle is dropped"]
#[derive(Debug)]
pub struct DetachedSpan {
    inner: Option<(SpanId, SharedEvent, ParentRef)>,
}

impl DetachedSpan {
    /// Whether this span is being recorded.
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// The span id, if the span is recorded.
    pub fn id(&self) -> Option<SpanId> {
        self.inner.as_ref().map(|i| i.0)
    }

    /// Runs `f` with this span as the current span of this thread.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = self.enter();
        f()
    }

    /// Makes this span the current span of this thread until the guard is dropped: spans
    /// started meanwhile are its children. The span stays open when the guard is dropped; enter
    /// it again, on this thread or another, and [`finish`](Self::finish) it when its work is
    /// done. This is how a span entered at each poll of a future, or each time a `tracing` span
    /// is entered, is made current.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// # let cap = llmobs::testing::Capture::new();
    /// # let _c = cap.context().attach();
    /// let call = llmobs::agent("agent").start_detached();
    /// for step in ["plan", "act"] {
    ///     let _in = call.enter(); // as a poll would
    ///     drop(llmobs::task(step).start());
    /// }
    /// call.finish();
    /// let spans = cap.spans();
    /// assert_eq!(spans.len(), 3);
    /// assert!(spans.iter().filter(|s| s.name.as_str() != "agent").all(|s| s.parent_id == Some(spans[0].span_id)));
    /// ```
    pub fn enter(&self) -> crate::ContextGuard {
        match &self.inner {
            Some((_, event, parent)) => {
                crate::context::ContextGuard::push(parent.clone(), Some(event.clone()))
            }
            None => crate::context::ContextGuard::noop(),
        }
    }

    /// Edits the span's record while it is open: for bridges that build a span from another
    /// tracing system's fields. `None` once finished or when not recorded.
    #[doc(hidden)]
    pub fn edit<R>(&self, f: impl FnOnce(&mut SpanEvent) -> R) -> Option<R> {
        self.with_event(f)
    }

    /// Finishes the span now.
    pub fn finish(mut self) {
        self.finish_inner();
    }

    pub(crate) fn with_event<R>(&self, f: impl FnOnce(&mut SpanEvent) -> R) -> Option<R> {
        let (_, event, _) = self.inner.as_ref()?;
        let mut g = event.lock().ok()?;
        g.as_mut().map(f)
    }

    fn finish_inner(&mut self) {
        let end = clock::mono_ns();
        if let Some((_, event, parent)) = self.inner.take() {
            let taken = match event.lock() {
                Ok(mut g) => g.take(),
                Err(p) => p.into_inner().take(),
            };
            if let Some(e) = taken {
                finish_event(e, end, parent.capture);
            }
        }
    }
}

impl Drop for DetachedSpan {
    fn drop(&mut self) {
        self.finish_inner();
    }
}

/// A span built for a future, before its first poll.
#[doc(hidden)]
#[derive(Debug)]
pub struct PendingSpan {
    pub(crate) event: Option<SpanEvent>,
    pub(crate) route: Route,
    /// The annotation context applied when it was built: the contexts inside it that are active
    /// at the first poll apply then (`ctx.scope(traced_fn())` builds the span before `ctx` is on
    /// the stack).
    pub(crate) scope: Option<Arc<Scope>>,
}

impl PendingSpan {
    #[doc(hidden)]
    #[inline]
    pub fn noop() -> Self {
        PendingSpan {
            event: None,
            route: None,
            scope: None,
        }
    }

    #[doc(hidden)]
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.event.is_some()
    }

    #[doc(hidden)]
    pub fn record_input(&mut self, args: CapturedArgs) {
        if let (Some(e), Some(io)) = (self.event.as_mut(), args.into_io()) {
            e.set_auto_input(io);
        }
    }
}

/// Arguments captured by an attribute, by parameter name.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct CapturedArgs(Map<String, Value>);

impl CapturedArgs {
    #[doc(hidden)]
    pub fn new() -> Self {
        CapturedArgs(Map::new())
    }
    #[doc(hidden)]
    pub fn arg(&mut self, name: &'static str, value: Option<Value>) {
        if let Some(v) = value {
            self.0.insert(name.to_owned(), v);
        }
    }
    fn into_io(self) -> Option<SpanIo> {
        if self.0.is_empty() {
            None
        } else {
            Some(SpanIo::Value(Value::Object(self.0)))
        }
    }
}

/// What an instrumented function's return value says about its span.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Outcome {
    output: Option<Value>,
    error: Option<SpanError>,
}

impl Outcome {
    #[doc(hidden)]
    pub fn none() -> Self {
        Outcome::default()
    }
    #[doc(hidden)]
    pub fn output(value: Option<Value>) -> Self {
        Outcome {
            output: value,
            error: None,
        }
    }
    #[doc(hidden)]
    pub fn error(error: SpanError) -> Self {
        Outcome {
            output: None,
            error: Some(error),
        }
    }

    pub(crate) fn apply(mut self, e: &mut SpanEvent) {
        if let Some(err) = self.error.take() {
            e.error = Some(Box::new(err));
        }
        self.apply_output(e.kind, &mut e.annotations);
    }

    /// Records the output in the annotations of a span of `kind`.
    fn apply_output(self, kind: SpanKind, a: &mut Option<Box<Annotations>>) {
        match self.output {
            None | Some(Value::Null) => {}
            Some(v) => match kind {
                SpanKind::Llm => {
                    if let Value::String(s) = v {
                        let io = SpanIo::Messages(vec![Message::new("", s)]);
                        Annotations::set_auto_output(a, io);
                    }
                }
                _ => Annotations::set_auto_output(a, SpanIo::Value(v)),
            },
        }
    }
}

macro_rules! kind_fns {
    ($($fn_name:ident => $kind:ident),* $(,)?) => {$(
        #[doc = concat!("A builder for an inline `", stringify!($fn_name), "` span.")]
        ///
        /// The span becomes current when started with `.start()` and finishes when the guard is
        /// dropped or finished.
        pub fn $fn_name(name: impl Into<SharedStr>) -> SpanBuilder {
            SpanBuilder::new(SpanKind::$kind, name)
        }
    )*};
}

kind_fns! {
    llm => Llm,
    embedding => Embedding,
    workflow => Workflow,
    agent => Agent,
    tool => Tool,
    task => Task,
    retrieval => Retrieval,
}
