#[llmobs::task]
fn join(parts: impl IntoIterator<Item = String>, sep: impl AsRef<str>) -> String {
    parts.into_iter().collect::<Vec<_>>().join(sep.as_ref())
}

#[llmobs::task]
async fn total(items: impl Iterator<Item = &u32>) -> u32 {
    items.sum()
}

fn main() {
    assert_eq!(join(vec!["a".into(), "b".into()], "-"), "a-b");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(total([1, 2].iter())), 3);
}
