#[llmobs::task(model_name = "gpt-4o")]
fn step() {}

fn main() {}
