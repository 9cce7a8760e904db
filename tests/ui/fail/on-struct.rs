#[llmobs::task]
struct Step {
    id: u32,
}

fn main() {
    let _ = Step { id: 1 }.id;
}
