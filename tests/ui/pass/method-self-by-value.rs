struct Request {
    body: String,
}

impl Request {
    #[llmobs::task]
    fn into_body(self) -> String {
        self.body
    }

    #[llmobs::task]
    async fn send(self, retries: u8) -> usize {
        self.body.len() + retries as usize
    }
}

fn main() {
    assert_eq!(Request { body: "x".into() }.into_body(), "x");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(Request { body: "xy".into() }.send(1)), 3);
}
