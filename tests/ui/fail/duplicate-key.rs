#[llmobs::workflow(name = "first", name = "second")]
fn handle() {}

fn main() {}
