#[llmobs::workflow(ml_app = "support__bot")]
fn handle() {}

fn main() {}
