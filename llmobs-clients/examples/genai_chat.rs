//! A support assistant whose model calls go through the `genai` client, traced without code by
//! `llmobs::tracing::layer()`: the workflow and the tool are `#[llmobs::...]` functions, the two
//! `chat` calls are genai's own `tracing` spans, bridged into the same trace.
//!
//! ```text
//! cargo run -p llmobs-clients --features clients --example genai_chat
//! ```
//!
//! Offline (no `OPENAI_API_KEY`) it talks to the bundled OpenAI-compatible stand-in on a
//! loopback port; with `OPENAI_API_KEY` set it calls OpenAI (or `OPENAI_BASE_URL`, e.g. a local
//! Ollama at `http://localhost:11434/v1/`) with `OPENAI_MODEL` (default `gpt-4o-mini`). With
//! nothing of Datadog's configured, the SDK runs in local mode and prints the trace tree.

use genai::chat::{ChatMessage, ChatRequest, Tool, ToolResponse};
use genai::resolver::{AuthData, Endpoint};
use genai::{Client, ServiceTarget};
use llmobs_clients::StandIn;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Units in stock, from the store's inventory.
#[llmobs::tool]
fn check_inventory(sku: &str) -> u32 {
    match sku {
        "SOFA-OSLO-3" => 4,
        "LAMP-SOL-1" => 0,
        _ => 12,
    }
}

/// One customer question: a model call that may ask for the inventory tool, then the answer.
#[llmobs::workflow(session_id = "genai-demo")]
async fn answer(client: &Client, model: &str, question: &str) -> Result<String, genai::Error> {
    let tool = Tool::new("check_inventory")
        .with_description("Units in stock for a product SKU")
        .with_schema(json!({
            "type": "object",
            "properties": {"sku": {"type": "string"}},
            "required": ["sku"]
        }));
    let req = ChatRequest::new(vec![
        ChatMessage::system(
            "You are Furnish Hub's support assistant. Use the tool for stock questions.",
        ),
        ChatMessage::user(question),
    ])
    .with_tools(vec![tool]);
    let first = client.exec_chat(model, req.clone(), None).await?;
    let calls = first.clone().into_tool_calls();
    if calls.is_empty() {
        return Ok(first.first_text().unwrap_or_default().to_owned());
    }
    let mut req = req.append_message(calls.clone());
    for call in &calls {
        let sku = call.fn_arguments["sku"].as_str().unwrap_or_default();
        let units = check_inventory(sku);
        req = req.append_message(ToolResponse::new(
            call.call_id.clone(),
            format!("{units} units"),
        ));
    }
    let second = client.exec_chat(model, req, None).await?;
    Ok(second.first_text().unwrap_or_default().to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // genai records messages only when asked, and reads this once, at its first call.
    if std::env::var_os("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT").is_none() {
        std::env::set_var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true");
    }
    let _llmobs = llmobs::Config::from_env()?
        .default_ml_app("furnish-hub")
        .init()?;
    tracing_subscriber::registry()
        .with(llmobs::tracing::layer())
        .init();

    let _stand_in; // kept alive while the example runs offline
    let (client, model) = match std::env::var("OPENAI_API_KEY") {
        Ok(key) if !key.is_empty() => {
            let base = std::env::var("OPENAI_BASE_URL").ok();
            let client = Client::builder()
                .with_service_target_resolver_fn(move |mut t: ServiceTarget| {
                    if let Some(base) = &base {
                        let base = format!("{}/", base.trim_end_matches('/'));
                        t.endpoint = Endpoint::from_owned(base);
                    }
                    t.auth = AuthData::from_single(key.clone());
                    Ok(t)
                })
                .build()?;
            let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into());
            println!("genai assistant using {model}");
            (client, model)
        }
        _ => {
            let stand_in = StandIn::start()?;
            let base = stand_in.url().to_owned();
            _stand_in = stand_in;
            println!("genai assistant running offline against the bundled stand-in");
            let client = Client::builder()
                .with_service_target_resolver_fn(move |mut t: ServiceTarget| {
                    t.endpoint = Endpoint::from_owned(base.clone());
                    t.auth = AuthData::from_single("stand-in");
                    Ok(t)
                })
                .build()?;
            (client, "gpt-4o-mini".to_owned())
        }
    };

    for question in ["Is SOFA-OSLO-3 in stock?", "Do you deliver on Sundays?"] {
        println!("\ncustomer  > {question}");
        match answer(&client, &model, question).await {
            Ok(text) => println!("assistant > {text}"),
            Err(e) => println!("assistant > Sorry, something went wrong: {e}"),
        }
    }
    let report = llmobs::flush();
    eprintln!("\n{report}");
    Ok(())
}
