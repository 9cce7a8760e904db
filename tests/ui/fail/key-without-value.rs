#[llmobs::workflow(session_id)]
fn handle() {}

fn main() {}
