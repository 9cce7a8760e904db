//! Span-kind attributes for `llmobs`: `#[llm]`, `#[embedding]`, `#[workflow]`, `#[agent]`,
//! `#[tool]`, `#[task]` and `#[retrieval]`. Use them through the `llmobs` crate
//! (`#[llmobs::task]`), which re-exports them.
//!
//! Each attribute goes through the same three stages: `attr` parses the arguments and the fn,
//! `valid` checks them against the kind's row of the table in `kind`, and `expand` generates the
//! code (`lifetimes` helps it with `async fn`). Whatever goes wrong, `fallback` emits the fn
//! unchanged beside the errors.
//!
//! A crate that re-exports the attributes passes `crate = <path>` so that the expansion names the
//! runtime support through the re-export rather than as `::llmobs`, which the crates using it may
//! not depend on:
//!
//! ```
//! mod my_sdk {
//!     // In a real SDK: `pub use llmobs;` at the SDK's crate root.
//!     pub use ::llmobs;
//! }
//!
//! #[my_sdk::llmobs::task(crate = my_sdk::llmobs)]
//! fn normalize(text: &str) -> String {
//!     text.trim().to_lowercase()
//! }
//!
//! let spans = my_sdk::llmobs::testing::capture(|| normalize(" Hi "));
//! assert_eq!(spans[0].name, "normalize");
//! assert_eq!(spans[0].kind, my_sdk::llmobs::SpanKind::Task);
//! ```

extern crate proc_macro;

mod attr;
mod expand;
mod fallback;
mod kind;
mod lifetimes;
mod valid;

use kind::Kind;
use proc_macro::TokenStream;

/// The keys every attribute accepts, shared by the docs of all seven.
macro_rules! common_keys {
    () => {
        r#"
| key | value | default |
|---|---|---|
| `name` | a string literal: `name = "answer_question"` | the fn's name |
| `session_id` | a string literal or an expression over the fn's arguments: `session_id = "s-1"`, `session_id = session.id()` | inherited from the parent span |
| `ml_app` | a string literal or an expression: `ml_app = "support-bot"`, `ml_app = app.name()` | inherited from the parent span, else the configured ml_app |
| `capture_input` | `true` or `false`: `capture_input = false` | the kind's default, above |
| `capture_output` | `true` or `false`: `capture_output = false` | the kind's default, above |
| `skip` | parameters whose values are never recorded: `skip(password, client)` | none |
| `crate` | the path of `llmobs`, or of the module that re-exports it, as a path or a string: `crate = my_sdk::llmobs`, `crate = "my_sdk::llmobs"` | `::llmobs` |

A literal `ml_app` is checked at compile time with the rule the exporter applies to the
configured ml_app at `init`: lower-case, only letters `a-z`, digits and `_ - : . /`, at most
193 characters, no `__` and no trailing `_`.

`crate` is for crates that re-export these attributes: the expansion calls hidden support code
in `llmobs`, which it names `::llmobs::__private`, and an application that depends only on the
re-exporting crate cannot reach `::llmobs`. With `#[my_sdk::llmobs::task(crate = my_sdk::llmobs)]`
the expansion names `my_sdk::llmobs::__private` instead, and nothing else of `llmobs`. It works
like `#[serde(crate = "..")]` and `#[tokio::main(crate = "..")]`, and takes the same string form.

Captured values use `serde::Serialize` where the type implements it, else `Debug`, else they are
left out. Arguments are recorded by name as a JSON object (`{"a": 1, "b": "x"}`); `self`, `_` and
destructuring patterns are never recorded. An explicit `llmobs::annotate()` of the input or output
wins over automatic capture.

Returning `Err` (directly, through `?` or an early `return`) marks the span as an error, whatever
`capture_output` says; so does a panic, which still unwinds.

Works on sync and `async fn`, methods (`&self`, `&mut self`, `self`), generic fns, fns returning
`impl Trait`, trait impls, and fns whose body ends in `Box::pin(async move { .. })`. An `async fn`
takes its parent span when it is called, not when it is first polled, so
`tokio::spawn(traced())` stays in the caller's trace. Not on `const fn`, nor on a declaration
without a body.

When LLM Observability is disabled, the cost is one relaxed atomic load.
"#
    };
}

