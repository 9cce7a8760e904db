#[llmobs::task]
fn count(items: &[u32]) -> u32 {
    items.len()
}

fn main() {
    let _ = count(&[1]);
}
