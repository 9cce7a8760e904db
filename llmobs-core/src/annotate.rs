//! Annotating a span: input and output, metadata, metrics, tags, prompt, tool definitions,
//! session and user.
//!
//! The builder collects everything first and validates it as a whole when applied, so a failed
//! annotation leaves the span untouched (the reference SDK applies fields one by one and can
//! leave a span half-annotated).

use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::error::AnnotateError;
use crate::metrics::KNOWN_METRICS;
use crate::span_ref::{self, Missing, SpanRef};
use crate::{
    AgentManifest, Annotations, Document, ExportedSpan, LinkSide, Message, Prompt, SharedStr,
    SpanIo, SpanKind, SpanLink, ToolCall, ToolDefinition, ToolResult,
};

/// Starts an annotation of the current span (or of a given one, with
/// [`apply_to`](Annotate::apply_to)).
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Message, Prompt};
/// # fn main() -> Result<(), llmobs::AnnotateError> {
/// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
/// let chat = llmobs::llm("chat").model_name("gpt-4o-mini").start();
/// llmobs::annotate()
///     .input_messages([Message::system("You are helpful."), Message::user("When does my sofa ship?")])
///     .output_messages([Message::assistant("In 3 days.")])
///     .metadata("temperature", 0.7)
///     .metric("input_tokens", 12)
///     .metric("output_tokens", 4)
///     .tag("team", "cx")
///     .prompt(Prompt::template("Answer {{question}}").id("support").variable("question", "ship?"))
///     .apply()?;
/// # Ok(()) }
/// ```
pub fn annotate() -> Annotate {
    Annotate::default()
}

/// An annotation being built. Made by [`annotate`]; nothing is recorded until
/// [`apply`](Annotate::apply) or [`apply_to`](Annotate::apply_to).
///
/// Calls add up: metadata, metrics and tags are merged into what the span already has (a later
/// value for the same key wins); input, output, prompt and tool definitions replace earlier ones.
/// An explicit input or output also stops the span's automatic capture from replacing it.
#[derive(Debug, Default, Clone)]
#[must_use = "an annotation does nothing until `.apply()` or `.apply_to(&span)`"]
pub struct Annotate {
    /// What the span will record, built in the allocation the span keeps: the first annotation
    /// of a span moves it in whole, and the builder stays small to move between calls. Input
    /// and output hold what was given; `write` checks and converts them for the span's kind.
    rec: Option<Box<Annotations>>,
    /// Tool definitions were given (possibly none), replacing the span's.
    tools_set: bool,
    session_id: Option<SharedStr>,
    /// The first problem found while building, reported by `apply`.
    error: Option<Box<AnnotateError>>,
}

/// A number accepted as a metric or a score: any primitive integer or float.
///
/// Integers stay integers on the wire; floats must be finite.
///
/// ```
/// # use llmobs_core as llmobs;
/// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
/// # let _s = llmobs::llm("chat").start();
/// llmobs::annotate().metric("input_tokens", 4u32).metric("cost_usd", 0.0012).apply().unwrap();
/// ```
pub trait MetricValue: sealed::Sealed {
    #[doc(hidden)]
    fn to_number(self) -> Result<Number, f64>;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! metric_ints {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl MetricValue for $t {
            fn to_number(self) -> Result<Number, f64> {
                Ok(Number::from(self))
            }
        }
    )*};
}
metric_ints!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl sealed::Sealed for f64 {}
impl MetricValue for f64 {
    fn to_number(self) -> Result<Number, f64> {
        Number::from_f64(self).ok_or(self)
    }
}
impl sealed::Sealed for f32 {}
impl MetricValue for f32 {
    fn to_number(self) -> Result<Number, f64> {
        f64::from(self).to_number()
    }
}

impl Annotate {
    /// What is being built, allocated on first use.
    #[inline]
    fn rec(&mut self) -> &mut Annotations {
        self.rec.get_or_insert_with(Annotations::boxed)
    }

    /// Sets the input or output messages.
    fn messages(&mut self, output: bool, messages: impl IntoIterator<Item = Message>) {
        let list = messages.into_iter().collect();
        let a = self.rec();
        let io = if output { &mut a.output } else { &mut a.input };
        *io = Some(SpanIo::Messages(list));
    }

    fn fail(&mut self, e: AnnotateError) {
        if self.error.is_none() {
            self.error = Some(Box::new(e));
        }
    }

