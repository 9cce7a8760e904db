#[llmobs::task(foo = 1)]
fn step() {}

fn main() {}
