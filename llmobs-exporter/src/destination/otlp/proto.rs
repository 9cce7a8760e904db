//! The OTLP/HTTP protobuf body written straight from span records: the bytes `prost` would
//! encode for the messages [`super::convert`] builds (fields in number order, defaults left
//! out, minimal varints), without building them. Building them cost about 80 owned strings and
//! a dozen vectors per LLM span, then a pass to measure them and one to encode them; here each
//! attribute's length is known from its key and value, so it is written once, and a span is
//! written into a buffer reused from span to span, then copied behind its length.
//!
//! The unit test encodes the same spans both ways and compares the bytes.

use llmobs_core::SpanEvent;

use super::attributes::{self, Attrs, Scratch};
use super::convert::otel_kind;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least 1.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// A length-delimited field's header.
fn len_field(out: &mut Vec<u8>, field: u32, len: usize) {
    tag(out, field, LEN);
    varint(out, len as u64);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    len_field(out, field, bytes.len());
    out.extend_from_slice(bytes);
}

/// A proto3 string: left out when empty, as `prost` does.
fn string_field(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        bytes_field(out, field, s.as_bytes());
    }
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// The size of a length-delimited field with a one-byte tag.
fn field_size(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// `KeyValue { key, value: AnyValue { <oneof field>: ... } }` as field `field`, the AnyValue's
/// content being `value_len` bytes that `value` writes.
fn key_value(
    out: &mut Vec<u8>,
    field: u32,
    key: &str,
    value_len: usize,
    value: impl FnOnce(&mut Vec<u8>),
) {
    let kv_len = field_size(key.len()) + field_size(value_len);
    len_field(out, field, kv_len);
    bytes_field(out, 1, key.as_bytes());
    len_field(out, 2, value_len);
    value(out);
}

/// Attributes written as `KeyValue` fields of the message being written.
struct Proto<'a> {
    out: &'a mut Vec<u8>,
    field: u32,
}

impl Attrs for Proto<'_> {
    fn str(&mut self, key: &str, value: &str) {
        // AnyValue.string_value (1): a oneof member, written even when empty.
        key_value(self.out, self.field, key, field_size(value.len()), |out| {
            bytes_field(out, 1, value.as_bytes())
        });
    }

    fn text(&mut self, key: &str, value: &[u8]) {
        key_value(self.out, self.field, key, field_size(value.len()), |out| {
            bytes_field(out, 1, value)
        });
    }

    fn int(&mut self, key: &str, value: i64) {
        // AnyValue.int_value (3).
        let v = value as u64;
        key_value(self.out, self.field, key, 1 + varint_len(v), |out| {
            tag(out, 3, VARINT);
            varint(out, v);
        });
    }

    fn double(&mut self, key: &str, value: f64) {
        // AnyValue.double_value (4).
        key_value(self.out, self.field, key, 9, |out| {
            tag(out, 4, FIXED64);
            out.extend_from_slice(&value.to_bits().to_le_bytes());
        });
    }

    fn strings(&mut self, key: &str, values: &[String]) {
        // AnyValue.array_value (5): ArrayValue { values (1): AnyValue { string_value (1) } }.
        let item = |v: &String| field_size(field_size(v.len()));
        let array_len: usize = values.iter().map(item).sum();
        key_value(self.out, self.field, key, field_size(array_len), |out| {
            len_field(out, 5, array_len);
            for v in values {
                len_field(out, 1, field_size(v.len()));
                bytes_field(out, 1, v.as_bytes());
            }
        });
    }
}

/// The content of one `Span` message (without its own tag and length) appended to `out`.
pub(crate) fn write_span(span: &SpanEvent, out: &mut Vec<u8>, sc: &mut Scratch, name: &mut String) {
    bytes_field(out, 1, &span.trace_id.0.to_be_bytes());
    bytes_field(out, 2, &span.span_id.0.to_be_bytes());
    if let Some(p) = span.parent_id {
        bytes_field(out, 4, &p.0.to_be_bytes());
    }
    string_field(out, 5, attributes::span_name(span, name));
    tag(out, 6, VARINT);
    varint(out, otel_kind(span.kind) as u64);
    fixed64_field(out, 7, span.start_ns);
    let end = span.start_ns.saturating_add(span.duration_ns);
    fixed64_field(out, 8, end);
    attributes::span_attributes(span, &mut Proto { out, field: 9 }, sc);
    if let Some(e) = &span.error {
        // Event (11) { time_unix_nano (1), name (2), attributes (3) }; spans that failed are
        // few, so their event has a buffer of its own.
        let mut event = Vec::new();
        fixed64_field(&mut event, 1, end);
        string_field(&mut event, 2, "exception");
        let attrs = &mut Proto {
            out: &mut event,
            field: 3,
        };
        attributes::exception_attributes(e, attrs);
        bytes_field(out, 11, &event);
    }
    for l in &span.annotations().span_links {
        // Link (13) { trace_id (1), span_id (2), attributes (4) }; links are few, so each has a
        // buffer of its own, as the exception event does.
        let mut link = Vec::new();
        bytes_field(&mut link, 1, &l.trace_id.0.to_be_bytes());
        bytes_field(&mut link, 2, &l.span_id.0.to_be_bytes());
        attributes::link_attributes(
            l,
            &mut Proto {
                out: &mut link,
                field: 4,
            },
        );
        bytes_field(out, 13, &link);
    }
    if let Some(e) = &span.error {
        // Status (15) { message (2), code (3) = STATUS_CODE_ERROR (2) }.
        let msg = if e.message.is_empty() {
            0
        } else {
            field_size(e.message.len())
        };
        len_field(out, 15, msg + 2);
        string_field(out, 2, &e.message);
        tag(out, 3, VARINT);
        varint(out, 2);
    }
}

