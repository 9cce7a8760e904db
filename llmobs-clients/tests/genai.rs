//! `genai` (feature `otel`) through `llmobs::tracing::layer()`, against the loopback stand-in:
//! a chat completion with usage, a tool call round, a streamed reply, an embeddings call and an
//! error reply, each asserted field by field on the captured LLM Observability spans.

mod common;

use std::sync::Once;

use futures::StreamExt as _;
use genai::chat::{ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent, Tool, ToolResponse};
use genai::resolver::{AuthData, Endpoint};
use genai::{Client, ServiceTarget};
use llmobs::{SpanEvent, SpanKind};
use llmobs_clients::{StandIn, CHAT_MODEL, EMBEDDING_MODEL};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;

/// The layer, process-wide (genai creates its spans on whichever thread runs the call), and
/// message capture on: genai reads the variable once, at its first call.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");
        let subscriber = tracing_subscriber::registry().with(llmobs::tracing::layer());
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
}

fn client(stand_in: &StandIn) -> Client {
    let base = stand_in.url().to_owned();
    Client::builder()
        .with_service_target_resolver_fn(move |mut t: ServiceTarget| {
            t.endpoint = Endpoint::from_owned(base.clone());
            t.auth = AuthData::from_single("stand-in-key");
            Ok(t)
        })
        .build()
        .expect("a genai client")
}

/// Runs `f` under a workflow span in a test capture, on a multi-thread runtime, and returns
/// the spans, workflow first.
fn traced<F: std::future::Future>(f: impl FnOnce() -> F) -> Vec<SpanEvent> {
    setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut spans = llmobs::testing::capture(|| {
        let root = llmobs::workflow("answer").start();
        rt.block_on(f());
        drop(root);
    });
    spans.sort_by_key(|s| (s.parent_id.is_some(), s.start_ns));
    assert_eq!(spans[0].name.as_str(), "answer", "{spans:#?}");
    spans
}

fn llm_spans(spans: &[SpanEvent]) -> Vec<&SpanEvent> {
    common::by_kind(spans, SpanKind::Llm)
}

#[test]
fn a_chat_completion_is_an_llm_span_with_model_provider_messages_and_tokens() {
    let stand_in = StandIn::start().unwrap();
    let client = client(&stand_in);
    let spans = traced(|| async {
        let req = ChatRequest::new(vec![
            ChatMessage::system("You answer in one sentence."),
            ChatMessage::user("How wide is the Oslo sofa?"),
        ]);
        let options = ChatOptions::default()
            .with_temperature(0.2)
            .with_max_tokens(100);
        let res = client
            .exec_chat("gpt-4o-mini", req, Some(&options))
            .await
            .expect("the stand-in answers");
        assert_eq!(
            res.first_text(),
            Some("You asked: How wide is the Oslo sofa?")
        );
    });
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let llm = &spans[1];
    assert_eq!(llm.kind, SpanKind::Llm);
    assert_eq!(llm.parent_id, Some(spans[0].span_id));
    assert_eq!(llm.trace_id, spans[0].trace_id);
    assert_eq!(llm.name.as_str(), "chat gpt-4o-mini");
    assert_eq!(llm.model_name(), Some(CHAT_MODEL), "the response's model");
    assert_eq!(llm.model_provider(), Some("openai"));
    let input = llm.input().unwrap().as_messages().unwrap();
    assert_eq!(input.len(), 2, "{input:?}");
    assert_eq!(input[0].role.as_str(), "system");
    assert_eq!(input[0].content, "You answer in one sentence.");
    assert_eq!(input[1].role.as_str(), "user");
    assert_eq!(input[1].content, "How wide is the Oslo sofa?");
    let output = llm.output().unwrap().as_messages().unwrap();
    assert_eq!(output[0].role.as_str(), "assistant");
    assert_eq!(output[0].content, "You asked: How wide is the Oslo sofa?");
    // The stand-in counts words: 5 + 6 in, 8 out.
    assert_eq!(llm.metric("input_tokens"), Some(11.0));
    assert_eq!(llm.metric("output_tokens"), Some(8.0));
    assert_eq!(llm.metric("total_tokens"), Some(19.0));
    let meta = &llm.annotations().metadata;
    assert_eq!(meta["temperature"], 0.2);
    assert_eq!(meta["max_tokens"], 100);
    assert!(llm.error.is_none());
}

