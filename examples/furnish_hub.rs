//! Furnish Hub: a customer-support assistant for a furniture store, traced end to end.
//!
//! Every message goes through a `workflow` root, an input-sanitising `task` that detects personal
//! data, an `agent` that retrieves from the bundled catalogue and policies (`retrieval` over an
//! `embedding`), calls `tool`s (inventory, order status) and an `llm`; each answer gets an
//! evaluation, and each conversation a session id and a user id.
//!
//! ```text
//! cargo run --example furnish_hub                  # scripted conversation
//! cargo run --example furnish_hub -- --interactive # type your own questions; `exit` quits
//! ```
//!
//! With `OPENAI_API_KEY` set it calls an OpenAI-compatible chat completions API (`OPENAI_BASE_URL`
//! overrides the endpoint, e.g. `http://localhost:11434/v1` for Ollama; `OPENAI_MODEL` the model)
//! and reports the real token usage. Without a key it answers offline from the catalogue and
//! estimates token counts (marked as estimated). Spans go to Datadog when an Agent or
//! `DD_API_KEY` is configured; otherwise the trace tree is printed and the payloads written to a
//! local JSONL file.

#[path = "support/catalog.rs"]
mod catalog;
#[path = "support/pii.rs"]
mod pii;

use std::fmt;
use std::io::BufRead;

use llmobs::{Document, Evaluation, Message};
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Errors

#[derive(Debug)]
enum AssistantError {
    UnknownOrder(String),
    Model(String),
}

impl fmt::Display for AssistantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AssistantError::UnknownOrder(id) => write!(f, "no order with id {id}"),
            AssistantError::Model(e) => write!(f, "the language model failed: {e}"),
        }
    }
}

impl std::error::Error for AssistantError {}