    fn json_of(
        &mut self,
        field: impl FnOnce() -> String,
        value: &(impl Serialize + ?Sized),
    ) -> Option<Value> {
        // A user's `Serialize` that panics must not take the instrumented call down with it.
        let converted = crate::panic::quietly(|| serde_json::to_value(value));
        let Ok(converted) = converted else {
            self.fail(AnnotateError::NotSerializable {
                field: field(),
                reason: "its Serialize implementation panicked".to_owned(),
            });
            return None;
        };
        match converted {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(AnnotateError::NotSerializable {
                    field: field(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }

    /// Sets the input messages of an `llm` span.
    pub fn input_messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages(false, messages);
        self
    }

    /// Sets the output messages of an `llm` span.
    pub fn output_messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.messages(true, messages);
        self
    }

    /// Sets the input documents of an `embedding` span.
    pub fn input_documents(mut self, documents: impl IntoIterator<Item = Document>) -> Self {
        let documents = self.finite_scores(documents.into_iter().collect());
        self.rec().input = Some(SpanIo::Documents(documents));
        self
    }

    /// Sets the output documents of a `retrieval` span.
    pub fn output_documents(mut self, documents: impl IntoIterator<Item = Document>) -> Self {
        let documents = self.finite_scores(documents.into_iter().collect());
        self.rec().output = Some(SpanIo::Documents(documents));
        self
    }

    /// A NaN or infinite score would be sent as `null`, which the reference rejects: fail instead.
    fn finite_scores(&mut self, documents: Vec<Document>) -> Vec<Document> {
        if let Some((index, value)) = documents
            .iter()
            .enumerate()
            .find_map(|(i, d)| d.score.filter(|s| !s.is_finite()).map(|s| (i, s)))
        {
            self.fail(AnnotateError::NonFiniteScore { index, value });
        }
        documents
    }

    /// Sets the input from any serializable value.
    ///
    /// On `workflow`, `task`, `tool`, `agent` and `retrieval` spans it is recorded as a value: a
    /// string verbatim, anything else as JSON text. On an `llm` span the value is read as messages
    /// (a string becomes one message with an empty role; an object `{"role", "content"}` or a list
    /// of them), and on an `embedding` span as documents (a string, an object `{"text", ...}` or
    /// a list of them). The typed [`input_messages`](Self::input_messages) and
    /// [`input_documents`](Self::input_documents) say the same more precisely.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
    /// let _t = llmobs::task("parse").start();
    /// llmobs::annotate().input(&serde_json::json!({"order": 42})).output(&"parsed").apply().unwrap();
    /// ```
    pub fn input(mut self, value: &(impl Serialize + ?Sized)) -> Self {
        if let Some(v) = self.json_of(|| "input".into(), value) {
            self.rec().input = Some(SpanIo::Value(v));
        }
        self
    }

    /// Sets the output from any serializable value.
    ///
    /// Recorded as a value on every kind but `llm` (read as messages, see [`input`](Self::input))
    /// and `retrieval` (read as documents).
    pub fn output(mut self, value: &(impl Serialize + ?Sized)) -> Self {
        if let Some(v) = self.json_of(|| "output".into(), value) {
            self.rec().output = Some(SpanIo::Value(v));
        }
        self
    }

    /// Adds a metadata entry (`meta.metadata`); entries are merged across annotations. The key
    /// `_dd` is reserved.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let key = key.into();
        if key == "_dd" {
            self.fail(AnnotateError::ReservedMetadataKey);
            return self;
        }
        if let Some(v) = self.json_of(|| format!("metadata[{key:?}]"), &value) {
            self.rec().metadata.insert(key, v);
        }
        self
    }

    /// Adds a numeric metric, such as `input_tokens`, `output_tokens`, `total_tokens` or a cost.
    ///
    /// A `.` in the key is replaced by `_` (the intake rejects spans whose metric keys contain
    /// dots), with a warning in the log. NaN and infinities are rejected when applied.
    ///
    /// The token counts the intake knows (`input_tokens`, `output_tokens`, `total_tokens` and the
    /// cache and reasoning variants) are recorded without copying the key.
    pub fn metric(mut self, key: impl AsRef<str>, value: impl MetricValue) -> Self {
        self.add_metric(key.as_ref(), value.to_number());
        self
    }

    fn add_metric(&mut self, key: &str, value: Result<Number, f64>) {
        let fixed;
        let key = match SharedStr::known(key, KNOWN_METRICS) {
            Some(_) => key,
            None if key.contains('.') => {
                fixed = key.replace('.', "_");
                log::warn!("llmobs: metric key `{key}` contains '.', which the intake rejects; recording it as `{fixed}`");
                fixed.as_str()
            }
            None => key,
        };
        let n = match value {
            Ok(n) => n,
            Err(value) => {
                return self.fail(AnnotateError::NonFiniteMetric {
                    key: key.to_string(),
                    value,
                })
            }
        };
        let key = SharedStr::known_or_copy(key, KNOWN_METRICS);
        self.rec().metrics.insert(key, n);
    }

    /// Adds a tag (`key:value` on the span). Any `Display` value is accepted.
    ///
    /// The key `session_id` sets the span's session, as [`session_id`](Self::session_id) does.
    pub fn tag(mut self, key: impl Into<String>, value: impl std::fmt::Display) -> Self {
        let key = key.into();
        let value = value.to_string();
        if key == "session_id" {
            self.session_id = Some(value.into());
        } else {
            self.rec().tags.insert(key, value);
        }
        self
    }

    /// Sets the prompt template of an `llm` span. It must have exactly one of `template` and
    /// `chat_template`.
    ///
    /// A prompt on another kind of span is recorded but not sent (as the reference SDK does, the
    /// span is still tagged as having an annotated prompt).
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        match (&prompt.template, &prompt.chat_template) {
            (Some(_), Some(_)) => self.fail(AnnotateError::InvalidPrompt {
                reason: "it sets both `template` and `chat_template`; build it with exactly one of \
                         Prompt::template(..) or Prompt::chat_template(..)",
            }),
            (None, None) => self.fail(AnnotateError::InvalidPrompt {
                reason: "it sets neither `template` nor `chat_template`; build it with Prompt::template(..) \
                         or Prompt::chat_template(..)",
            }),
            _ => {
                let a = self.rec();
                a.prompt = Some(prompt);
                a.prompt_annotated = true;
            }
        }
        self
    }

