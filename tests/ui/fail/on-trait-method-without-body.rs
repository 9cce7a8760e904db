trait Search {
    #[llmobs::retrieval]
    fn search(&self, query: &str) -> Vec<String>;
}

fn main() {}
