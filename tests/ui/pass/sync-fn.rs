#[llmobs::task]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[llmobs::workflow]
fn nothing() {}

fn main() {
    assert_eq!(add(1, 2), 3);
    nothing();
}