    /// Sets the tools offered to the model (`llm` spans). Definitions with an empty name are
    /// skipped with a warning in the log.
    pub fn tool_definitions(mut self, tools: impl IntoIterator<Item = ToolDefinition>) -> Self {
        let mut kept = Vec::new();
        for (i, t) in tools.into_iter().enumerate() {
            if t.name.trim().is_empty() {
                log::warn!("llmobs: tool definition at index {i} has an empty name and is skipped; give every tool a name");
            } else {
                kept.push(t);
            }
        }
        self.rec().tool_definitions = kept;
        self.tools_set = true;
        self
    }

    /// Sets the span's session. Spans started under it afterwards inherit it.
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(SharedStr::from(session_id.into()));
        self
    }

    /// Links this span to `span` (an [`export_span`](crate::export_span) result, possibly of
    /// another trace or process): `span`'s output is this span's input. Links add up across
    /// annotations. A span that was not recorded (LLM Observability off) is skipped; ids that
    /// [`export_span`](crate::export_span) could not have returned fail with
    /// [`AnnotateError::InvalidLink`].
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
    /// let plan = {
    ///     let _p = llmobs::task("plan").start();
    ///     llmobs::export_span(None).unwrap()
    /// };
    /// let _run = llmobs::tool("run_plan").start();
    /// llmobs::annotate().link(&plan).apply().unwrap();
    /// ```
    pub fn link(self, span: &ExportedSpan) -> Self {
        self.link_between(span, LinkSide::Output, LinkSide::Input)
    }

    /// Links the `from` side of `span` to the `to` side of this span (see [`link`](Self::link)).
    pub fn link_between(mut self, span: &ExportedSpan, from: LinkSide, to: LinkSide) -> Self {
        if !span.is_recorded() {
            return self;
        }
        match SpanLink::between(span, from, to) {
            Ok(link) => self.rec().span_links.push(link),
            Err(e) => self.fail(AnnotateError::InvalidLink(e)),
        }
        self
    }

    /// Describes the agent an `agent` span runs: its `agent_version` tag and the manifest
    /// Datadog shows (see [`AgentManifest`]). Ignored on spans of other kinds, as in the
    /// reference.
    pub fn agent(mut self, manifest: AgentManifest) -> Self {
        self.rec().agent_manifest = Some(manifest);
        self
    }

    /// Names the tags that attribute the span's cost (such as `team`), sent as
    /// `meta.metadata._dd.cost_tags`; keys the span has no tag for are left out when it is sent.
    pub fn cost_tags<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.rec().cost_tags = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Tags the span with the end user's id (`user_id`).
    pub fn user_id(self, id: impl Into<String>) -> Self {
        self.tag("user_id", id.into())
    }

    /// Tags the span with the end user's handle (`user_handle`), such as an email address.
    pub fn user_handle(self, handle: impl Into<String>) -> Self {
        self.tag("user_handle", handle.into())
    }

    /// Tags the span with the end user's display name (`user_name`).
    pub fn user_name(self, name: impl Into<String>) -> Self {
        self.tag("user_name", name.into())
    }

    /// Applies the annotation to the current span of this thread.
    ///
    /// Everything is validated first; on error nothing is recorded. When LLM Observability is
    /// disabled and no test capture is in scope, this does nothing and returns `Ok(())`, so
    /// instrumented code behaves the same with the SDK off.
    ///
    /// From another thread or an async task that does not run under the span, use
    /// [`apply_to`](Self::apply_to).
    pub fn apply(self) -> Result<(), AnnotateError> {
        self.apply_on(None)
    }

    /// Applies the annotation to the given span: a [`crate::Span`] or [`crate::DetachedSpan`].
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
    /// let bg = llmobs::task("background").start_detached();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| llmobs::annotate().output(&"done").apply_to(&bg).unwrap());
    /// });
    /// bg.finish();
    /// ```
    ///
    /// A span handle that is not recorded (LLM Observability disabled) is accepted and ignored.
    pub fn apply_to(self, span: &impl SpanRef) -> Result<(), AnnotateError> {
        self.apply_on(Some(span))
    }

    fn apply_on(self, span: Option<&dyn SpanRef>) -> Result<(), AnnotateError> {
        let Annotate {
            rec,
            tools_set,
            session_id,
            error,
        } = self;
        let found = match session_id {
            // Annotations alone: written where the span keeps them, without a full record.
            None => span_ref::with_annotations(span, |kind, slot| match error {
                Some(err) => Err(*err),
                None => write(rec, tools_set, kind, slot),
            }),
            // A session changes what the span's descendants inherit: that needs the record.
            Some(session) => span_ref::with_event(span, |e| match error {
                Some(err) => Err(*err),
                None => {
                    write(rec, tools_set, e.kind, &mut e.annotations)?;
                    e.session_id = Some(session);
                    Ok(())
                }
            }),
        };
        match found {
            Ok(r) => r,
            Err(Missing::NotRecording) | Err(Missing::NoSpan { quiet: true }) => Ok(()),
            Err(Missing::NoSpan { quiet: false }) => Err(AnnotateError::NoActiveSpan),
            Err(Missing::Finished) => Err(AnnotateError::SpanFinished),
        }
    }
}

