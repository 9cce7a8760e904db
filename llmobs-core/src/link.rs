//! Span links: "this span's input came from that span's output", across traces too.
//!
//! A link names another span by the ids [`export_span`](crate::export_span) returned, so it can
//! point at a span of another trace, another thread or another process. The ids are parsed when
//! the link is made: a link the intake could not join is an error at `apply`, not a silent gap in
//! the graph (the reference SDK sends whatever it is given).

use std::fmt;

use crate::{ExportedSpan, SpanId, TraceId};

/// Which side of a span a link connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkSide {
    /// The span's input (`"input"`).
    Input,
    /// The span's output (`"output"`).
    Output,
}

impl LinkSide {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkSide::Input => "input",
            LinkSide::Output => "output",
        }
    }
}

impl fmt::Display for LinkSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A link from another span to the span that carries it, sent as an entry of the event's
/// `span_links`: `{"attributes": {"from": "output", "to": "input"}, "span_id", "trace_id"}`.
///
/// `from` is the side of the linked span, `to` the side of this span: the default, output →
/// input, says "the linked span's output is this span's input".
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{LinkSide, SpanLink};
/// # let _cap = llmobs::testing::Capture::new(); let _g = _cap.context().attach();
/// let retrieved = {
///     let _r = llmobs::retrieval("search").start();
///     llmobs::export_span(None).unwrap()
/// };
/// let link = SpanLink::new(&retrieved).unwrap();
/// assert_eq!((link.from, link.to), (LinkSide::Output, LinkSide::Input));
/// assert!(SpanLink::new(&llmobs::ExportedSpan { span_id: "x".into(), trace_id: "y".into() }).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanLink {
    /// The linked span's id.
    pub span_id: SpanId,
    /// The linked span's LLM Observability trace id.
    pub trace_id: TraceId,
    /// The side of the linked span (`attributes.from`).
    pub from: LinkSide,
    /// The side of the span that carries the link (`attributes.to`).
    pub to: LinkSide,
}

impl SpanLink {
    /// A link from `span`'s output to this span's input, the ids parsed from what
    /// [`export_span`](crate::export_span) returned.
    pub fn new(span: &ExportedSpan) -> Result<SpanLink, LinkError> {
        SpanLink::between(span, LinkSide::Output, LinkSide::Input)
    }

    /// A link from the `from` side of `span` to the `to` side of this span.
    pub fn between(
        span: &ExportedSpan,
        from: LinkSide,
        to: LinkSide,
    ) -> Result<SpanLink, LinkError> {
        let span_id = crate::propagation::parse_span_id(&span.span_id)
            .ok_or_else(|| LinkError::new("span_id", &span.span_id))?;
        let trace_id = crate::propagation::parse_hex_trace_id(&span.trace_id)
            .ok_or_else(|| LinkError::new("trace_id", &span.trace_id))?;
        Ok(SpanLink {
            span_id,
            trace_id,
            from,
            to,
        })
    }
}

/// Why a span link could not be made: an id is not what [`export_span`](crate::export_span)
/// returns.
///
/// ```
/// # use llmobs_core as llmobs;
/// let bad = llmobs::ExportedSpan { span_id: "12".into(), trace_id: "abc".into() };
/// let err = llmobs::SpanLink::new(&bad).unwrap_err();
/// assert!(err.to_string().contains("trace_id"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkError {
    /// `span_id` or `trace_id`.
    pub field: &'static str,
    /// The value given.
    pub value: String,
}

impl LinkError {
    fn new(field: &'static str, value: &str) -> LinkError {
        LinkError {
            field,
            value: value.to_owned(),
        }
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = if self.field == "span_id" {
            "a non-zero decimal number"
        } else {
            "32 hexadecimal characters"
        };
        write!(
            f,
            "cannot link to a span whose {} is {:?}: it must be {shape}; take the ids from \
             llmobs::export_span(..)",
            self.field, self.value
        )
    }
}

impl std::error::Error for LinkError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn exported(span_id: &str, trace_id: &str) -> ExportedSpan {
        ExportedSpan {
            span_id: span_id.into(),
            trace_id: trace_id.into(),
        }
    }

    #[test]
    fn ids_are_read_as_export_span_writes_them_and_nothing_else() {
        let trace = "0000000000000000000000000000002a";
        let link = SpanLink::new(&exported("12", trace)).expect("valid ids");
        assert_eq!((link.span_id, link.trace_id), (SpanId(12), TraceId(42)));
        for (span_id, trace_id, field) in [
            ("+12", trace, "span_id"),
            ("0", trace, "span_id"),
            ("undefined", trace, "span_id"),
            ("18446744073709551616", trace, "span_id"),
            ("12", "42", "trace_id"),
            ("12", &trace[1..], "trace_id"),
            ("12", "00000000000000000000000000000000", "trace_id"),
            ("12", "+000000000000000000000000000002a", "trace_id"),
        ] {
            let err = SpanLink::new(&exported(span_id, trace_id)).unwrap_err();
            assert_eq!(err.field, field, "{span_id} {trace_id}");
        }
    }
}
