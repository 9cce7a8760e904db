//! The layer with `tracing` spans written as the LLM clients write them: GenAI fields at creation
//! and recorded later, futures instrumented with their span on a multi-thread runtime, errors.
//! The real clients (rig, genai) are driven in `tests/clients.rs`.

extern crate llmobs_core as llmobs;

use std::collections::HashMap;

use llmobs::testing::capture;
use llmobs::{SpanEvent, SpanKind};
use tracing::field::Empty;
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

fn with_layer<R>(layer: llmobs_tracing::LlmObsLayer, f: impl FnOnce() -> R) -> R {
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, f)
}

fn by_name(spans: &[SpanEvent]) -> HashMap<&str, &SpanEvent> {
    spans.iter().map(|s| (s.name.as_str(), s)).collect()
}

const INPUT: &str =
    r#"[{"role":"user","parts":[{"type":"text","content":"Is the Oslo sofa in stock?"}]}]"#;
const OUTPUT: &str = r#"[{"role":"assistant","parts":[{"type":"text","content":"Yes, 4 left."}],"finish_reason":"stop"}]"#;

#[test]
fn a_chat_span_becomes_an_llm_span_with_what_was_recorded_until_it_closed() {
    let spans = capture(|| {
        with_layer(llmobs_tracing::layer(), || {
            let span = tracing::info_span!(
                "chat",
                otel.name = "chat gpt-4o-mini",
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = "OpenAI",
                gen_ai.request.model = "gpt-4o-mini",
                gen_ai.request.temperature = 0.2,
                gen_ai.conversation.id = "sess-7",
                gen_ai.input.messages = INPUT,
                gen_ai.output.messages = Empty,
                gen_ai.response.model = Empty,
                gen_ai.usage.input_tokens = Empty,
                gen_ai.usage.output_tokens = Empty,
            );
            let _e = span.enter();
            span.record("gen_ai.output.messages", OUTPUT);
            span.record("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
            span.record("gen_ai.usage.input_tokens", 12u64);
            span.record("gen_ai.usage.output_tokens", 5u64);
        })
    });
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let s = &spans[0];
    assert_eq!(s.kind, SpanKind::Llm);
    assert_eq!(s.name.as_str(), "chat gpt-4o-mini");
    assert_eq!(s.model_name(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(s.model_provider(), Some("openai"));
    assert_eq!(s.session_id.as_deref(), Some("sess-7"));
    let input = s.input().unwrap().as_messages().unwrap();
    assert_eq!(input[0].role.as_str(), "user");
    assert_eq!(input[0].content, "Is the Oslo sofa in stock?");
    let output = s.output().unwrap().as_messages().unwrap();
    assert_eq!(output[0].content, "Yes, 4 left.");
    assert_eq!(s.metric("input_tokens"), Some(12.0));
    assert_eq!(s.metric("output_tokens"), Some(5.0));
    assert_eq!(s.metric("total_tokens"), Some(17.0));
    assert_eq!(s.annotations().metadata["temperature"], 0.2);
    assert!(s.error.is_none());
}

/// A `#[llmobs::tool]` function, as the user's tool called by an agent.
#[llmobs_macros::tool]
fn check_inventory(sku: &str) -> u32 {
    let _ = sku;
    4
}

#[test]
fn one_tree_across_threads_workflow_agent_llm_tool_and_the_users_tool() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let spans = capture(|| {
        with_layer(llmobs_tracing::layer(), || {
            let dispatch = tracing::dispatcher::get_default(Clone::clone);
            let root = llmobs::workflow("handle_message").start();
            let agent = tracing::info_span!(
                "invoke_agent",
                gen_ai.operation.name = "invoke_agent",
                gen_ai.agent.name = "support",
                gen_ai.input.messages = INPUT,
                gen_ai.output.messages = Empty,
            );
            // Created under the workflow, run on the runtime's threads.
            let fut = {
                let handle = agent.clone();
                async move {
                    let chat = tracing::info_span!(
                        "chat",
                        gen_ai.operation.name = "chat",
                        gen_ai.request.model = "gpt-4o-mini",
                    );
                    async { tokio::task::yield_now().await }
                        .instrument(chat)
                        .await;
                    let tool = tracing::info_span!(
                        "execute_tool",
                        otel.name = "execute_tool check_inventory",
                        gen_ai.operation.name = "execute_tool",
                        gen_ai.tool.name = "check_inventory",
                        gen_ai.tool.call.arguments = r#"{"sku":"SOFA-OSLO-3"}"#,
                        gen_ai.tool.call.result = Empty,
                    );
                    let n = async {
                        tokio::task::yield_now().await;
                        check_inventory("SOFA-OSLO-3")
                    }
                    .instrument(tool.clone())
                    .await;
                    tool.record("gen_ai.tool.call.result", n.to_string());
                    handle.record("gen_ai.output.messages", OUTPUT);
                }
                .instrument(agent)
            };
            let task = rt.spawn(tracing::instrument::WithSubscriber::with_subscriber(
                fut, dispatch,
            ));
            rt.block_on(task).unwrap();
            drop(root);
        })
    });
    let by = by_name(&spans);
    assert_eq!(spans.len(), 5, "{:?}", by.keys());
    // Named as the GenAI conventions name them: `{operation} {agent or model}`.
    let (root, agent, chat, tool, user_tool) = (
        by["handle_message"],
        by["invoke_agent support"],
        by["chat gpt-4o-mini"],
        by["execute_tool check_inventory"],
        by["check_inventory"],
    );
    assert_eq!(agent.kind, SpanKind::Agent);
    assert_eq!(agent.parent_id, Some(root.span_id));
    assert_eq!(chat.kind, SpanKind::Llm);
    assert_eq!(chat.parent_id, Some(agent.span_id));
    assert_eq!(tool.kind, SpanKind::Tool);
    assert_eq!(tool.parent_id, Some(agent.span_id));
    assert_eq!(
        user_tool.parent_id,
        Some(tool.span_id),
        "the user's tool under execute_tool"
    );
    assert!(spans.iter().all(|s| s.trace_id == root.trace_id));
    assert_eq!(
        tool.input().unwrap().as_value().unwrap()["sku"],
        "SOFA-OSLO-3"
    );
    assert_eq!(tool.output().unwrap().as_value().unwrap(), 4);
    assert_eq!(
        agent.input().unwrap().as_value().unwrap(),
        "Is the Oslo sofa in stock?"
    );
    assert_eq!(agent.output().unwrap().as_value().unwrap(), "Yes, 4 left.");
}

#[test]
fn errors_from_fields_and_from_error_events() {
    let spans = capture(|| {
        with_layer(llmobs_tracing::layer(), || {
            let a = tracing::info_span!(
                "chat",
                gen_ai.operation.name = "chat",
                error.type = Empty,
                otel.status_code = Empty,
                otel.status_description = Empty,
            );
            a.record("error.type", "RateLimitError");
            a.record("otel.status_code", "ERROR");
            a.record("otel.status_description", "429 Too Many Requests");
            drop(a);
            let b = tracing::info_span!("embed", gen_ai.operation.name = "embeddings");
            b.in_scope(|| tracing::error!("connection reset by peer"));
        })
    });
    let by = by_name(&spans);
    let e = by["chat"].error.as_ref().expect("an error");
    assert_eq!(e.kind, "RateLimitError");
    assert_eq!(e.message, "429 Too Many Requests");
    assert_eq!(by["embed"].kind, SpanKind::Embedding);
    let e = by["embed"].error.as_ref().expect("an error");
    assert_eq!(e.message, "connection reset by peer");
}

#[test]
fn ordinary_spans_are_ignored_unless_the_filter_takes_them() {
    let spans = capture(|| {
        with_layer(llmobs_tracing::layer(), || {
            let _a = tracing::info_span!("load_config", path = "x.toml").entered();
        })
    });
    assert!(spans.is_empty(), "{spans:?}");
    let layer = llmobs_tracing::layer().task_spans(|m| m.name() == "load_config");
    let spans = capture(|| {
        with_layer(layer, || {
            let _a = tracing::info_span!("load_config", path = "x.toml").entered();
            let _b = tracing::info_span!("other").entered();
        })
    });
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].kind, SpanKind::Task);
    assert_eq!(spans[0].annotations().metadata["path"], "x.toml");
}

