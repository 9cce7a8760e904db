#[llmobs::llm(model_name = "gpt-4o", temperature = 0.2)]
fn chat() -> String {
    String::new()
}

fn main() {}