/// Observability never fails a customer's request: an annotation or evaluation that the SDK
/// refuses (a bug in this code, such as a metric that is NaN) is logged, and the answer goes on.
/// With LLM Observability off, the calls succeed and do nothing.
fn log_refused(result: Result<(), llmobs::Error>) {
    if let Err(e) = result {
        eprintln!("llmobs: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// The language model: a real OpenAI-compatible API, or an offline responder

enum Backend {
    OpenAi {
        base_url: String,
        api_key: String,
        model: String,
    },
    Offline,
}

impl Backend {
    fn from_env() -> Self {
        match std::env::var("OPENAI_API_KEY") {
            Ok(api_key) if !api_key.is_empty() => Backend::OpenAi {
                base_url: std::env::var("OPENAI_BASE_URL")
                    .unwrap_or_else(|_| "https://api.openai.com/v1".into()),
                api_key,
                model: std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into()),
            },
            _ => Backend::Offline,
        }
    }
    fn model(&self) -> &str {
        match self {
            Backend::OpenAi { model, .. } => model,
            Backend::Offline => "furnish-offline-responder",
        }
    }
    fn provider(&self) -> &str {
        match self {
            Backend::OpenAi { .. } => "openai",
            Backend::Offline => "custom",
        }
    }
}

struct Completion {
    text: String,
    input_tokens: u64,
    output_tokens: u64,
    estimated: bool,
}

const TEMPERATURE: f64 = 0.2;
const MAX_TOKENS: u64 = 300;

fn call_openai(
    base_url: &str,
    api_key: &str,
    model: &str,
    messages: &[Message],
) -> Result<Completion, AssistantError> {
    let body = serde_json::json!({
        "model": model,
        "temperature": TEMPERATURE,
        "max_tokens": MAX_TOKENS,
        "messages": api_messages(messages),
    });
    let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
    let mut response = ureq::post(&url)
        .header("Authorization", &format!("Bearer {api_key}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .map_err(|e| AssistantError::Model(e.to_string()))?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| AssistantError::Model(e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| AssistantError::Model(e.to_string()))?;
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .ok_or_else(|| AssistantError::Model(format!("unexpected response: {text}")))?;
    Ok(Completion {
        text: content.to_owned(),
        input_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
        output_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        estimated: false,
    })
}

/// The conversation as the chat completions API takes it. The assistant ran the tools itself,
/// so their results go to the model as context text rather than as `tool` messages (which the
/// API only accepts in answer to tool calls the model made).
fn api_messages(messages: &[Message]) -> Vec<serde_json::Value> {
    messages
        .iter()
        .filter(|m| !(m.role == "assistant" && m.content.is_empty()))
        .map(|m| match m.role.as_str() {
            "tool" => serde_json::json!({"role": "user", "content": format!("Tool result: {}", m.content)}),
            role => serde_json::json!({"role": role, "content": m.content}),
        })
        .collect()
}

/// About four characters per token, as tokenizers average on English text.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Answers from the retrieved context and tool results alone.
fn offline_answer(question: &str, docs: &[Doc], tools: &[ToolOutcome]) -> String {
    let mut parts = Vec::new();
    for t in tools {
        parts.push(t.summary.clone());
    }
    if let Some(best) = docs.first() {
        parts.push(best.text.clone());
    }
    if parts.is_empty() {
        return format!(
            "I'm sorry, I couldn't find anything about \"{}\" in our catalogue or policies. \
             A colleague from the support team will get back to you.",
            question.trim()
        );
    }
    parts.join(" ")
}

// ---------------------------------------------------------------------------------------------
// Retrieval: a small bag-of-words embedding over the bundled catalogue and policies

const DIMS: usize = 1024;

#[derive(Debug, Clone, Serialize)]
struct Doc {
    id: String,
    name: String,
    text: String,
    score: f64,
}

fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(|w| w.to_lowercase().trim_end_matches('s').to_owned())
        .filter(|w| {
            !matches!(
                w.as_str(),
                "the"
                    | "and"
                    | "you"
                    | "your"
                    | "for"
                    | "what"
                    | "doe"
                    | "how"
                    | "can"
                    | "are"
                    | "our"
            )
        })
}

fn hash(word: &str) -> usize {
    word.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) as usize
}

fn corpus() -> Vec<(String, String, String)> {
    let mut docs: Vec<(String, String, String)> = catalog::PRODUCTS
        .iter()
        .map(|p| {
            let (w, d, h) = p.dimensions_cm;
            (
                p.sku.to_owned(),
                p.name.to_owned(),
                format!(
                    "The {} ({}, {}) costs {:.0} USD and measures {w} x {d} x {h} cm (width x depth x height). {}",
                    p.name, p.sku, p.category, p.price_usd, p.description
                ),
            )
        })
        .collect();
    docs.extend(catalog::POLICIES.iter().map(|p| {
        (
            p.id.to_owned(),
            p.title.to_owned(),
            format!("{} policy: {}", p.title, p.text),
        )
    }));
    docs
}

// ---------------------------------------------------------------------------------------------
// The assistant

#[derive(Debug, Serialize)]
struct Sanitized {
    text: String,
    pii_found: Vec<pii::PiiKind>,
}

#[derive(Debug, Serialize)]
struct Inventory {
    sku: String,
    in_stock: u32,
}

#[derive(Debug, Serialize)]
struct OrderStatus {
    order_id: String,
    status: String,
    detail: String,
}

struct ToolOutcome {
    call: llmobs::ToolCall,
    result: llmobs::ToolResult,
    summary: String,
}

#[derive(Debug, Serialize)]
struct Reply {
    text: String,
    answered: bool,
}

struct Assistant {
    backend: Backend,
    session_id: String,
    user_id: String,
    corpus: Vec<(String, String, String)>,
}

impl Assistant {
    fn new(session_id: &str, user_id: &str) -> Self {
        Assistant {
            backend: Backend::from_env(),
            session_id: session_id.to_owned(),
            user_id: user_id.to_owned(),
            corpus: corpus(),
        }
    }

    /// One customer message, from raw text to the reply. The raw message may hold personal
    /// data, so it is not captured (`skip`); the sanitised text is recorded as the input instead.
    #[llmobs::workflow(name = "handle_message", session_id = self.session_id.as_str(), skip(message))]
    fn handle_message(&self, message: &str) -> Result<Reply, AssistantError> {
        let clean = self.sanitize_input(message);
        log_refused(
            llmobs::annotate()
                .user_id(&self.user_id)
                .input(&clean.text)
                .apply()
                .map_err(Into::into),
        );
        let reply = self.answer(&clean.text)?;
        // An evaluation per answer: did the assistant fail to answer?
        log_refused((|| {
            let span = llmobs::export_span(None)?;
            llmobs::submit_evaluation(
                Evaluation::categorical(
                    "failure_to_answer",
                    if reply.answered {
                        "answered"
                    } else {
                        "not_answered"
                    },
                )
                .span(&span)
                .tag("evaluator", "furnish-hub-heuristic")
                .assessment(if reply.answered {
                    llmobs::Assessment::Pass
                } else {
                    llmobs::Assessment::Fail
                }),
            )?;
            Ok(())
        })());
        Ok(reply)
    }

    /// Replaces personal data before it reaches the model or the telemetry; only its sanitised
    /// output is recorded.
    #[llmobs::task(capture_input = false)]
    fn sanitize_input(&self, message: &str) -> Sanitized {
        let (text, pii_found) = pii::redact(message);
        if !pii_found.is_empty() {
            let kinds: Vec<_> = pii_found
                .iter()
                .map(|k| serde_json::to_value(k).unwrap_or_default())
                .collect();
            let _ = llmobs::annotate().metadata("pii_found", kinds).apply();
        }
        Sanitized { text, pii_found }
    }

    /// Decides which tools to call, gathers context and asks the model.
    #[llmobs::agent]
    fn answer(&self, question: &str) -> Result<Reply, AssistantError> {
        let docs = self.retrieve(question, 2);
        let mut tools = Vec::new();
        if let Some(order_id) = find_order_id(question) {
            let status = self.order_status(&order_id)?;
            tools.push(ToolOutcome {
                call: llmobs::ToolCall::function(
                    "order_status",
                    serde_json::json!({"order_id": order_id}),
                )
                .id("call-1"),
                result: llmobs::ToolResult::function(
                    "order_status",
                    serde_json::to_string(&status).unwrap_or_default(),
                )
                .id("call-1"),
                summary: format!(
                    "Order {} is {}: {}.",
                    status.order_id, status.status, status.detail
                ),
            });
        }
        // Check stock of the best-matching product, if the question asks for it.
        let product = docs.iter().find(|d| !d.id.starts_with("policy"));
        if let (true, Some(doc)) = (asks_about_stock(question), product) {
            let inv = self.check_inventory(&doc.id);
            let summary = if inv.in_stock > 0 {
                format!("The {} is in stock ({} available).", doc.name, inv.in_stock)
            } else {
                format!("The {} is currently out of stock.", doc.name)
            };
            tools.push(ToolOutcome {
                call: llmobs::ToolCall::function(
                    "check_inventory",
                    serde_json::json!({"sku": doc.id}),
                )
                .id("call-2"),
                result: llmobs::ToolResult::function("check_inventory", inv.in_stock.to_string())
                    .id("call-2"),
                summary,
            });
        }
        let answered = !docs.is_empty() || !tools.is_empty();
        let text = self.chat(question, &docs, &tools)?;
        Ok(Reply { text, answered })
    }

    #[llmobs::retrieval]
    fn retrieve(&self, query: &str, top_k: usize) -> Vec<Doc> {
        let q = self.embed(query);
        let mut scored: Vec<Doc> = self
            .corpus
            .iter()
            .map(|(id, name, text)| Doc {
                id: id.clone(),
                name: name.clone(),
                text: text.clone(),
                score: cosine(&q, &bag(text)),
            })
            .filter(|d| d.score >= 0.22)
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        scored.truncate(top_k);
        let _ = llmobs::annotate()
            .output_documents(scored.iter().map(|d| {
                Document::text(&d.text)
                    .name(&d.name)
                    .id(&d.id)
                    .score((d.score * 1000.0).round() / 1000.0)
            }))
            .apply();
        scored
    }

    #[llmobs::embedding(model_name = "furnish-bow-1024", model_provider = "local")]
    fn embed(&self, text: &str) -> Vec<f64> {
        let _ = llmobs::annotate()
            .input_documents([Document::text(text)])
            .apply();
        bag(text)
    }

    #[llmobs::tool]
    fn check_inventory(&self, sku: &str) -> Inventory {
        Inventory {
            sku: sku.to_owned(),
            in_stock: catalog::stock(sku),
        }
    }

    #[llmobs::tool]
    fn order_status(&self, order_id: &str) -> Result<OrderStatus, AssistantError> {
        let order = catalog::ORDERS
            .iter()
            .find(|o| o.id.eq_ignore_ascii_case(order_id))
            .ok_or_else(|| AssistantError::UnknownOrder(order_id.to_owned()))?;
        Ok(OrderStatus {
            order_id: order.id.to_owned(),
            status: order.status.to_owned(),
            detail: order.detail.to_owned(),
        })
    }

    #[llmobs::llm(model_name = self.backend.model(), model_provider = self.backend.provider())]
    fn chat(
        &self,
        question: &str,
        docs: &[Doc],
        tools: &[ToolOutcome],
    ) -> Result<String, AssistantError> {
        let context: Vec<String> = docs
            .iter()
            .map(|d| format!("[{}] {}", d.id, d.text))
            .collect();
        let mut messages = vec![
            Message::system(
                "You are Furnish Hub's support assistant. Answer in two sentences at most, only from the context \
                 and tool results. If they do not contain the answer, say you don't know.",
            ),
            Message::user(format!("Context:\n{}\n\nQuestion: {question}", context.join("\n"))),
        ];
        if !tools.is_empty() {
            messages.push(Message::assistant("").tool_calls(tools.iter().map(|t| t.call.clone())));
            for t in tools {
                messages.push(Message::tool(
                    t.result.result.clone(),
                    t.result.tool_id.clone().unwrap_or_default(),
                ));
            }
        }
        let completion = match &self.backend {
            Backend::OpenAi {
                base_url,
                api_key,
                model,
            } => call_openai(base_url, api_key, model, &messages)?,
            Backend::Offline => {
                let text = offline_answer(question, docs, tools);
                let prompt_chars: String = messages.iter().map(|m| m.content.as_str()).collect();
                Completion {
                    input_tokens: estimate_tokens(&prompt_chars),
                    output_tokens: estimate_tokens(&text),
                    text,
                    estimated: true,
                }
            }
        };
        let mut note = llmobs::annotate()
            .input_messages(messages)
            .output_messages([Message::assistant(&completion.text)])
            .metadata("temperature", TEMPERATURE)
            .metadata("max_tokens", MAX_TOKENS)
            .metric("input_tokens", completion.input_tokens as f64)
            .metric("output_tokens", completion.output_tokens as f64)
            .metric(
                "total_tokens",
                (completion.input_tokens + completion.output_tokens) as f64,
            );
        if completion.estimated {
            note = note
                .metadata("token_counts", "estimated")
                .tag("token_counts", "estimated");
        }
        log_refused(note.apply().map_err(Into::into));
        Ok(completion.text)
    }
}

fn bag(text: &str) -> Vec<f64> {
    let mut v = vec![0.0; DIMS];
    for t in tokens(text) {
        v[hash(&t) % DIMS] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn find_order_id(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .find(|w| {
            w.len() >= 6
                && w.to_ascii_uppercase().starts_with("FH-")
                && w[3..].chars().all(|c| c.is_ascii_digit())
        })
        .map(|w| w.to_ascii_uppercase())
}

fn asks_about_stock(text: &str) -> bool {
    let t = text.to_lowercase();
    ["in stock", "available", "availability", "have any"]
        .iter()
        .any(|k| t.contains(k))
}

// ---------------------------------------------------------------------------------------------

const SCRIPT: &[&str] = &[
    "Hi! How wide is the Oslo sofa, and is it in stock?",
    "What is your return policy for a sofa?",
    "This is jane.doe@example.com, I live at 12 Harbor Street. When does order FH-10021 arrive? Call me on +1 415 555 0134.",
    "Do you sell grand pianos?",
    "Is the Sol floor lamp available?",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _llmobs = llmobs::Config::from_env()?
        .default_ml_app("furnish-hub")
        .init()?;
    let interactive = std::env::args().any(|a| a == "--interactive");
    let assistant = Assistant::new(&format!("session-{}", std::process::id()), "user-1001");
    match &assistant.backend {
        Backend::OpenAi { base_url, model, .. } => println!("Furnish Hub assistant using {model} at {base_url}"),
        Backend::Offline => println!(
            "Furnish Hub assistant running offline (no OPENAI_API_KEY): answers come from the catalogue, token counts are estimated"
        ),
    }

    let ask = |question: &str| {
        println!("\ncustomer  > {question}");
        match assistant.handle_message(question) {
            Ok(reply) => println!("assistant > {}", reply.text),
            Err(e) => println!("assistant > Sorry, something went wrong: {e}"),
        }
    };

    if interactive {
        println!("Type a question, or `exit` (or `quit`, `q`, Ctrl-D) to quit.");
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            let q = line.trim();
            if ["exit", "quit", "q"]
                .iter()
                .any(|w| q.eq_ignore_ascii_case(w))
            {
                break;
            }
            if !q.is_empty() {
                ask(q);
            }
        }
    } else {
        for q in SCRIPT {
            ask(q);
        }
    }
    // The flush report is about telemetry, not for the customer: stderr.
    let report = llmobs::flush();
    eprintln!("\n{report}");
    Ok(())
}
