//! The direct writer against the `Value` path it replaced: byte-identical events over every
//! span kind and every optional field, including ones the reference layout orders subtly
//! (`prompt` before `value`, tags whose keys are prefixes of each other) and the truncation.

use llmobs_core::{
    AgentAttribution, Document, Message, Prompt, SpanError, SpanEvent, SpanId, SpanIo, SpanKind,
    ToolCall, ToolDefinition, ToolResult, TraceId,
};
use serde_json::json;

use super::Encoder;
use crate::config::Config;

const KINDS: [SpanKind; 7] = [
    SpanKind::Llm,
    SpanKind::Embedding,
    SpanKind::Workflow,
    SpanKind::Agent,
    SpanKind::Tool,
    SpanKind::Task,
    SpanKind::Retrieval,
];

fn messages() -> Vec<Message> {
    vec![
        Message::system("You are a furniture assistant. Be brief."),
        Message::user("When does my sofa ship? \u{1F6CB}\u{FE0F} \"soon\"?\n\tThanks\\"),
        Message::assistant("").tool_calls([
            ToolCall::function(
                "lookup_order",
                json!({"order": 4471, "z": [1.5, null], "a": {"b": "\u{e9}"}}),
            )
            .id("call_1"),
            ToolCall::function("eta", json!("plain")),
        ]),
        Message::tool("{\"eta\": \"3 days\"}", "call_1"),
        Message::new("", "").tool_results([
            ToolResult::function("lookup_order", "shipped \u{2713}").id("call_1"),
            ToolResult::function("eta", ""),
        ]),
    ]
}

fn documents() -> Vec<Document> {
    vec![
        Document::text("Sofas ship in 3 days")
            .name("shipping")
            .id("d1")
            .score(0.98),
        Document::text("\u{65e5}\u{672c}\u{8a9e}").score(f64::NAN),
        Document::text("").id("only-id"),
        Document::text("t").score(1e300),
    ]
}

/// Every kind crossed with a spread of optional content.
fn spans() -> Vec<SpanEvent> {
    let mut out = Vec::new();
    for (k, kind) in KINDS.into_iter().enumerate() {
        for variant in 0..12u64 {
            let trace = if variant % 2 == 0 {
                TraceId((0x0123_4567_89ab_cdef_u128 << 64) | (0xfeed_u128 + variant as u128))
            } else {
                TraceId(42 + variant as u128)
            };
            let mut s = SpanEvent::new(
                kind,
                format!("{}-{variant} \u{e9}", kind.as_str()),
                trace,
                SpanId(1000 + variant),
            );
            s.start_ns = 1_700_000_000_000_000_000 + variant;
            s.duration_ns = variant * 1_234_567;
            if variant % 3 != 0 {
                s.parent_id = Some(SpanId(u64::MAX - variant));
            }
            if variant % 4 == 1 {
                s.apm_trace_id = TraceId(7 + k as u128);
            }
            if variant % 5 == 2 {
                s.session_id = Some("sess-\u{1F600}-\"q\"".into());
            }
            if variant % 2 == 1 {
                s.decorator = true;
            }
            if variant % 6 == 5 {
                s.ml_app = Some("other app".into());
            }
            if variant % 4 == 3 {
                let mut error = SpanError::new("std::io::Error", "refused \u{2717}\n");
                error.stack = (variant % 8 == 7).then(|| "at main.rs:1\n\tat lib.rs:2".into());
                s.error = Some(Box::new(error));
            }
            if variant % 3 == 1 {
                s.agent = Some(AgentAttribution {
                    span_id: SpanId(9),
                    name: (variant % 2 == 0).then(|| "planner".into()),
                });
            }
            if variant == 0 {
                let mut decorated = s.clone();
                decorated.decorator = true;
                out.push(decorated);
                out.push(s);
                continue;
            }
            let a = s.annotations_mut();
            a.input = match variant % 4 {
                0 => None,
                1 => Some(SpanIo::Messages(messages())),
                2 => Some(SpanIo::Documents(documents())),
                _ => Some(SpanIo::Value(if variant % 8 == 3 {
                    json!({"q": "When? \"now\" \\ \u{e9}\n", "n": [1, 2.5, -3], "nested": {"b": true, "a": null}})
                } else {
                    json!("plain input \u{e9}")
                })),
            };
            a.output = match variant % 5 {
                0 => None,
                1 => Some(SpanIo::Messages(vec![Message::assistant(
                    "It ships Monday.",
                )])),
                2 => Some(SpanIo::Documents(documents())),
                3 => Some(SpanIo::Value(json!(12.75))),
                _ => Some(SpanIo::Messages(Vec::new())),
            };
            if variant % 2 == 0 {
                a.model_name = Some("gpt-4o".into());
            }
            if variant % 3 == 0 {
                a.model_provider = Some("openai".into());
            }
            a.metadata.insert("temperature".into(), json!(0.2));
            a.metadata.insert("_dd".into(), json!({"hidden": 1}));
            a.metadata
                .insert("z\u{e9}".into(), json!({"list": [1, "two", null]}));
            a.metadata.insert("A".into(), json!("upper"));
            a.metrics.insert("input_tokens".into(), 12.into());
            a.metrics
                .insert("output_tokens".into(), (variant * 3).into());
            if let Some(n) = serde_json::Number::from_f64(0.125 * variant as f64) {
                a.metrics.insert("cost".into(), n);
            }
            a.tags.insert("a".into(), "2".into());
            a.tags.insert("a_b".into(), "1".into());
            a.tags.insert("user".into(), "j\u{f6}rg:\"x\"".into());
            if variant % 4 == 0 {
                // User tags that the SDK's own tags must override.
                a.tags.insert("error".into(), "mine".into());
                a.tags.insert("ml_app".into(), "mine".into());
                a.tags.insert("env".into(), "override".into());
            }
            if variant % 3 == 2 {
                let prompt = if variant % 2 == 0 {
                    Prompt::template("Answer {{question}} using {{context}}")
                        .id("support")
                        .version("1.2")
                        .variable("question", "When?")
                        .tag("team", "ml")
                } else {
                    Prompt::chat_template([Message::system("You are {{persona}}")])
                        .context_variables(["docs"])
                        .query_variables(["q"])
                };
                a.prompt = Some(prompt);
                a.prompt_annotated = true;
            }
            if variant % 4 == 2 {
                a.tool_definitions = vec![
                    ToolDefinition::new("lookup").description("finds \u{e9}"),
                    ToolDefinition::new("eta")
                        .schema(
                            json!({"type": "object", "properties": {"order": {"type": "integer"}}}),
                        )
                        .version("2"),
                ];
            }
            if variant % 7 == 6 {
                a.collection_errors.push("earlier_problem".into());
            }
            out.push(s);
        }
    }
    out
}

