use std::num::ParseIntError;

#[llmobs::tool]
fn parse(s: &str) -> Result<u32, ParseIntError> {
    if s.is_empty() {
        return Ok(0);
    }
    let n = s.trim().parse::<u32>()?;
    Ok(n)
}

#[llmobs::tool]
fn boxed(s: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if s == "bad" {
        return Err("bad input".into());
    }
    Ok(parse(s)?)
}

#[llmobs::task]
async fn parse_later(s: String) -> Result<u32, Box<dyn std::error::Error>> {
    if s.is_empty() {
        return Err("empty".into());
    }
    Ok(s.parse::<u32>()?)
}

fn main() {
    assert_eq!(parse(" 4"), Ok(4));
    assert!(boxed("bad").is_err());
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(parse_later("5".into())).unwrap(), 5);
}
