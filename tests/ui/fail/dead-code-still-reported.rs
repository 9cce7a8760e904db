#![deny(dead_code)]

#[llmobs::task]
fn never_called(a: u32) -> u32 {
    a
}

#[llmobs::task]
async fn never_awaited(a: u32) -> u32 {
    a
}

fn main() {}