/// Validates what an annotation built against the span's kind, then records it in the span's
/// annotations (`slot`); nothing is written if validation fails.
fn write(
    rec: Option<Box<Annotations>>,
    tools_set: bool,
    kind: SpanKind,
    slot: &mut Option<Box<Annotations>>,
) -> Result<(), AnnotateError> {
    let Some(mut new) = rec else {
        return Ok(());
    };
    if let Some(io) = new.input.take() {
        new.input = Some(convert(io, kind, true)?);
        new.input_explicit = true;
    }
    if kind != SpanKind::Agent {
        new.agent_manifest = None;
    } else if let Some(version) = new.agent_manifest.as_ref().and_then(|m| m.version.clone()) {
        new.tags.insert("agent_version".into(), version);
    }
    if let Some(io) = new.output.take() {
        new.output = Some(convert(io, kind, false)?);
        new.output_explicit = true;
    }
    if let Some(mut old) = slot.take() {
        if old.holds_only_model() {
            // A model span's first annotation: the model joins the new box.
            new.model_name = old.model_name.take().or(new.model_name.take());
            new.model_provider = old.model_provider.take().or(new.model_provider.take());
            new.name = old.name.take();
        } else {
            inherit(&mut new, *old, tools_set);
        }
    }
    *slot = Some(new);
    Ok(())
}

