#[llmobs::task]
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[llmobs::task]
fn depth(n: u32) -> Result<u32, String> {
    if n == 0 {
        return Ok(0);
    }
    Ok(depth(n - 1)? + 1)
}

fn main() {
    assert_eq!(fib(10), 55);
    assert_eq!(depth(3), Ok(3));
}
