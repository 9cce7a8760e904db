#[llmobs::task(name = "a" "b")]
fn step() {}

fn main() {}
