#[llmobs::llm(model_provider = "openai")]
fn chat(prompt: &str) -> String {
    prompt.to_owned()
}

fn main() {}
