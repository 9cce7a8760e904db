//! Streamed model calls: a span that stays open while the reply arrives in chunks, and records
//! what a streamed call looks like once it is over: the time to the first token, the assembled
//! reply, the token usage the last chunk reports, and how it ended.
//!
//! The span starts when the stream is wrapped and finishes when the stream ends, fails or is
//! dropped, never when the function that returned it returns: a streamed reply is read after
//! that. A stream dropped before its end (the caller stopped reading, a request was cancelled)
//! and a stream that yields an error both keep what arrived so far as the output, with an
//! error saying which it was, so that the span is never lost.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The async stream trait ([`futures_core::Stream`]), for [`SpanBuilder::stream_async`].
pub use futures_core::Stream;

use crate::clock;
use crate::message::Message;
use crate::span::{DetachedSpan, SpanBuilder};
use crate::span_event::{SpanError, SpanIo};

/// What one chunk of a streamed reply says, read by the function given to
/// [`SpanBuilder::stream`]: text it adds to the reply, token usage (usually only on the last
/// chunk), or an error.
#[derive(Debug, Default, Clone, PartialEq)]
#[non_exhaustive]
pub struct Chunk<'a> {
    /// Text the chunk adds to the reply.
    pub text: Option<&'a str>,
    /// Input (prompt) tokens of the whole call, as reported.
    pub input_tokens: Option<f64>,
    /// Output (completion) tokens of the whole call, as reported.
    pub output_tokens: Option<f64>,
    /// The stream failed here.
    pub error: Option<String>,
}

impl<'a> Chunk<'a> {
    /// A chunk that adds `text` to the reply.
    pub fn text(text: &'a str) -> Self {
        Chunk {
            text: Some(text),
            ..Chunk::default()
        }
    }
    /// A chunk with nothing to record (a role marker, a keep-alive).
    pub fn nothing() -> Self {
        Chunk::default()
    }
    /// An item that is an error: the span ends as an error, with the reply so far.
    pub fn error(error: impl fmt::Display) -> Self {
        Chunk {
            error: Some(error.to_string()),
            ..Chunk::default()
        }
    }
    /// Adds the token usage the chunk reports.
    pub fn usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.input_tokens = Some(input_tokens as f64);
        self.output_tokens = Some(output_tokens as f64);
        self
    }
}

/// The metric that holds the seconds from the start of the call to its first text.
pub const TIME_TO_FIRST_TOKEN: &str = "time_to_first_token";

/// What has been seen of a stream so far.
#[derive(Debug)]
struct Progress {
    span: DetachedSpan,
    started_ns: u64,
    first_token_s: Option<f64>,
    text: String,
    input_tokens: Option<f64>,
    output_tokens: Option<f64>,
    error: Option<SpanError>,
}

impl Progress {
    fn new(span: DetachedSpan) -> Self {
        Progress {
            span,
            started_ns: clock::mono_ns(),
            first_token_s: None,
            text: String::new(),
            input_tokens: None,
            output_tokens: None,
            error: None,
        }
    }

    fn see(&mut self, chunk: Chunk<'_>) {
        if let Some(t) = chunk.text.filter(|t| !t.is_empty()) {
            if self.first_token_s.is_none() {
                let ns = clock::mono_ns().saturating_sub(self.started_ns);
                self.first_token_s = Some(ns as f64 / 1e9);
            }
            self.text.push_str(t);
        }
        self.input_tokens = chunk.input_tokens.or(self.input_tokens);
        self.output_tokens = chunk.output_tokens.or(self.output_tokens);
        if let Some(e) = chunk.error {
            if self.error.is_none() {
                self.error = Some(SpanError::new("StreamError", e));
            }
        }
    }

    /// Records what was seen and finishes the span.
    fn finish(self, ended: bool) {
        let Progress {
            span,
            first_token_s,
            text,
            input_tokens,
            output_tokens,
            mut error,
            ..
        } = self;
        if !ended && error.is_none() {
            error = Some(SpanError::new(
                "StreamCancelled",
                "the stream was dropped before its end; the output is what arrived until then",
            ));
        }
        span.edit(|e| {
            let a = e.annotations_mut();
            if !text.is_empty() || a.output.is_none() {
                a.output = Some(SpanIo::Messages(vec![Message::assistant(text)]));
            }
            let mut metric = |k: &'static str, v: Option<f64>| {
                if let Some(n) = v.and_then(serde_json::Number::from_f64) {
                    a.metrics.insert(k.into(), n);
                }
            };
            metric("input_tokens", input_tokens);
            metric("output_tokens", output_tokens);
            metric(
                "total_tokens",
                input_tokens.zip(output_tokens).map(|(i, o)| i + o),
            );
            metric(TIME_TO_FIRST_TOKEN, first_token_s);
            if let Some(err) = error {
                e.error = Some(Box::new(err));
            }
        });
        span.finish();
    }
}