/// The extra keys of the two model kinds.
macro_rules! model_keys {
    () => {
        r#"
| key | value | default |
|---|---|---|
| `model_name` | **required**; a string literal or an expression over the fn's arguments: `model_name = "gpt-4o-mini"`, `model_name = self.model.as_str()` | |
| `model_provider` | a string literal or an expression, lower-cased: `model_provider = "openai"`, `model_provider = cfg.provider()` | `"unknown"` |
"#
    };
}

/// Traces the fn as an `llm` span: a call to a language model.
///
/// ```
/// struct Client { model: String }
///
/// impl Client {
///     #[llmobs::llm(model_name = self.model.as_str(), model_provider = "OpenAI")]
///     fn chat(&self, question: &str) -> String {
///         format!("You asked: {question}")
///     }
/// }
///
/// let client = Client { model: "gpt-4o-mini".into() };
/// let spans = llmobs::testing::capture(|| client.chat("when does my sofa ship?"));
/// assert_eq!(spans[0].model_name(), Some("gpt-4o-mini"));
/// assert_eq!(spans[0].model_provider(), Some("openai"));
/// ```
///
/// A `String` return value is recorded as the assistant's output message; arguments are not
/// recorded unless `capture_input = true` (annotate input messages instead).
///
/// # Keys
#[doc = model_keys!()]
///
/// and, as on every kind:
#[doc = common_keys!()]
///
/// ```
/// #[llmobs::llm(
///     model_name = "gpt-4o-mini",
///     model_provider = "openai",
///     name = "chat",
///     session_id = session,
///     ml_app = "support-bot",
///     capture_input = true,
///     capture_output = false,
///     skip(session),
/// )]
/// fn complete(prompt: &str, session: &str) -> String {
///     prompt.to_uppercase()
/// }
/// # let spans = llmobs::testing::capture(|| complete("hi", "s-1"));
/// # assert_eq!(spans[0].input_text().as_deref(), Some(r#"{"prompt": "hi"}"#));
/// # assert_eq!(spans[0].session_id.as_deref(), Some("s-1"));
/// ```
#[proc_macro_attribute]
pub fn llm(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = attr::parse(Kind::Llm, args.into(), item.clone().into());
    let plan = input.and_then(attr::Input::validate);
    plan.map_or_else(|e| fallback::expand(item.into(), e), expand::expand)
        .into()
}

/// Traces the fn as an `embedding` span: a call to an embedding model.
///
/// ```
/// #[llmobs::embedding(model_name = "text-embedding-3-small", model_provider = "openai")]
/// fn embed(texts: &[&str]) -> Vec<Vec<f32>> {
///     texts.iter().map(|t| vec![t.len() as f32]).collect()
/// }
///
/// let spans = llmobs::testing::capture(|| embed(&["hello"]));
/// assert_eq!(spans[0].kind, llmobs::SpanKind::Embedding);
/// assert_eq!(spans[0].model_name(), Some("text-embedding-3-small"));
/// ```
///
/// Neither arguments nor the return value are recorded by default: annotate the input documents
/// with `llmobs::annotate().input_documents(..)`.
///
/// # Keys
#[doc = model_keys!()]
///
/// and, as on every kind:
#[doc = common_keys!()]
#[proc_macro_attribute]
pub fn embedding(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = attr::parse(Kind::Embedding, args.into(), item.clone().into());
    let plan = input.and_then(attr::Input::validate);
    plan.map_or_else(|e| fallback::expand(item.into(), e), expand::expand)
        .into()
}