/// Completes a newer annotation with what an earlier one recorded and it does not replace, so
/// that the newer one's allocation becomes the span's: metadata, metrics and tags merge (newer
/// values win), input, output, prompt and tool definitions are kept unless given again.
fn inherit(new: &mut Annotations, old: Annotations, tools_set: bool) {
    let Annotations {
        model_name,
        model_provider,
        input,
        output,
        metadata,
        metrics,
        tags,
        prompt,
        tool_definitions,
        collection_errors,
        prompt_annotated,
        input_explicit,
        output_explicit,
        name,
        span_links,
        agent_manifest,
        cost_tags,
    } = old;
    new.name = new.name.take().or(name);
    new.model_name = new.model_name.take().or(model_name);
    new.model_provider = new.model_provider.take().or(model_provider);
    if new.input.is_none() {
        (new.input, new.input_explicit) = (input, input_explicit);
    }
    if new.output.is_none() {
        (new.output, new.output_explicit) = (output, output_explicit);
    }
    if new.metadata.is_empty() {
        new.metadata = metadata;
    } else {
        for (k, v) in metadata {
            new.metadata.entry(k).or_insert(v);
        }
    }
    new.metrics.fill_from(metrics);
    if new.tags.is_empty() {
        new.tags = tags;
    } else {
        for (k, v) in tags {
            new.tags.entry(k).or_insert(v);
        }
    }
    new.prompt = match (prompt, new.prompt.take()) {
        // A later prompt updates the earlier one (an annotation context's, say) key by key.
        (Some(old), Some(newer)) => Some(old.updated_by(newer)),
        (old, newer) => newer.or(old),
    };
    new.prompt_annotated |= prompt_annotated;
    if !tools_set {
        new.tool_definitions = tool_definitions;
    }
    if new.collection_errors.is_empty() {
        new.collection_errors = collection_errors;
    }
    if new.cost_tags.is_empty() {
        new.cost_tags = cost_tags;
    }
    new.agent_manifest = match (agent_manifest, new.agent_manifest.take()) {
        (Some(old), Some(newer)) => Some(old.updated_by(&newer)),
        (old, newer) => newer.or(old),
    };
    if !span_links.is_empty() {
        // Links add up, earlier ones first.
        let added = std::mem::replace(&mut new.span_links, span_links);
        new.span_links.extend(added);
    }
}

/// Turns an input/output as given into what a span of `kind` records there.
fn convert(arg: SpanIo, kind: SpanKind, is_input: bool) -> Result<SpanIo, AnnotateError> {
    let field = if is_input { "input" } else { "output" };
    let documents_kind = if is_input {
        SpanKind::Embedding
    } else {
        SpanKind::Retrieval
    };
    match arg {
        SpanIo::Messages(m) if kind == SpanKind::Llm => Ok(SpanIo::Messages(m)),
        SpanIo::Messages(_) => Err(AnnotateError::MessagesOnNonLlmSpan {
            field: if is_input {
                "input_messages"
            } else {
                "output_messages"
            },
            kind,
        }),
        SpanIo::Documents(d) if kind == documents_kind => Ok(SpanIo::Documents(d)),
        SpanIo::Documents(_) => Err(AnnotateError::DocumentsOnWrongKind {
            field: if is_input {
                "input_documents"
            } else {
                "output_documents"
            },
            kind,
            expected: documents_kind,
        }),
        SpanIo::Value(v) if kind == SpanKind::Llm => parse_messages(v)
            .map(SpanIo::Messages)
            .map_err(|reason| AnnotateError::InvalidIo {
                field,
                kind,
                reason,
            }),
        SpanIo::Value(v) if kind == documents_kind => parse_documents(v)
            .map(SpanIo::Documents)
            .map_err(|reason| AnnotateError::InvalidIo {
                field,
                kind,
                reason,
            }),
        SpanIo::Value(v) => Ok(SpanIo::Value(v)),
    }
}

fn one_or_many(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => vec![other],
    }
}

fn opt_string(
    obj: &mut Map<String, Value>,
    key: &str,
    at: usize,
) -> Result<Option<String>, String> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("item {at}: `{key}` must be a string, got {other}")),
    }
}

fn parse_messages(v: Value) -> Result<Vec<Message>, String> {
    one_or_many(v)
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(Message::new("", s)),
            Value::Object(mut o) => {
                let content = opt_string(&mut o, "content", i)?.unwrap_or_default();
                let role = opt_string(&mut o, "role", i)?.unwrap_or_default();
                let mut m = Message::new(role, content);
                m.tool_id = opt_string(&mut o, "tool_id", i)?;
                if let Some(calls) = o.remove("tool_calls") {
                    m.tool_calls = parse_tool_calls(calls, i)?;
                }
                if let Some(results) = o.remove("tool_results") {
                    m.tool_results = parse_tool_results(results, i)?;
                }
                Ok(m)
            }
            other => Err(format!(
                "item {i} is {}, not a string or an object",
                type_name(&other)
            )),
        })
        .collect()
}

