#[llmobs::workflow(ml_app = "Support-Bot")]
fn handle() {}

fn main() {}
