#[llmobs::tool(skip(pasword))]
fn login(user: &str, password: &str) -> bool {
    user != password
}

fn main() {}
