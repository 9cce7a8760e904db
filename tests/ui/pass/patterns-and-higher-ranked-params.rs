struct Point {
    x: i32,
    y: i32,
}

#[llmobs::task]
fn sum(Point { x, y }: Point, (a, _): (i32, i32), _: u8) -> i32 {
    x + y + a
}

#[llmobs::task]
async fn apply(f: fn(&str) -> &str, g: &dyn Fn(&str) -> String, s: &str) -> String {
    g(f(s))
}

#[llmobs::task]
async fn with_anon(items: std::slice::Iter<'_, u32>, name: Box<dyn std::fmt::Display + '_>) -> String {
    format!("{name}{}", items.count())
}

fn main() {
    assert_eq!(sum(Point { x: 1, y: 2 }, (3, 4), 0), 6);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(apply(|s| s.trim(), &|s| s.to_uppercase(), " a ")), "A");
    let name = String::from("n");
    assert_eq!(rt.block_on(with_anon([1, 2].iter(), Box::new(&name))), "n2");
}
