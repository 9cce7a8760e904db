//! `#[tracing::instrument]` above or below an llmobs attribute, on sync and async functions:
//! both the tracing span and the LLM Observability span are made, whatever the order.

use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

/// Records the names of the tracing spans made, and the tracing span each event in a body was
/// emitted in.
#[derive(Clone, Default)]
struct Names(Arc<Mutex<Vec<String>>>);

impl<S> Layer<S> for Names
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.0
            .lock()
            .unwrap()
            .push(attrs.metadata().name().to_owned());
    }
    fn on_event(&self, _: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let current = ctx.lookup_current().map(|s| s.name().to_owned());
        self.0.lock().unwrap().push(format!(
            "event in {}",
            current.as_deref().unwrap_or("no span")
        ));
    }
}

#[llmobs::task]
#[tracing::instrument]
fn sync_llmobs_above(x: u32) -> u32 {
    tracing::info!("body");
    x + 1
}

#[tracing::instrument]
#[llmobs::task]
fn sync_tracing_above(x: u32) -> u32 {
    tracing::info!("body");
    x + 1
}

#[llmobs::task]
#[tracing::instrument]
async fn async_llmobs_above(x: u32) -> u32 {
    tracing::info!("body");
    x + 1
}

#[tracing::instrument]
#[llmobs::task]
async fn async_tracing_above(x: u32) -> u32 {
    tracing::info!("body");
    x + 1
}

#[llmobs::llm(model_name = "m", model_provider = "p")]
#[tracing::instrument(skip_all)]
async fn async_llm_llmobs_above(prompt: &str) -> String {
    format!("{prompt}!")
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn both_spans_are_made_in_either_order() {
    let names = Names::default();
    let subscriber = Registry::default().with(names.clone());
    tracing::subscriber::with_default(subscriber, || {
        type Call = Box<dyn Fn() -> u32>;
        let cases: Vec<(&str, Call)> = vec![
            ("sync_llmobs_above", Box::new(|| sync_llmobs_above(1))),
            ("sync_tracing_above", Box::new(|| sync_tracing_above(1))),
            (
                "async_llmobs_above",
                Box::new(|| block_on(async_llmobs_above(1))),
            ),
            (
                "async_tracing_above",
                Box::new(|| block_on(async_tracing_above(1))),
            ),
        ];
        for (name, call) in cases {
            names.0.lock().unwrap().clear();
            let (out, spans) = llmobs::testing::capture_with_result(call);
            assert_eq!(out, 2, "{name}");
            assert_eq!(spans.len(), 1, "{name}: the LLM Observability span");
            assert_eq!(spans[0].name, name);
            assert_eq!(spans[0].output_text().as_deref(), Some("2"), "{name}");
            assert_eq!(
                *names.0.lock().unwrap(),
                [name.to_owned(), format!("event in {name}")],
                "{name}: the tracing span, entered while the body runs"
            );
        }
        let (out, spans) =
            llmobs::testing::capture_with_result(|| block_on(async_llm_llmobs_above("hi")));
        assert_eq!(out, "hi!");
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].kind, llmobs::SpanKind::Llm);
    });
}
