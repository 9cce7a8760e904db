//! Annotation contexts: tags, a prompt, a name, links and an agent manifest applied to every span
//! started inside a scope.
//!
//! A scope is a frame of the span stack ([`crate::stack`]) that is transparent for parenting:
//! spans started while it is on the stack, at any depth, get its annotations when they start,
//! and nothing else changes. It reaches other threads and tasks the way the span context does:
//! [`crate::Context::current`] (and so `in_current_span`) taken inside it carries it. It applies
//! while it is *active*: from `enter` until its guard drops (or, for a future, until the future
//! is dropped), so a task spawned inside it whose spans start after it ended does not get it,
//! as in the reference SDK.
//!
//! Nested scopes apply outer first, then inner, each at span start: tags merge (inner wins per
//! key), the innermost name wins, prompts are updated key by key
//! ([`Prompt::updated_by`](crate::Prompt)), links add up. An annotation made on the span later
//! overrides them all, as it would any earlier annotation.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::error::AnnotateError;
use crate::scope::{Scope, ScopeValues};
use crate::stack;
use crate::{AgentManifest, ExportedSpan, LinkSide, Prompt, SharedStr, SpanLink};

/// Starts building an annotation context.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::Prompt;
/// let spans = llmobs::testing::capture(|| {
///     let _scope = llmobs::annotation_context()
///         .tag("tenant", "acme")
///         .prompt(Prompt::template("Answer {{question}}").id("support"))
///         .enter();
///     let _wf = llmobs::workflow("handle").start();
///     let _chat = llmobs::llm("chat").start();
/// });
/// assert!(spans.iter().all(|s| s.tag("tenant") == Some("acme")));
/// assert_eq!(spans[1].annotations().prompt.as_ref().unwrap().id.as_deref(), Some("support"));
/// ```
pub fn annotation_context() -> AnnotationContext {
    AnnotationContext::default()
}

/// What an annotation context applies, made by [`annotation_context`]; [`enter`](Self::enter)
/// it for sync code, [`scope`](Self::scope) a future with it for async code.
///
/// Invalid input (a prompt with both templates, link ids that
/// [`export_span`](crate::export_span) could not have returned) is left out and the rest
/// applies, as the reference does; the guard or future says what was left out with `error()`,
/// and a warning is logged.
#[derive(Debug, Clone, Default)]
#[must_use = "an annotation context applies nothing until `.enter()` or `.scope(future)`"]
pub struct AnnotationContext {
    values: ScopeValues,
    error: Option<AnnotateError>,
}

impl AnnotationContext {
    fn fail(&mut self, e: AnnotateError) {
        log::warn!("llmobs: annotation context: {e}; left out, the rest applies");
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Tags every span started inside (`key:value`, later values replacing earlier ones). The
    /// key `session_id` sets the spans' session instead, as in [`crate::Annotate::tag`].
    pub fn tag(mut self, key: impl Into<String>, value: impl std::fmt::Display) -> Self {
        let key = key.into();
        let value = value.to_string();
        if key == "session_id" {
            self.values.session_id = Some(value.into());
        } else {
            self.values.tags.retain(|(k, _)| *k != key);
            self.values.tags.push((key, value));
        }
        self
    }

    /// Names every span started inside, whatever name it was given.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.values.name = Some(SharedStr::from(name.into()));
        self
    }

