//! A rig agent with one tool through `llmobs::tracing::layer()`, against the loopback stand-in,
//! on tokio's multi-thread runtime: inside `#[llmobs::workflow]`, one trace of workflow →
//! agent → llm (messages, model, tokens) and tool (arguments, result), with the user's
//! `#[llmobs::tool]` function under rig's tool span.

mod common;

use std::sync::Once;

use common::by_kind;
use llmobs::{SpanEvent, SpanKind};
use llmobs_clients::{StandIn, CHAT_MODEL};
use rig_agent::prelude::*;
use rig_core::providers::openai::{OpenAIConfig, Route};
use rig_core::tool::{Tool, ToolContext};
use tracing_subscriber::layer::SubscriberExt as _;

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(llmobs::tracing::layer());
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
}

/// The store's inventory, as the application writes it, traced by llmobs.
#[llmobs::tool]
fn check_inventory(sku: &str) -> u32 {
    if sku == "SOFA-OSLO-3" {
        4
    } else {
        0
    }
}

#[derive(serde::Deserialize)]
struct InventoryArgs {
    sku: String,
}

#[derive(Debug)]
struct NoSuchSku;

impl std::fmt::Display for NoSuchSku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such SKU")
    }
}

impl std::error::Error for NoSuchSku {}

/// The rig tool the agent may call: it calls the application's function.
struct Inventory;

impl Tool for Inventory {
    const NAME: &'static str = "check_inventory";
    type Args = InventoryArgs;
    type Output = u32;
    type Error = NoSuchSku;
    fn description(&self) -> String {
        "Units in stock for a product SKU".into()
    }
    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({"type": "object", "properties": {"sku": {"type": "string"}}, "required": ["sku"]})
    }
    async fn call(&self, _cx: &mut ToolContext, args: InventoryArgs) -> Result<u32, NoSuchSku> {
        // A hop to another worker thread, as real tools make.
        tokio::task::yield_now().await;
        Ok(check_inventory(&args.sku))
    }
}

#[llmobs::workflow]
async fn handle_message(base_url: String, question: &str) -> String {
    let client = OpenAIConfig::new("stand-in-key")
        .with_base_url(base_url.trim_end_matches('/'))
        .with_route(Route::Chat)
        .client();
    let agent = AgentBuilder::new(client.completion("gpt-4o-mini"))
        .name("support")
        .preamble("You are Furnish Hub's support assistant.")
        .tool(Inventory)
        .default_max_turns(3)
        .record_content_telemetry(true)
        .build();
    agent
        .prompt(question)
        .await
        .expect("the agent answers")
        .output()
}

#[test]
fn a_rig_agent_with_a_tool_inside_a_workflow_is_one_trace() {
    let stand_in = StandIn::start().unwrap();
    let base = stand_in.url().to_owned();
    let (answer, spans) = spawned(None, || handle_message(base, "Is SOFA-OSLO-3 in stock?"));
    assert_eq!(answer, "According to the tool: 4.");
    let root = by_kind(&spans, SpanKind::Workflow);
    assert_eq!(root.len(), 1, "{spans:#?}");
    let root = root[0];
    assert_eq!(root.name.as_str(), "handle_message");
    assert!(
        spans.iter().all(|s| s.trace_id == root.trace_id),
        "one trace"
    );

    let agent = by_kind(&spans, SpanKind::Agent);
    assert_eq!(agent.len(), 1, "{spans:#?}");
    let agent = agent[0];
    assert_eq!(agent.parent_id, Some(root.span_id));
    assert_eq!(agent.name.as_str(), "invoke_agent support");
    assert_eq!(
        agent.input_text().as_deref(),
        Some("Is SOFA-OSLO-3 in stock?")
    );
    assert_eq!(
        agent.output_text().as_deref(),
        Some("According to the tool: 4.")
    );

    // Two model turns: the tool call, then the answer.
    let llm = by_kind(&spans, SpanKind::Llm);
    assert_eq!(llm.len(), 2, "{spans:#?}");
    for s in &llm {
        assert_eq!(s.parent_id, Some(agent.span_id));
        assert_eq!(s.name.as_str(), "chat gpt-4o-mini");
        assert_eq!(s.model_name(), Some(CHAT_MODEL));
        assert_eq!(s.model_provider(), Some("openai"));
        assert!(s.metric("input_tokens").unwrap() > 0.0, "{s:?}");
        assert!(s.metric("output_tokens").unwrap() > 0.0, "{s:?}");
    }
    let first_in = llm[0].input().unwrap().as_messages().unwrap();
    assert_eq!(first_in[0].role.as_str(), "system");
    assert_eq!(
        first_in[0].content,
        "You are Furnish Hub's support assistant."
    );
    assert_eq!(first_in[1].role.as_str(), "user");
    assert_eq!(first_in[1].content, "Is SOFA-OSLO-3 in stock?");
    assert_eq!(
        first_in
            .iter()
            .filter(|m| m.role.as_str() == "system")
            .count(),
        1,
        "the system prompt once"
    );
    let first_out = llm[0].output().unwrap().as_messages().unwrap();
    assert_eq!(first_out[0].tool_calls[0].name, "check_inventory");
    assert_eq!(first_out[0].tool_calls[0].arguments["sku"], "SOFA-OSLO-3");
    let second_in = llm[1].input().unwrap().as_messages().unwrap();
    assert!(
        second_in
            .iter()
            .any(|m| m.tool_results.iter().any(|r| r.result == "4")),
        "{second_in:?}"
    );
    let second_out = llm[1].output().unwrap().as_messages().unwrap();
    assert_eq!(second_out[0].content, "According to the tool: 4.");

    // rig's tool span under the agent, and the application's tool function under it.
    let tools = by_kind(&spans, SpanKind::Tool);
    assert_eq!(tools.len(), 2, "{spans:#?}");
    let rig_tool = tools
        .iter()
        .find(|s| s.name.as_str() == "execute_tool check_inventory")
        .expect("rig's span, named as the GenAI conventions name it");
    let user_tool = tools
        .iter()
        .find(|s| s.name.as_str() == "check_inventory")
        .expect("ours");
    assert_eq!(rig_tool.parent_id, Some(agent.span_id));
    assert_eq!(user_tool.parent_id, Some(rig_tool.span_id));
    assert_eq!(
        rig_tool.input().unwrap().as_value().unwrap()["sku"],
        "SOFA-OSLO-3"
    );
    assert_eq!(rig_tool.output().unwrap().as_value().unwrap(), 4);
    assert_eq!(
        rig_tool.annotations().metadata["gen_ai.tool.name"],
        "check_inventory"
    );
    assert!(spans.iter().all(|s| s.error.is_none()), "{spans:#?}");
}

