trait Tool {
    fn call(&self, input: &str) -> String;
    fn call_async(&self, input: &str) -> impl std::future::Future<Output = String> + Send;
}

#[allow(async_fn_in_trait)]
pub trait Agent {
    async fn step(&mut self, goal: &str) -> usize;
}

struct Upper;

impl Tool for Upper {
    #[llmobs::tool]
    fn call(&self, input: &str) -> String {
        input.to_uppercase()
    }

    #[llmobs::tool]
    async fn call_async(&self, input: &str) -> String {
        self.call(input)
    }
}

struct Counter(usize);

impl Agent for Counter {
    #[llmobs::agent]
    async fn step(&mut self, goal: &str) -> usize {
        self.0 += goal.len();
        self.0
    }
}

fn main() {
    assert_eq!(Upper.call("a"), "A");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(Upper.call_async("b")), "B");
    let mut c = Counter(0);
    assert_eq!(rt.block_on(c.step("abc")), 3);
}
