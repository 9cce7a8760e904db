#[llmobs::workflow(ml_app = "support_bot_")]
fn handle() {}

fn main() {}
