// A crate that re-exports `llmobs` (here the module `my_sdk`) tells the attributes where to find
// it with `crate = ..`, as a path or as a string, on every kind and every form of fn.
mod my_sdk {
    pub use ::llmobs;

    pub mod nested {
        pub use ::llmobs as observability;
    }
}

#[my_sdk::llmobs::workflow(crate = my_sdk::llmobs)]
fn plain(question: &str) -> usize {
    question.len()
}

#[my_sdk::llmobs::agent(name = "support", session_id = "s-1", crate = "my_sdk::llmobs")]
fn with_options(goal: String) -> Result<String, std::fmt::Error> {
    Ok(goal)
}

#[my_sdk::nested::observability::tool(crate = crate::my_sdk::nested::observability)]
async fn lookup(order: u32) -> u32 {
    order + 1
}

#[my_sdk::llmobs::task(crate = ::llmobs, capture_input = false)]
async fn unit() {}

#[my_sdk::llmobs::retrieval(crate = my_sdk::llmobs)]
fn boxed(query: String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<String>> + Send>> {
    Box::pin(async move { vec![query] })
}

#[my_sdk::llmobs::llm(model_name = "gpt-4o-mini", model_provider = "OpenAI", crate = my_sdk::llmobs)]
fn chat(prompt: &str) -> String {
    prompt.to_uppercase()
}

struct Embedder {
    model: String,
}

impl Embedder {
    #[my_sdk::llmobs::embedding(model_name = self.model.as_str(), crate = my_sdk::llmobs)]
    fn embed(&self, text: &str) -> Vec<f32> {
        vec![text.len() as f32]
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let embedder = Embedder { model: "e-1".into() };
    let spans = my_sdk::llmobs::testing::capture(|| {
        assert_eq!(plain("hi"), 2);
        assert_eq!(with_options("refund".into()).unwrap(), "refund");
        assert_eq!(rt.block_on(lookup(41)), 42);
        rt.block_on(unit());
        assert_eq!(rt.block_on(boxed("q".into())), ["q"]);
        assert_eq!(chat("hi"), "HI");
        assert_eq!(embedder.embed("abc"), [3.0]);
    });
    let seen: Vec<(&str, my_sdk::llmobs::SpanKind)> =
        spans.iter().map(|s| (s.name.as_str(), s.kind)).collect();
    use my_sdk::llmobs::SpanKind::*;
    assert_eq!(
        seen,
        [
            ("plain", Workflow),
            ("support", Agent),
            ("lookup", Tool),
            ("unit", Task),
            ("boxed", Retrieval),
            ("chat", Llm),
            ("embed", Embedding),
        ]
    );
    assert_eq!(spans[1].session_id.as_deref(), Some("s-1"));
    assert_eq!(spans[5].model_provider(), Some("openai"));
    assert_eq!(spans[6].model_name(), Some("e-1"));
}
