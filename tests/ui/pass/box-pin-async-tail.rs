use std::future::Future;
use std::pin::Pin;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait Store {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<String>>;
    fn len(&self) -> Pin<Box<dyn Future<Output = Result<usize, String>> + Send + '_>>;
}

struct Mem(Vec<String>);

impl Store for Mem {
    #[llmobs::retrieval]
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<String>> {
        let rows = &self.0;
        Box::pin(async move { rows.iter().find(|r| r.starts_with(key)).cloned() })
    }

    #[llmobs::task]
    fn len(&self) -> Pin<Box<dyn Future<Output = Result<usize, String>> + Send + '_>> {
        Box::pin(async move {
            if self.0.is_empty() {
                return Err("empty".to_owned());
            }
            Ok(self.0.len())
        })
    }
}

fn main() {
    let m = Mem(vec!["ab".into()]);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(m.get("a")).as_deref(), Some("ab"));
    assert_eq!(rt.block_on(m.len()), Ok(1));
}