/// Traces the fn as a `workflow` span: a static sequence of steps, typically the root of a
/// request.
///
/// ```
/// struct Session { id: String }
/// impl Session { fn id(&self) -> &str { &self.id } }
///
/// #[llmobs::workflow(name = "process_message", session_id = session.id(), ml_app = "support-bot")]
/// fn handle(session: &Session, message: &str) -> String {
///     format!("echo: {message}")
/// }
///
/// let session = Session { id: "s-1".into() };
/// let spans = llmobs::testing::capture(|| handle(&session, "hi"));
/// assert_eq!(spans[0].name, "process_message");
/// assert_eq!(spans[0].session_id.as_deref(), Some("s-1"));
/// assert_eq!(spans[0].output_text().as_deref(), Some("echo: hi"));
/// ```
///
/// Arguments are recorded as input and the return value as output.
///
/// # Keys
#[doc = common_keys!()]
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = attr::parse(Kind::Workflow, args.into(), item.clone().into());
    let plan = input.and_then(attr::Input::validate);
    plan.map_or_else(|e| fallback::expand(item.into(), e), expand::expand)
        .into()
}

/// Traces the fn as an `agent` span: a loop that decides which tools and models to call.
///
/// ```
/// #[llmobs::agent(name = "support_agent", capture_output = false)]
/// fn run(goal: &str) -> usize {
///     goal.len()
/// }
///
/// let spans = llmobs::testing::capture(|| run("refund order 42"));
/// assert_eq!(spans[0].kind, llmobs::SpanKind::Agent);
/// assert_eq!(spans[0].input_text().as_deref(), Some(r#"{"goal": "refund order 42"}"#));
/// assert_eq!(spans[0].output_text(), None);
/// ```
///
/// Arguments are recorded as input and the return value as output.
///
/// # Keys
#[doc = common_keys!()]
#[proc_macro_attribute]
pub fn agent(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = attr::parse(Kind::Agent, args.into(), item.clone().into());
    let plan = input.and_then(attr::Input::validate);
    plan.map_or_else(|e| fallback::expand(item.into(), e), expand::expand)
        .into()
}

/// Traces the fn as a `tool` span: a call to an external tool or API chosen by a model or agent.
///
/// ```
/// #[derive(Debug)]
/// struct LookupError;
/// impl std::fmt::Display for LookupError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("no such order") }
/// }
/// impl std::error::Error for LookupError {}
///
/// #[llmobs::tool(skip(api_key))]
/// fn lookup_order(order_id: u32, api_key: &str) -> Result<String, LookupError> {
///     if order_id == 42 { Ok("shipped".into()) } else { Err(LookupError) }
/// }
///
/// let spans = llmobs::testing::capture(|| lookup_order(7, "secret"));
/// assert_eq!(spans[0].input_text().as_deref(), Some(r#"{"order_id": 7}"#));
/// assert_eq!(spans[0].error.as_ref().unwrap().message, "no such order");
/// ```
///
/// Arguments are recorded as input and the return value as output.
///
/// # Keys
#[doc = common_keys!()]
#[proc_macro_attribute]
pub fn tool(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = attr::parse(Kind::Tool, args.into(), item.clone().into());
    let plan = input.and_then(attr::Input::validate);
    plan.map_or_else(|e| fallback::expand(item.into(), e), expand::expand)
        .into()
}

/// Traces the fn as a `task` span: a step that calls no model, such as pre- or post-processing.
///
/// ```
/// #[llmobs::task]
/// async fn normalize(text: String) -> String {
///     text.trim().to_lowercase()
/// }
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     struct Noop;
/// #     impl std::task::Wake for Noop { fn wake(self: std::sync::Arc<Self>) {} }
/// #     let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
/// #     let mut f = std::pin::pin!(f);
/// #     loop {
/// #         let mut cx = std::task::Context::from_waker(&waker);
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #     }
/// # }
/// let spans = llmobs::testing::capture(|| block_on(normalize("  Hello ".into())));
/// assert_eq!(spans[0].name, "normalize");
/// assert_eq!(spans[0].input_text().as_deref(), Some(r#"{"text": "  Hello "}"#));
/// assert_eq!(spans[0].output_text().as_deref(), Some("hello"));
/// ```
///
/// Arguments are recorded as input and the return value as output.
///
/// # Keys
#[doc = common_keys!()]
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = attr::parse(Kind::Task, args.into(), item.clone().into());
    let plan = input.and_then(attr::Input::validate);
    plan.map_or_else(|e| fallback::expand(item.into(), e), expand::expand)
        .into()
}

