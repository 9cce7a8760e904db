#[llmobs::task(name = 5)]
fn step() {}

fn main() {}
