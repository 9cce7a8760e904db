use std::fmt::Debug;

#[llmobs::task]
fn largest<'a, T>(items: &'a [T]) -> Option<&'a T>
where
    T: Ord + Debug,
{
    items.iter().max()
}

#[llmobs::task]
async fn describe<T, const N: usize>(items: [T; N], sep: &str) -> String
where
    T: ToString,
{
    items.iter().map(T::to_string).collect::<Vec<_>>().join(sep)
}

fn main() {
    assert_eq!(largest(&[1, 3, 2]), Some(&3));
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(describe([1, 2], ",")), "1,2");
}
