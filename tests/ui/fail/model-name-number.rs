#[llmobs::llm(model_name = 5)]
fn chat() -> String {
    String::new()
}

fn main() {}
