#[llmobs::task(name = "")]
fn step() {}

fn main() {}
