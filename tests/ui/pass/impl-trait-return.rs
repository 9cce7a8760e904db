use std::fmt::Display;

#[llmobs::task]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[llmobs::task]
fn boxed(flag: bool) -> Box<dyn Display> {
    if flag {
        Box::new(1)
    } else {
        Box::new("no")
    }
}

#[llmobs::task]
async fn later(n: u32) -> impl Display {
    n * 2
}

fn main() {
    assert_eq!(evens(5).count(), 3);
    assert_eq!(boxed(false).to_string(), "no");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(later(2)).to_string(), "4");
}