    /// The prompt of the `llm` spans started inside (spans of every kind are tagged as having an
    /// annotated prompt, as the reference does). It may leave out the template when an outer
    /// context gives one: nested prompts are merged key by key.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        if prompt.template.is_some() && prompt.chat_template.is_some() {
            self.fail(AnnotateError::InvalidPrompt {
                reason:
                    "it sets both `template` and `chat_template`; build it with exactly one of \
                         Prompt::template(..) or Prompt::chat_template(..)",
            });
        } else {
            self.values.prompt = Some(prompt);
        }
        self
    }

    /// Links every span started inside to `span`: its output is their input (see
    /// [`crate::Annotate::link`]).
    pub fn link(self, span: &ExportedSpan) -> Self {
        self.link_between(span, LinkSide::Output, LinkSide::Input)
    }

    /// Links the `from` side of `span` to the `to` side of every span started inside.
    pub fn link_between(mut self, span: &ExportedSpan, from: LinkSide, to: LinkSide) -> Self {
        if span.is_recorded() {
            match SpanLink::between(span, from, to) {
                Ok(link) => self.values.links.push(link),
                Err(e) => self.fail(AnnotateError::InvalidLink(e)),
            }
        }
        self
    }

    /// Describes the agent that the `agent` spans started inside run: their `agent_version` tag
    /// and the manifest Datadog shows for them. Spans of other kinds are not changed.
    pub fn agent(mut self, manifest: AgentManifest) -> Self {
        self.values.agent = Some(Arc::new(manifest));
        self
    }

    /// Names the tags that attribute the cost of every span started inside (see
    /// [`crate::Annotate::cost_tags`]).
    pub fn cost_tags<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.values.cost_tags = keys.into_iter().map(Into::into).collect();
        self
    }

    /// What was left out, if anything.
    pub fn error(&self) -> Option<&AnnotateError> {
        self.error.as_ref()
    }

    /// Makes the context active on this thread until the guard drops: every span started here
    /// meanwhile (by an attribute, an inline builder, the `tracing` bridge, or in a task that
    /// took [`crate::Context::current`] here) gets its annotations when it starts.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// let spans = llmobs::testing::capture(|| {
    ///     let _outer = llmobs::annotation_context().tag("a", 1).tag("b", 1).enter();
    ///     let _wf = llmobs::workflow("wf").start();
    ///     {
    ///         let _inner = llmobs::annotation_context().tag("b", 2).name("renamed").enter();
    ///         drop(llmobs::task("step").start());
    ///     }
    ///     drop(llmobs::task("after").start());
    /// });
    /// let tags = |i: usize| (spans[i].name.to_string(), spans[i].tag("a"), spans[i].tag("b"));
    /// assert_eq!(tags(1), ("renamed".into(), Some("1"), Some("2")));
    /// assert_eq!(tags(2), ("after".into(), Some("1"), Some("1")));
    /// ```
    pub fn enter(self) -> AnnotationGuard {
        let AnnotationContext { values, error } = self;
        // The stack frame owns the scope and ends it when it is removed, by the guard or, for a
        // guard that is forgotten, by the poll or the thread it was entered in ending.
        let token = open(values).map_or(0, |scope| stack::push_scope(scope, true));
        AnnotationGuard {
            token,
            error,
            _not_send: PhantomData,
        }
    }

    /// The context active during every poll of `future` (and in what it hands
    /// [`crate::Context::current`] to, such as a spawned task), until the future completes or
    /// is dropped. The future keeps the context it was created in: create it inside the spans
    /// it belongs to.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// let spans = llmobs::testing::capture(|| {
    ///     let work = llmobs::annotation_context().tag("route", "chat").scope(async {
    ///         let _t = llmobs::task("step").start();
    ///     });
    ///     block_on(work);
    /// });
    /// assert_eq!(spans[0].tag("route"), Some("chat"));
    /// ```
    pub fn scope<F: Future>(self, future: F) -> Annotated<F> {
        let AnnotationContext { values, error } = self;
        Annotated {
            future,
            scope: open(values).map(ActiveScope),
            error,
        }
    }
}

/// Ends a scope when dropped: a scoped future's, which pushes it for each poll.
#[derive(Debug)]
struct ActiveScope(Arc<Scope>);

impl Drop for ActiveScope {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A new active scope inside the one active here; `None` when nothing is recorded here.
fn open(values: ScopeValues) -> Option<Arc<Scope>> {
    let parent = stack::current_parent();
    if !crate::gate::is_enabled() && parent.capture.is_none() {
        return None;
    }
    Some(Arc::new(Scope::new(values, parent.scope)))
}

/// Keeps an annotation context active on this thread; made by [`AnnotationContext::enter`].
/// Guards may be dropped in any order.
#[must_use = "the annotation context ends as soon as this guard is dropped"]
#[derive(Debug)]
pub struct AnnotationGuard {
    /// The stack frame of the context (0: none, nothing is recorded).
    token: u64,
    error: Option<AnnotateError>,
    _not_send: PhantomData<*const ()>,
}

impl AnnotationGuard {
    /// What the context left out, if anything (see [`AnnotationContext`]).
    pub fn error(&self) -> Option<&AnnotateError> {
        self.error.as_ref()
    }
}

impl Drop for AnnotationGuard {
    fn drop(&mut self) {
        // Removing the frame ends the context, also where a task carried it.
        if self.token != 0 {
            stack::pop_context(self.token, false);
        }
    }
}

pin_project_lite::pin_project! {
    /// A future with an annotation context active during its polls; made by
    /// [`AnnotationContext::scope`]. The context ends when the future completes or is dropped.
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Annotated<F> {
        #[pin]
        future: F,
        scope: Option<ActiveScope>,
        error: Option<AnnotateError>,
    }
}

impl<F> Annotated<F> {
    /// What the context left out, if anything (see [`AnnotationContext`]).
    pub fn error(&self) -> Option<&AnnotateError> {
        self.error.as_ref()
    }
}

impl<F: Future> Future for Annotated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let Some(scope) = this.scope.as_ref() else {
            return this.future.poll(cx);
        };
        let token = stack::push_scope(scope.0.clone(), false);
        // Popped even if the poll unwinds.
        let frame = PopOnDrop(token);
        let out = this.future.poll(cx);
        drop(frame);
        if out.is_ready() {
            // Done: tasks it handed the context to no longer get it.
            this.scope.take();
        }
        out
    }
}

struct PopOnDrop(u64);

impl Drop for PopOnDrop {
    fn drop(&mut self) {
        stack::pop_context(self.0, false);
    }
}