fn agent(base_url: &str) -> rig_agent::Agent {
    let client = OpenAIConfig::new("stand-in-key")
        .with_base_url(base_url.trim_end_matches('/'))
        .with_route(Route::Chat)
        .client();
    AgentBuilder::new(client.completion("gpt-4o-mini"))
        .name("support")
        .tool(Inventory)
        .default_max_turns(3)
        .record_content_telemetry(true)
        .build()
}

/// Runs the future `make` creates spawned on a multi-thread runtime (the whole call on the
/// runtime's worker threads), in a test capture, under a workflow span of that name if one is
/// given. The future is created inside the capture: an attribute's async span takes its parent
/// when it is called.
fn spawned<F>(root: Option<&'static str>, make: impl FnOnce() -> F) -> (F::Output, Vec<SpanEvent>)
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    llmobs::testing::capture_with_result(|| {
        let root = root.map(|name| llmobs::workflow(name).start());
        let task = rt.spawn(llmobs::Instrument::in_current_span(make()));
        let out = rt.block_on(task).unwrap();
        drop(root);
        out
    })
}

#[test]
fn a_streamed_agent_reply_is_an_agent_span_with_its_llm_turn() {
    use futures::StreamExt as _;
    let stand_in = StandIn::start().unwrap();
    let agent = agent(stand_in.url());
    let (items, spans) = spawned(Some("answer"), || async move {
        let mut stream = agent.prompt("Tell me about the Sol lamp").stream();
        let mut items = 0;
        while let Some(item) = stream.next().await {
            item.expect("a stream item");
            items += 1;
        }
        items
    });
    assert!(items > 0);
    let agents = by_kind(&spans, SpanKind::Agent);
    assert_eq!(agents.len(), 1, "{spans:#?}");
    common::assert_streamed_reply(&spans, agents[0]);
}

#[test]
fn an_embeddings_call_is_an_embedding_span() {
    let stand_in = StandIn::start().unwrap();
    let client = OpenAIConfig::new("stand-in-key")
        .with_base_url(stand_in.url().trim_end_matches('/'))
        .with_route(Route::Chat)
        .client();
    let (dims, spans) = spawned(Some("answer"), || async move {
        let model = client.embedding("text-embedding-3-small", None);
        model
            .embed_text("oak dining table")
            .await
            .unwrap()
            .vec
            .len()
    });
    assert_eq!(dims, 8);
    let e = by_kind(&spans, SpanKind::Embedding);
    assert_eq!(e.len(), 1, "{spans:#?}");
    assert_eq!(e[0].name.as_str(), "embeddings text-embedding-3-small");
    assert_eq!(e[0].model_name(), Some(llmobs_clients::EMBEDDING_MODEL));
    assert_eq!(e[0].model_provider(), Some("openai"));
    assert_eq!(e[0].metric("input_tokens"), Some(3.0));
}

/// A workflow whose agent call fails: it returns rig's error.
#[llmobs::workflow]
async fn ask(base_url: String, question: String) -> Result<String, String> {
    let agent = agent(&base_url);
    agent
        .prompt(question.as_str())
        .await
        .map(|r| r.output())
        .map_err(|e| e.to_string())
}

/// rig 0.44 records no error on its spans when the model call fails (only a tool's failure, as
/// `gen_ai.tool.error.type`): the failure shows on the application's own span, which returns
/// the error, and the bridged llm span has no reply.
#[test]
fn an_error_reply_fails_the_workflow_and_leaves_the_llm_turn_without_a_reply() {
    let stand_in = StandIn::start().unwrap();
    let base = stand_in.url().to_owned();
    let (result, spans) = spawned(None, || ask(base, "[fail] please".into()));
    let err = result.expect_err("the stand-in answers 500");
    let root = by_kind(&spans, SpanKind::Workflow)[0];
    let e = root.error.as_ref().expect("the workflow failed");
    assert_eq!(e.message, err);
    let llm = by_kind(&spans, SpanKind::Llm);
    assert_eq!(llm.len(), 1, "{spans:#?}");
    assert!(llm[0].output().is_none(), "{:?}", llm[0]);
    assert_eq!(
        by_kind(&spans, SpanKind::Agent)[0].parent_id,
        Some(root.span_id)
    );
}