/// Writes one `ResourceSpans` item as field 1 of the request message: `resource` and `scope`
/// are the encoded contents of the Resource and InstrumentationScope messages, `spans` the
/// encoded Span contents back to back, `lens` their lengths in order.
pub(crate) fn write_resource_spans(
    out: &mut Vec<u8>,
    resource: &[u8],
    scope: &[u8],
    spans: &[u8],
    lens: &[usize],
) {
    let scope_spans = field_size(scope.len()) + lens.iter().map(|l| field_size(*l)).sum::<usize>();
    let resource_spans = field_size(resource.len()) + field_size(scope_spans);
    len_field(out, 1, resource_spans);
    bytes_field(out, 1, resource);
    len_field(out, 2, scope_spans);
    bytes_field(out, 1, scope);
    let mut at = 0;
    for len in lens {
        bytes_field(out, 2, &spans[at..at + len]);
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::otlp::convert;
    use llmobs_core::{
        Document, ExportedSpan, Message, Prompt, SpanError, ToolCall, ToolDefinition, ToolResult,
    };
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    use prost::Message as _;
    use serde_json::json;

    /// Spans with every attribute the conversion writes, and text that needs escaping.
    fn spans() -> Vec<SpanEvent> {
        let mut spans = llmobs_core::testing::capture(|| {
            let linked = {
                let _p = llmobs_core::task("plan").start();
                llmobs_core::export_span(None).unwrap()
            };
            let _wf = llmobs_core::workflow("wf").session_id("s-1").start();
            {
                let _a = llmobs_core::agent("planner").start();
                let _l = llmobs_core::llm("chat")
                    .model_name("gpt-4o")
                    .model_provider("openai")
                    .start();
                llmobs_core::annotate()
                    .input_messages([
                        Message::system("Be \"brief\"\n\t✓"),
                        Message::user("¿Dónde está mi sofá? 🛋"),
                        Message::tool("5", "call_1")
                            .tool_results([ToolResult::function("lookup", "5")]),
                    ])
                    .output_messages([Message::assistant("").tool_calls([ToolCall::function(
                        "lookup",
                        json!({"sku": "S-1", "n": [1, 2.5]}),
                    )
                    .id("call_2")])])
                    .metric("input_tokens", 12)
                    .metric("output_tokens", 3.0)
                    .metric("cost_usd", 0.0012)
                    .metric("delta", -7)
                    .metadata("temperature", 0.2)
                    .metadata("stop", json!(["\n"]))
                    .tag("team", "cx")
                    .tag("user_id", "u-1")
                    .prompt(
                        Prompt::template("Answer {{q}}")
                            .id("p")
                            .version("2")
                            .variable("q", "why?"),
                    )
                    .tool_definitions([ToolDefinition::new("lookup")
                        .description("Finds")
                        .schema(json!({"type": "object"}))])
                    .link(&linked)
                    .apply()
                    .unwrap();
            }
            {
                let _r = llmobs_core::retrieval("search").ml_app("other-app").start();
                let mut named = Document::text("doc two");
                named.name = Some("guide".into());
                named.id = Some("d2".into());
                named.score = Some(0.25);
                llmobs_core::annotate()
                    .input(&"sofa")
                    .output_documents([Document::text("doc one"), named])
                    .apply()
                    .unwrap();
            }
            {
                let _e = llmobs_core::embedding("embed").model_name("e5").start();
                llmobs_core::annotate()
                    .input_documents([Document::text("a"), Document::text("")])
                    .apply()
                    .unwrap();
            }
            {
                let _t = llmobs_core::tool("lookup").start();
                llmobs_core::annotate()
                    .input(&json!({"sku": "S-1"}))
                    .output(&"")
                    .apply()
                    .unwrap();
            }
            let _: &ExportedSpan = &linked;
        });
        let failing = spans.iter_mut().find(|s| s.name == "lookup").unwrap();
        let mut e = SpanError::new("IoError", "broken pipe");
        e.stack = Some("at lookup\nat main".into());
        failing.error = Some(Box::new(e));
        let quiet = spans.iter_mut().find(|s| s.name == "embed").unwrap();
        quiet.error = Some(Box::new(SpanError::new("Empty", "")));
        spans
    }

    #[test]
    fn the_body_is_the_bytes_prost_encodes_for_the_messages() {
        let spans = spans();
        assert!(spans.len() >= 7);
        let resource = Resource {
            attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                    value: Some(convert::s("app")),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut sc = Scratch::default();
        let expected_item = ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(convert::scope()),
                spans: spans.iter().map(|s| convert::span(s, &mut sc)).collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut expected = Vec::new();
        prost::encoding::message::encode(1, &expected_item, &mut expected);

        let (mut encoded, mut lens, mut name) = (Vec::new(), Vec::new(), String::new());
        for s in &spans {
            let start = encoded.len();
            write_span(s, &mut encoded, &mut sc, &mut name);
            lens.push(encoded.len() - start);
        }
        let mut ours = Vec::new();
        write_resource_spans(
            &mut ours,
            &resource.encode_to_vec(),
            &convert::scope().encode_to_vec(),
            &encoded,
            &lens,
        );
        assert_eq!(ours.len(), expected.len());
        assert!(ours == expected, "the direct encoding differs from prost's");
    }

    #[test]
    fn varint_sizes() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }
}
