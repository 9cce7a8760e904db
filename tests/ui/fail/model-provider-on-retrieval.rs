#[llmobs::retrieval(model_provider = "openai")]
fn search(query: &str) -> Vec<String> {
    vec![query.to_owned()]
}

fn main() {}
