#[llmobs::llm(name = 5, model_provider = "openai", capture_input = "no", skip(nope), ml_app = "Bad App")]
fn chat(prompt: &str) -> String {
    prompt.to_owned()
}

fn main() {
    // The fn is still emitted, so this call is not an error of its own.
    let _ = chat("hi");
}