fn encoders() -> Vec<Encoder> {
    vec![
        Encoder::new(&Config::default().ml_app("furnish-hub")),
        Encoder::new(
            &Config::default()
                .ml_app("app \u{e9}")
                .env("prod")
                .service("svc")
                .version("1.0")
                .tag("a_b", "base")
                .tag("a:", "colon")
                .tag("team", "ml")
                .sample_rate(0.5),
        ),
        Encoder::new(&Config::default().sample_rate(0.0)),
    ]
}

#[test]
fn direct_writer_matches_the_value_path() {
    let spans = spans();
    assert!(spans.len() > 80);
    for enc in encoders() {
        for s in &spans {
            let ours = enc.encode_span(s);
            let theirs = enc.encode_span_via_value(s);
            assert_eq!(
                String::from_utf8_lossy(&ours.json),
                String::from_utf8_lossy(&theirs.json),
                "span {}",
                s.name.as_str()
            );
            assert!(!ours.truncated && !theirs.truncated);
        }
    }
}

#[test]
fn appending_keeps_what_the_buffer_held() {
    let enc = &encoders()[0];
    let mut out = b"prefix".to_vec();
    for s in spans().iter().take(5) {
        let before = out.len();
        assert!(!enc.encode_span_into(s, &mut out));
        assert_eq!(out[before..], enc.encode_span_via_value(s).json[..]);
    }
    assert!(out.starts_with(b"prefix"));
}

#[test]
fn truncation_matches_at_and_around_the_limit() {
    let spans = spans();
    let base = &encoders()[1];
    for s in spans.iter().step_by(5) {
        let len = base.encode_span(s).json.len();
        for limit in [len - 1, len, len + 1, 64] {
            let mut config = Config::default()
                .ml_app("app \u{e9}")
                .env("prod")
                .service("svc")
                .version("1.0")
                .tag("a_b", "base")
                .tag("a:", "colon")
                .tag("team", "ml")
                .sample_rate(0.5);
            config = config.event_size_bytes(limit);
            let enc = Encoder::new(&config);
            let ours = enc.encode_span(s);
            let theirs = enc.encode_span_via_value(s);
            assert_eq!(ours.truncated, theirs.truncated, "limit {limit}");
            assert_eq!(ours.truncated, limit <= len, "limit {limit} len {len}");
            assert_eq!(
                String::from_utf8_lossy(&ours.json),
                String::from_utf8_lossy(&theirs.json)
            );
            let mut out = b"[".to_vec();
            assert_eq!(enc.encode_span_into(s, &mut out), ours.truncated);
            assert_eq!(out[1..], ours.json[..]);
        }
    }
}