#[test]
fn without_observability_nothing_is_recorded_and_spans_still_work() {
    // No capture, never initialised: the layer starts nothing and the program runs as before.
    let out = with_layer(llmobs_tracing::layer(), || {
        let span = tracing::info_span!("chat", gen_ai.operation.name = "chat");
        span.in_scope(|| 41 + 1)
    });
    assert_eq!(out, 42);
}

#[test]
fn malformed_fields_are_kept_as_text_and_never_fail_the_call() {
    let spans = capture(|| {
        with_layer(llmobs_tracing::layer(), || {
            let s = tracing::info_span!(
                "chat",
                gen_ai.operation.name = "chat",
                gen_ai.input.messages = "not json [",
                gen_ai.output.messages = 42,
                gen_ai.usage.input_tokens = "many",
                gen_ai.tool.definitions = r#"[{"type":"function"}, 7, null]"#,
                gen_ai.request.model = true,
            );
            s.in_scope(|| ());
            let t = tracing::info_span!(
                "execute_tool",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.call.arguments = "{ broken",
            );
            drop(t);
        })
    });
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let chat = spans.iter().find(|s| s.kind == SpanKind::Llm).unwrap();
    let input = chat.input().unwrap().as_messages().unwrap();
    assert_eq!(input[0].content, "not json [", "kept as one message's text");
    assert_eq!(chat.metric("input_tokens"), None);
    assert!(chat.annotations().tool_definitions.is_empty());
    let tool = spans.iter().find(|s| s.kind == SpanKind::Tool).unwrap();
    assert_eq!(tool.input().unwrap().as_value().unwrap(), "{ broken");
}

#[test]
fn spans_bridged_inside_an_annotation_context_get_it() {
    let spans = capture(|| {
        with_layer(llmobs_tracing::layer(), || {
            let _c = llmobs::annotation_context()
                .tag("tenant", "acme")
                .name("support_chat")
                .enter();
            let span = tracing::info_span!(
                "chat",
                gen_ai.operation.name = "chat",
                gen_ai.request.model = "gpt-4o-mini",
                gen_ai.usage.input_tokens = Empty,
            );
            let _e = span.enter();
            span.record("gen_ai.usage.input_tokens", 3u64);
        })
    });
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let s = &spans[0];
    assert_eq!(s.kind, SpanKind::Llm);
    assert_eq!(s.tag("tenant"), Some("acme"));
    // Fields recorded later do not undo the context's name.
    assert_eq!(s.name.as_str(), "support_chat");
    assert_eq!(s.metric("input_tokens"), Some(3.0));
}
