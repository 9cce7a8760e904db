// A `crate = ..` path that does not lead to llmobs is reported at the user's path.
mod my_sdk {}

#[llmobs::task(crate = my_sdk)]
fn step() {}

fn main() {}
