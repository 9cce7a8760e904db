#[llmobs::workflow(session_id = user)]
fn handle(user: u64) -> u64 {
    user
}

fn main() {}