#[test]
fn a_tool_call_round_records_the_call_and_the_result_in_the_messages() {
    let stand_in = StandIn::start().unwrap();
    let client = client(&stand_in);
    let spans = traced(|| async {
        let tool = Tool::new("check_inventory")
            .with_description("Units in stock for a SKU")
            .with_schema(json!({"type": "object", "properties": {"sku": {"type": "string"}}}));
        let req = ChatRequest::new(vec![ChatMessage::user("Is SOFA-OSLO-3 in stock?")])
            .with_tools(vec![tool]);
        let first = client
            .exec_chat("gpt-4o-mini", req.clone(), None)
            .await
            .unwrap();
        let calls = first.into_tool_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].fn_arguments["sku"], "SOFA-OSLO-3");
        let response = ToolResponse::new(calls[0].call_id.clone(), "4 units");
        let req = req.append_message(calls).append_message(response);
        let second = client.exec_chat("gpt-4o-mini", req, None).await.unwrap();
        assert_eq!(second.first_text(), Some("According to the tool: 4 units."));
    });
    let llm = llm_spans(&spans);
    assert_eq!(llm.len(), 2, "{spans:#?}");
    // The first call: the tool offered, the model's call in the output.
    let defs = &llm[0].annotations().tool_definitions;
    assert_eq!(defs[0].name, "check_inventory");
    assert_eq!(
        defs[0].description.as_deref(),
        Some("Units in stock for a SKU")
    );
    let out = llm[0].output().unwrap().as_messages().unwrap();
    assert_eq!(out[0].tool_calls[0].name, "check_inventory");
    assert_eq!(out[0].tool_calls[0].arguments["sku"], "SOFA-OSLO-3");
    assert_eq!(out[0].tool_calls[0].tool_id.as_deref(), Some("call_1"));
    assert_eq!(
        llm[0].annotations().metadata["gen_ai.response.finish_reasons"],
        r#"["tool_calls"]"#
    );
    // The second: the call and its result in the input.
    let input = llm[1].input().unwrap().as_messages().unwrap();
    assert_eq!(input.len(), 3, "{input:?}");
    assert_eq!(input[1].tool_calls[0].name, "check_inventory");
    assert_eq!(input[2].role.as_str(), "tool");
    assert_eq!(input[2].tool_results[0].result, "4 units");
    assert_eq!(input[2].tool_id.as_deref(), Some("call_1"));
    let out = llm[1].output().unwrap().as_messages().unwrap();
    assert_eq!(out[0].content, "According to the tool: 4 units.");
}

#[test]
fn a_streamed_reply_is_one_llm_span_closed_when_the_stream_ends() {
    let stand_in = StandIn::start().unwrap();
    let client = client(&stand_in);
    let spans = traced(|| async {
        let req = ChatRequest::new(vec![ChatMessage::user("Tell me about the Sol lamp")]);
        let options = ChatOptions::default()
            .with_capture_usage(true)
            .with_capture_content(true);
        let mut stream = client
            .exec_chat_stream("gpt-4o-mini", req, Some(&options))
            .await
            .unwrap()
            .stream;
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            if let ChatStreamEvent::Chunk(c) = event.unwrap() {
                text.push_str(&c.content);
            }
        }
        assert_eq!(text, "You asked: Tell me about the Sol lamp");
    });
    let s = common::assert_streamed_reply(&spans, &spans[0]);
    // The request's model: a stream does not report the response's.
    assert_eq!(s.model_name(), Some("gpt-4o-mini"));
}

#[test]
fn an_embeddings_call_is_an_embedding_span() {
    let stand_in = StandIn::start().unwrap();
    let client = client(&stand_in);
    let spans = traced(|| async {
        let res = client
            .embed("text-embedding-3-small", "oak dining table", None)
            .await
            .unwrap();
        assert_eq!(res.embeddings.len(), 1);
    });
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let e = &spans[1];
    assert_eq!(e.kind, SpanKind::Embedding);
    assert_eq!(e.parent_id, Some(spans[0].span_id));
    assert_eq!(e.name.as_str(), "embeddings text-embedding-3-small");
    assert_eq!(e.model_name(), Some(EMBEDDING_MODEL));
    assert_eq!(e.model_provider(), Some("openai"));
    assert_eq!(e.metric("input_tokens"), Some(3.0));
}

#[test]
fn an_error_reply_marks_the_llm_span_as_failed() {
    let stand_in = StandIn::start().unwrap();
    let client = client(&stand_in);
    let spans = traced(|| async {
        let req = ChatRequest::new(vec![ChatMessage::user("[fail] please")]);
        let err = client.exec_chat("gpt-4o-mini", req, None).await;
        assert!(err.is_err(), "the stand-in answers 500");
    });
    let llm = llm_spans(&spans);
    assert_eq!(llm.len(), 1, "{spans:#?}");
    let e = llm[0].error.as_ref().expect("the span is an error");
    assert_eq!(e.kind, "500");
    assert_eq!(llm[0].status(), "error");
}