fn parse_tool_calls(v: Value, at: usize) -> Result<Vec<ToolCall>, String> {
    one_or_many(v)
        .into_iter()
        .map(|c| {
            let Value::Object(mut c) = c else {
                return Err(format!("item {at}: each tool call must be an object"));
            };
            let name = opt_string(&mut c, "name", at)?.unwrap_or_default();
            let arguments = c
                .remove("arguments")
                .ok_or_else(|| format!("item {at}: a tool call needs `arguments`"))?;
            let mut call = ToolCall::function(name, arguments);
            call.tool_id = opt_string(&mut c, "tool_id", at)?;
            if let Some(kind) = opt_string(&mut c, "type", at)? {
                call.kind = SharedStr::known_or_copy(&kind, &["function"]);
            }
            Ok(call)
        })
        .collect()
}

fn parse_tool_results(v: Value, at: usize) -> Result<Vec<ToolResult>, String> {
    one_or_many(v)
        .into_iter()
        .map(|r| {
            let Value::Object(mut r) = r else {
                return Err(format!("item {at}: each tool result must be an object"));
            };
            let name = opt_string(&mut r, "name", at)?.unwrap_or_default();
            let result = match r.remove("result") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s,
                Some(other) => crate::json::to_python_json(&other),
            };
            let mut res = ToolResult::function(name, result);
            res.tool_id = opt_string(&mut r, "tool_id", at)?;
            if let Some(kind) = opt_string(&mut r, "type", at)? {
                res.kind = SharedStr::known_or_copy(&kind, &["function"]);
            }
            Ok(res)
        })
        .collect()
}

fn parse_documents(v: Value) -> Result<Vec<Document>, String> {
    one_or_many(v)
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(Document::text(s)),
            Value::Object(mut o) => {
                let text = opt_string(&mut o, "text", i)?
                    .ok_or_else(|| format!("item {i} has no `text`"))?;
                let mut d = Document::text(text);
                d.name = opt_string(&mut o, "name", i)?;
                d.id = opt_string(&mut o, "id", i)?;
                d.score = match o.remove("score") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => n.as_f64(),
                    Some(other) => {
                        return Err(format!("item {i}: `score` must be a number, got {other}"))
                    }
                };
                Ok(d)
            }
            other => Err(format!(
                "item {i} is {}, not a string or an object",
                type_name(&other)
            )),
        })
        .collect()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn well_known_roles_and_metric_keys_are_borrowed_and_others_copied() {
        let owned_user = Message::new(String::from("user"), "hi");
        assert!(matches!(owned_user.role, SharedStr::Static("user")));
        assert!(matches!(
            Message::new("critic", "hi").role,
            SharedStr::Shared(_)
        ));
        let mut a = annotate()
            .metric("input_tokens", 1)
            .metric(String::from("cost_usd"), 0.5)
            .metric("a.b", 2);
        let keys: Vec<_> = a.rec().metrics.iter().map(|(k, _)| k.clone()).collect();
        assert!(matches!(keys[0], SharedStr::Shared(ref k) if &**k == "a_b"));
        assert!(matches!(keys[1], SharedStr::Shared(ref k) if &**k == "cost_usd"));
        assert!(matches!(keys[2], SharedStr::Static("input_tokens")));
    }

    #[test]
    fn messages_from_values() {
        let m = parse_messages(json!("hi")).unwrap();
        assert_eq!(m, vec![Message::new("", "hi")]);
        let m =
            parse_messages(json!([{"role": "user", "content": "a"}, {"content": "b"}])).unwrap();
        assert_eq!(m[0].role, "user");
        assert_eq!(m[1].role, "");
        assert!(parse_messages(json!([{"role": "user", "content": 5}])).is_err());
        assert!(parse_messages(json!(123)).is_err());
        assert!(parse_messages(json!([{"content": "", "tool_calls": [{"name": "x"}]}])).is_err());
    }

    #[test]
    fn documents_from_values() {
        let d = parse_documents(json!(["a", {"text": "b", "score": 0.5, "id": "d"}])).unwrap();
        assert_eq!(d[1].score, Some(0.5));
        assert!(parse_documents(json!([1, 2])).is_err());
        assert!(parse_documents(json!([{"name": "x"}])).is_err());
        assert!(parse_documents(json!([{"text": "a", "score": "high"}])).is_err());
    }

    #[test]
    fn metric_values() {
        assert_eq!(4i32.to_number().unwrap(), Number::from(4));
        assert!(f64::NAN.to_number().is_err());
        assert!(f32::INFINITY.to_number().is_err());
    }
}
