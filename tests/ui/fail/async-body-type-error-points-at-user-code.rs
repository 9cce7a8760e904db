#[llmobs::task]
async fn count(items: Vec<u32>) -> u32 {
    items.len()
}

fn main() {
    let _ = count(vec![1]);
}