/// Traces the fn as a `retrieval` span: a search over a document store.
///
/// ```
/// #[llmobs::retrieval(name = "search_faq")]
/// fn search(query: &str, top_k: usize) -> Vec<String> {
///     vec![format!("about {query}"); top_k]
/// }
///
/// let spans = llmobs::testing::capture(|| search("shipping", 2));
/// assert_eq!(spans[0].input_text().as_deref(), Some(r#"{"query": "shipping", "top_k": 2}"#));
/// assert_eq!(spans[0].output_text(), None);
/// ```
///
/// Arguments are recorded as input; the return value is not recorded: annotate the output
/// documents with `llmobs::annotate().output_documents(..)`.
///
/// # Keys
#[doc = common_keys!()]
#[proc_macro_attribute]
pub fn retrieval(args: TokenStream, item: TokenStream) -> TokenStream {
    let input = attr::parse(Kind::Retrieval, args.into(), item.clone().into());
    let plan = input.and_then(attr::Input::validate);
    plan.map_or_else(|e| fallback::expand(item.into(), e), expand::expand)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// The expansion's text, with every stage run as the attribute runs them.
    fn expand(
        kind: Kind,
        args: proc_macro2::TokenStream,
        item: proc_macro2::TokenStream,
    ) -> String {
        let plan = attr::parse(kind, args, item)
            .and_then(attr::Input::validate)
            .unwrap_or_else(|e| panic!("{e}"));
        expand::expand(plan).to_string()
    }

    /// Every form of fn, on every kind, with and without the options that change the expansion.
    fn forms() -> Vec<(Kind, proc_macro2::TokenStream, proc_macro2::TokenStream)> {
        let fns = [
            quote!(
                fn f(a: u32) -> u32 {
                    a
                }
            ),
            quote!(
                fn f(a: u32) {}
            ),
            quote!(
                async fn f(a: &str) -> Result<u32, E> {
                    Ok(1)
                }
            ),
            quote!(
                async fn f() {}
            ),
            quote!(
                fn f(a: u32) -> Pin<Box<dyn Future<Output = u32>>> {
                    Box::pin(async move { a })
                }
            ),
        ];
        let mut out = Vec::new();
        for kind in [
            Kind::Workflow,
            Kind::Agent,
            Kind::Tool,
            Kind::Task,
            Kind::Retrieval,
        ] {
            for item in &fns {
                out.push((kind, quote!(), item.clone()));
                out.push((kind, quote!(session_id = "s", ml_app = a), item.clone()));
            }
        }
        for kind in [Kind::Llm, Kind::Embedding] {
            for item in &fns {
                out.push((kind, quote!(model_name = "m"), item.clone()));
                out.push((
                    kind,
                    quote!(model_name = m(), model_provider = "P"),
                    item.clone(),
                ));
            }
        }
        out
    }

    #[test]
    fn by_default_the_expansion_names_the_llmobs_crate() {
        for (kind, args, item) in forms() {
            let text = expand(kind, args, item);
            assert!(text.contains(":: llmobs :: __private ::"), "{text}");
        }
    }

    #[test]
    fn with_crate_the_expansion_names_only_the_given_path() {
        for krate in [quote!(my_sdk::llmobs), quote!("my_sdk::llmobs")] {
            for (kind, args, item) in forms() {
                let args = quote!(crate = #krate, #args);
                let text = expand(kind, args.clone(), item.clone());
                // Nothing of llmobs is reached any other way: no `::llmobs`, and no bare
                // `__private` that is not under the given path.
                let any_llmobs = text.matches("llmobs ::").count();
                let via_path = text.matches("my_sdk :: llmobs ::").count();
                assert_eq!(any_llmobs, via_path, "{args} {item}: {text}");
                let through_path = text.matches("my_sdk :: llmobs :: __private ::").count();
                assert!(through_path > 0, "{text}");
                assert_eq!(text.matches("__private").count(), through_path, "{text}");
            }
        }
    }
}
