#[llmobs::task]
async fn fetch(id: u32, label: &str) -> String {
    format!("{label}{id}")
}

#[llmobs::workflow]
async fn unit(_: u8) {}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(fetch(1, "a")), "a1");
    rt.block_on(unit(0));
    // The future is `Send` and `'static` when its arguments are, so it can be spawned.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let label = String::from("b");
    let h = rt.spawn(async move { fetch(2, &label).await });
    assert_eq!(rt.block_on(h).unwrap(), "b2");
}
