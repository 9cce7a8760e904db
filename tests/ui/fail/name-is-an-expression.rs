const NAME: &str = "step";

#[llmobs::task(name = NAME)]
fn step() {}

fn main() {}
