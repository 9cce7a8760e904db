//! Retrieval-augmented generation: an embedding, a retrieval and an LLM call with a prompt
//! template, traced as one workflow.
//!
//! ```text
//! cargo run --example rag
//! ```

use llmobs::{Document, Message, Prompt};

const KNOWLEDGE: &[(&str, &str)] = &[
    (
        "kb-1",
        "Sofas are delivered by a two-person team who assemble them in the room of your choice.",
    ),
    (
        "kb-2",
        "Standard delivery takes 5 to 7 business days; express delivery takes 2 business days.",
    ),
    (
        "kb-3",
        "Every frame carries a 10-year warranty against manufacturing defects.",
    ),
];

#[llmobs::embedding(model_name = "toy-embedder", model_provider = "local")]
fn embed(text: &str) -> Vec<f64> {
    let _ = llmobs::annotate()
        .input_documents([Document::text(text)])
        .apply();
    let words: Vec<String> = text
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    ["deliver", "warranty", "express", "assembl"]
        .iter()
        .map(|k| words.iter().filter(|w| w.contains(k)).count() as f64)
        .collect()
}

#[llmobs::retrieval]
fn search(query: &str) -> Vec<(&'static str, &'static str, f64)> {
    let q = embed(query);
    let mut hits: Vec<_> = KNOWLEDGE
        .iter()
        .map(|(id, text)| {
            let d = embed(text);
            let score: f64 = q.iter().zip(&d).map(|(a, b)| a * b).sum();
            (*id, *text, score)
        })
        .filter(|h| h.2 > 0.0)
        .collect();
    hits.sort_by(|a, b| b.2.total_cmp(&a.2));
    let _ = llmobs::annotate()
        .output_documents(
            hits.iter()
                .map(|(id, text, score)| Document::text(*text).id(*id).score(*score)),
        )
        .apply();
    hits
}

#[llmobs::llm(model_name = "toy-llm", model_provider = "local")]
fn generate(question: &str, context: &str) -> String {
    let template = "Answer the question {{question}} using only this context: {{context}}";
    let prompt_text = template
        .replace("{{question}}", question)
        .replace("{{context}}", context);
    let answer = format!("Based on our policies: {context}");
    let _ = llmobs::annotate()
        .prompt(
            Prompt::template(template)
                .id("rag-answer")
                .version("1.0")
                .variable("question", question)
                .variable("context", context),
        )
        .input_messages([Message::user(prompt_text)])
        .output_messages([Message::assistant(&answer)])
        .metric("input_tokens", 42.0)
        .metric("output_tokens", 17.0)
        .apply();
    answer
}

#[llmobs::workflow]
fn ask(question: &str) -> String {
    let hits = search(question);
    let context: Vec<&str> = hits.iter().map(|h| h.1).collect();
    generate(question, &context.join(" "))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _llmobs = llmobs::Config::from_env()?
        .default_ml_app("rag-demo")
        .init()?;
    println!("{}", ask("How long does express delivery take?"));
    Ok(())
}
