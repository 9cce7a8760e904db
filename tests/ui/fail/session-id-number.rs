#[llmobs::workflow(session_id = 5)]
fn handle() {}

fn main() {}
