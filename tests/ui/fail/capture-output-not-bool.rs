#[llmobs::tool(capture_output = 1)]
fn lookup(id: u32) -> u32 {
    id
}

fn main() {}
