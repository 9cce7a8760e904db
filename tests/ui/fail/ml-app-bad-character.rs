#[llmobs::workflow(ml_app = "support bot")]
fn handle() {}

fn main() {}
