struct Db;

impl Db {
    #[llmobs::retrieval(skip(self))]
    fn find(&self, key: &str) -> Vec<String> {
        vec![key.to_owned()]
    }
}

fn main() {}
