//! What the client tests share: picking spans by kind, and the checks of a streamed reply to
//! the stand-in, which both clients must record alike.

use llmobs::{SpanEvent, SpanKind};

/// The spans of one kind, in capture order.
pub fn by_kind(spans: &[SpanEvent], kind: SpanKind) -> Vec<&SpanEvent> {
    spans.iter().filter(|s| s.kind == kind).collect()
}

/// The one llm span of a streamed "Tell me about the Sol lamp", under `parent`: the stream
/// flag, the assembled reply and the stand-in's word counts (6 in, 8 out).
pub fn assert_streamed_reply<'a>(spans: &'a [SpanEvent], parent: &SpanEvent) -> &'a SpanEvent {
    let llm = by_kind(spans, SpanKind::Llm);
    assert_eq!(llm.len(), 1, "{spans:#?}");
    let s = llm[0];
    assert_eq!(s.parent_id, Some(parent.span_id));
    assert_eq!(s.annotations().metadata["stream"], true);
    let out = s.output().unwrap().as_messages().unwrap();
    assert_eq!(out[0].content, "You asked: Tell me about the Sol lamp");
    assert_eq!(s.metric("input_tokens"), Some(6.0));
    assert_eq!(s.metric("output_tokens"), Some(8.0));
    s
}
