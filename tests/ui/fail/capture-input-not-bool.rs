#[llmobs::tool(capture_input = "yes")]
fn lookup(id: u32) -> u32 {
    id
}

fn main() {}