pin_project_lite::pin_project! {
    /// A stream of chunks (an [`Iterator`], or an async [`futures_core::Stream`]) whose model
    /// call is recorded as one span, from [`SpanBuilder::stream`]. It yields the inner items
    /// unchanged.
    ///
    /// The span is open until the stream ends; annotate it meanwhile (the input messages, say)
    /// through [`TracedStream::span`].
    pub struct TracedStream<S, F> {
        #[pin]
        inner: S,
        read: F,
        progress: Option<Progress>,
    }

    impl<S, F> PinnedDrop for TracedStream<S, F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(p) = this.project().progress.take() {
                p.finish(false);
            }
        }
    }
}

impl<S, F> TracedStream<S, F> {
    /// The span of the call, for annotations while it streams (a finished stream's span is
    /// gone: annotating it then has no effect).
    pub fn span(&self) -> Option<&DetachedSpan> {
        self.progress.as_ref().map(|p| &p.span)
    }
}

impl<S: fmt::Debug, F> fmt::Debug for TracedStream<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedStream")
            .field("inner", &self.inner)
            .field("open", &self.progress.is_some())
            .finish()
    }
}

impl<S, F> Iterator for TracedStream<S, F>
where
    S: Iterator,
    F: FnMut(&S::Item) -> Chunk<'_>,
{
    type Item = S::Item;

    fn next(&mut self) -> Option<S::Item> {
        let item = self.inner.next();
        match &item {
            Some(it) => {
                if let Some(p) = &mut self.progress {
                    p.see((self.read)(it));
                }
            }
            None => {
                if let Some(p) = self.progress.take() {
                    p.finish(true);
                }
            }
        }
        item
    }
}

impl<S, F> futures_core::Stream for TracedStream<S, F>
where
    S: futures_core::Stream,
    F: FnMut(&S::Item) -> Chunk<'_>,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let item = match this.inner.poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        match &item {
            Some(it) => {
                if let Some(p) = this.progress.as_mut() {
                    p.see((this.read)(it));
                }
            }
            None => {
                if let Some(p) = this.progress.take() {
                    p.finish(true);
                }
            }
        }
        Poll::Ready(item)
    }
}

impl SpanBuilder {
    /// Records a streamed model call read as an [`Iterator`]: the span starts now (a child of
    /// the current span), stays open while `chunks` is read, and finishes when it ends, fails
    /// or is dropped. `read` says what each item holds ([`Chunk`]). The span records the time
    /// to the first text (`time_to_first_token`, seconds), the assembled reply as the
    /// assistant's output message, and the token usage the items report; an item read as
    /// [`Chunk::error`] makes it an error, and a stream dropped before its end a
    /// `StreamCancelled` one, both keeping the reply so far. See
    /// [`stream_async`](Self::stream_async) for an async stream.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// use llmobs::stream::Chunk;
    ///
    /// struct Delta { text: String, usage: Option<(u64, u64)> }
    ///
    /// # let spans = llmobs::testing::capture(|| {
    /// let deltas = vec![
    ///     Delta { text: "Yes, ".into(), usage: None },
    ///     Delta { text: "4 left.".into(), usage: Some((12, 4)) },
    /// ];
    /// let reply = llmobs::llm("chat")
    ///     .model_name("gpt-4o-mini")
    ///     .model_provider("openai")
    ///     .stream(deltas.into_iter(), |d| {
    ///         let c = Chunk::text(&d.text);
    ///         match d.usage { Some((i, o)) => c.usage(i, o), None => c }
    ///     });
    /// let text: String = reply.map(|d| d.text).collect();
    /// assert_eq!(text, "Yes, 4 left.");
    /// # });
    /// # assert_eq!(spans[0].output().unwrap().as_messages().unwrap()[0].content, "Yes, 4 left.");
    /// # assert_eq!(spans[0].metric("output_tokens"), Some(4.0));
    /// ```
    pub fn stream<S, F>(self, chunks: S, read: F) -> TracedStream<S, F>
    where
        S: Iterator,
        F: for<'a> FnMut(&'a S::Item) -> Chunk<'a>,
    {
        self.traced(chunks, read)
    }

    /// [`stream`](Self::stream) for an async [`futures_core::Stream`] (what async model clients
    /// return); the span finishes when the stream ends, fails or is dropped, on whichever
    /// thread polls it.
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// use llmobs::stream::{Chunk, Stream};
    ///
    /// fn traced<S>(deltas: S) -> impl Stream<Item = Result<String, std::io::Error>>
    /// where
    ///     S: Stream<Item = Result<String, std::io::Error>>,
    /// {
    ///     llmobs::llm("chat").model_name("gpt-4o-mini").stream_async(deltas, |item| match item {
    ///         Ok(text) => Chunk::text(text),
    ///         Err(e) => Chunk::error(e),
    ///     })
    /// }
    /// ```
    pub fn stream_async<S, F>(self, chunks: S, read: F) -> TracedStream<S, F>
    where
        S: futures_core::Stream,
        F: for<'a> FnMut(&'a S::Item) -> Chunk<'a>,
    {
        self.traced(chunks, read)
    }

    fn traced<S, F>(self, chunks: S, read: F) -> TracedStream<S, F> {
        let span = self.start_detached();
        let progress = span.is_recording().then(|| Progress::new(span));
        TracedStream {
            inner: chunks,
            read,
            progress,
        }
    }
}
