struct Db {
    rows: Vec<String>,
}

impl Db {
    #[llmobs::retrieval]
    fn find(&self, key: &str) -> Vec<&String> {
        self.rows.iter().filter(|r| r.contains(key)).collect()
    }

    #[llmobs::retrieval]
    async fn first(&self) -> &str {
        &self.rows[0]
    }
}

fn main() {
    let db = Db { rows: vec!["a".into()] };
    assert_eq!(db.find("a").len(), 1);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(db.first()), "a");
}
