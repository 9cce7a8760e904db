#[llmobs::tool(skip = password)]
fn login(password: &str) -> bool {
    password.is_empty()
}

fn main() {}
