// The config refuses a non-ASCII ml_app at init, so the attribute refuses it at compile time.
#[llmobs::workflow(ml_app = "café")]
fn handle() {}

fn main() {}
