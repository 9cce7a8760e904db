#[llmobs::llm(
    model_name = "gpt-4o-mini",
    model_provider = "OpenAI",
    name = "chat",
    session_id = "s-1",
    ml_app = "support-bot",
    capture_input = true,
    capture_output = false,
    skip(api_key),
)]
fn chat(prompt: &str, api_key: &str) -> String {
    format!("{prompt}{api_key}")
}

#[llmobs::retrieval(name = "search", capture_output = true, capture_input = false, skip(limit))]
fn search(query: &str, limit: usize) -> Vec<String> {
    vec![query.to_owned(); limit]
}

fn main() {
    assert_eq!(chat("a", "b"), "ab");
    assert_eq!(search("q", 2).len(), 2);
}
