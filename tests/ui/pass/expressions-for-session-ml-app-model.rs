struct Session {
    id: String,
}

impl Session {
    fn id(&self) -> &str {
        &self.id
    }
}

struct Client {
    model: String,
    provider: &'static str,
    app: Option<String>,
}

impl Client {
    #[llmobs::llm(model_name = self.model.as_str(), model_provider = self.provider, ml_app = &self.app, session_id = session.id())]
    fn chat(&self, session: &Session, prompt: &str) -> String {
        prompt.to_owned()
    }

    #[llmobs::embedding(model_name = format!("{}-embed", self.model), model_provider = "Local")]
    async fn embed(&self, text: &str) -> Vec<f32> {
        vec![text.len() as f32]
    }
}

#[llmobs::workflow(session_id = session_id.clone(), ml_app = "support-bot")]
fn handle(session_id: Option<String>) {}

fn main() {
    let c = Client { model: "m".into(), provider: "p", app: None };
    let s = Session { id: "s".into() };
    assert_eq!(c.chat(&s, "hi"), "hi");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(c.embed("ab")), [2.0]);
    handle(Some("s-1".into()));
}
