#[llmobs::task]
fn bump(mut n: u32, mut v: Vec<u32>) -> Vec<u32> {
    n += 1;
    v.push(n);
    v
}

#[llmobs::task]
async fn bump_later(mut n: u32) -> u32 {
    n += 1;
    n
}

fn main() {
    assert_eq!(bump(1, vec![]), [2]);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(bump_later(1)), 2);
}
