//! What each supported form of the span-kind attributes records.

use std::fmt;

use llmobs::testing::{capture, capture_with_result, Capture};
use llmobs::{Instrument, SpanEvent, SpanKind};

#[derive(Debug, PartialEq)]
struct NotFound(String);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no order {}", self.0)
    }
}

impl std::error::Error for NotFound {}

fn only(spans: &[SpanEvent]) -> &SpanEvent {
    assert_eq!(spans.len(), 1, "expected one span, got {spans:#?}");
    &spans[0]
}

fn error_of(span: &SpanEvent) -> (&str, &str) {
    let e = span.error.as_ref().expect("span has no error");
    (e.kind.as_str(), e.message.as_str())
}

/// Runs `f` under the capture: an async fn called here takes the capture with it.
fn under<T>(cap: &Capture, f: impl FnOnce() -> T) -> T {
    let _g = cap.context().attach();
    f()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

// --- sync fns ---

#[llmobs::task]
fn add(a: u32, b: &str) -> String {
    format!("{a}{b}")
}

#[test]
fn sync_fn_records_kind_name_arguments_and_return_value() {
    let spans = capture(|| assert_eq!(add(1, "x"), "1x"));
    let s = only(&spans);
    assert_eq!(s.kind, SpanKind::Task);
    assert_eq!(s.name, "add");
    assert_eq!(s.parent_id, None);
    assert!(s.decorator);
    assert_eq!(s.input_text().as_deref(), Some(r#"{"a": 1, "b": "x"}"#));
    assert_eq!(s.output_text().as_deref(), Some("1x"));
    assert!(s.error.is_none());
}

#[llmobs::workflow(name = "process_message")]
fn handle(message: &str) -> usize {
    add(message.len() as u32, message).len()
}

#[test]
fn name_key_names_the_span_and_nested_calls_are_children() {
    let spans = capture(|| handle("hi"));
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].name, "process_message");
    assert_eq!(spans[0].kind, SpanKind::Workflow);
    assert_eq!(spans[1].name, "add");
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    assert_eq!(spans[1].trace_id, spans[0].trace_id);
    assert_eq!(spans[0].output_text().as_deref(), Some("3"));
}

#[llmobs::task]
fn bump(mut n: u32) -> u32 {
    n += 1;
    n
}

#[test]
fn mut_params_are_captured_by_name_before_the_body_runs() {
    let (r, spans) = capture_with_result(|| bump(1));
    assert_eq!(r, 2);
    assert_eq!(only(&spans).input_text().as_deref(), Some(r#"{"n": 1}"#));
    assert_eq!(only(&spans).output_text().as_deref(), Some("2"));
}

#[derive(Debug)]
struct OnlyDebug(#[allow(dead_code)] u8);
struct Opaque;

#[llmobs::tool]
fn mixed(d: OnlyDebug, _o: Opaque, _: u8, (x, y): (u8, u8)) -> u8 {
    x + y
}

#[test]
fn debug_is_the_fallback_and_unrepresentable_or_unnamed_params_are_left_out() {
    let spans = capture(|| mixed(OnlyDebug(7), Opaque, 1, (2, 3)));
    assert_eq!(
        only(&spans).input_text().as_deref(),
        Some(r#"{"d": "OnlyDebug(7)"}"#)
    );
    assert_eq!(only(&spans).output_text().as_deref(), Some("5"));
}

#[llmobs::tool(skip(api_key))]
fn lookup(order: u32, api_key: &str) -> u32 {
    order + api_key.len() as u32
}

#[test]
fn skipped_params_are_not_recorded() {
    let spans = capture(|| lookup(1, "secret"));
    assert_eq!(
        only(&spans).input_text().as_deref(),
        Some(r#"{"order": 1}"#)
    );
}

#[llmobs::task(capture_input = false)]
fn no_input(secret: &str) -> usize {
    secret.len()
}

#[llmobs::task(capture_output = false)]
fn no_output(a: u32) -> u32 {
    a * 2
}

#[test]
fn capture_switches_turn_recording_off() {
    let spans = capture(|| no_input("pw"));
    assert_eq!(only(&spans).input(), None);
    assert_eq!(only(&spans).output_text().as_deref(), Some("2"));
    let spans = capture(|| no_output(2));
    assert_eq!(only(&spans).input_text().as_deref(), Some(r#"{"a": 2}"#));
    assert_eq!(only(&spans).output(), None);
}

// --- per-kind defaults ---

#[llmobs::retrieval]
fn search(query: &str) -> Vec<String> {
    vec![query.to_owned()]
}

#[llmobs::embedding(model_name = "text-embedding-3-small")]
fn embed(text: &str) -> Vec<f32> {
    vec![text.len() as f32]
}

#[llmobs::agent]
fn plan(goal: &str) -> String {
    goal.to_uppercase()
}

#[test]
fn retrieval_records_input_only_and_embedding_records_neither() {
    let spans = capture(|| search("sofa"));
    let s = only(&spans);
    assert_eq!(s.kind, SpanKind::Retrieval);
    assert_eq!(s.input_text().as_deref(), Some(r#"{"query": "sofa"}"#));
    assert_eq!(s.output(), None);

    let spans = capture(|| embed("sofa"));
    let s = only(&spans);
    assert_eq!(s.kind, SpanKind::Embedding);
    assert_eq!(s.input(), None);
    assert_eq!(s.output(), None);
    assert_eq!(s.model_name(), Some("text-embedding-3-small"));
    assert_eq!(s.model_provider(), Some("unknown"));
}

#[test]
fn agent_records_input_and_output() {
    let spans = capture(|| plan("ship"));
    let s = only(&spans);
    assert_eq!(s.kind, SpanKind::Agent);
    assert_eq!(s.input_text().as_deref(), Some(r#"{"goal": "ship"}"#));
    assert_eq!(s.output_text().as_deref(), Some("SHIP"));
}

#[llmobs::llm(model_name = "gpt-4o-mini", model_provider = "OpenAI")]
fn chat(question: &str) -> String {
    format!("answer to {question}")
}

#[test]
fn llm_records_output_as_an_assistant_message_and_no_input() {
    let spans = capture(|| chat("when?"));
    let s = only(&spans);
    assert_eq!(s.kind, SpanKind::Llm);
    assert_eq!(s.model_name(), Some("gpt-4o-mini"));
    assert_eq!(s.model_provider(), Some("openai"));
    assert_eq!(s.input(), None);
    let out = s
        .output()
        .and_then(|o| o.as_messages())
        .expect("output messages");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].content, "answer to when?");
}

struct Client {
    model: String,
    provider: String,
}

impl Client {
    #[llmobs::llm(model_name = self.model.as_str(), model_provider = self.provider.as_str(), capture_input = true)]
    fn complete(&self, prompt: &str) -> String {
        prompt.to_owned()
    }
}

#[test]
fn model_name_and_provider_may_be_expressions_over_the_arguments() {
    let c = Client {
        model: "claude-3".into(),
        provider: "Anthropic".into(),
    };
    let spans = capture(|| c.complete("hi"));
    let s = only(&spans);
    assert_eq!(s.model_name(), Some("claude-3"));
    assert_eq!(s.model_provider(), Some("anthropic"));
    assert_eq!(s.input_text().as_deref(), Some(r#"{"prompt": "hi"}"#));
}

struct Session {
    id: String,
}

impl Session {
    fn id(&self) -> &str {
        &self.id
    }
}

#[llmobs::workflow(session_id = session.id(), ml_app = app.as_str())]
fn converse(session: &Session, app: String) -> usize {
    plan("x").len() + app.len()
}

#[llmobs::workflow(session_id = "s-lit", ml_app = "support-bot")]
fn literal_ids() {}

#[test]
fn session_id_and_ml_app_take_literals_or_expressions_and_children_inherit_them() {
    let spans = capture(|| converse(&Session { id: "s-9".into() }, "furnish-hub".into()));
    assert_eq!(spans.len(), 2);
    for s in &spans {
        assert_eq!(s.session_id.as_deref(), Some("s-9"));
        assert_eq!(s.ml_app.as_deref(), Some("furnish-hub"));
    }
    let spans = capture(literal_ids);
    assert_eq!(only(&spans).session_id.as_deref(), Some("s-lit"));
    assert_eq!(only(&spans).ml_app.as_deref(), Some("support-bot"));
}

// --- errors ---

#[llmobs::tool]
fn find(order: &str) -> Result<u32, NotFound> {
    if order == "42" {
        Ok(42)
    } else {
        Err(NotFound(order.to_owned()))
    }
}

#[llmobs::task]
fn find_twice(a: &str, b: &str) -> Result<u32, NotFound> {
    let x = find(a)?;
    if x > 100 {
        return Err(NotFound("too big".into()));
    }
    Ok(x + find(b)?)
}

#[llmobs::task]
fn bail_early(n: i32) -> Result<i32, Box<dyn std::error::Error>> {
    if n < 0 {
        return Err(format!("negative: {n}").into());
    }
    Ok(n)
}

#[llmobs::task(capture_output = false)]
fn quiet_failure() -> Result<(), NotFound> {
    Err(NotFound("7".into()))
}

#[test]
fn ok_records_the_ok_value_and_err_marks_the_span_as_an_error() {
    let spans = capture(|| find("42"));
    assert_eq!(only(&spans).output_text().as_deref(), Some("42"));
    assert!(only(&spans).error.is_none());

    let spans = capture(|| find("7"));
    let s = only(&spans);
    assert_eq!(error_of(s), ("attribute_forms::NotFound", "no order 7"));
    assert_eq!(s.output(), None);
}

#[test]
fn an_error_through_question_mark_marks_both_spans() {
    let spans = capture(|| find_twice("42", "7"));
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0].name, "find_twice");
    assert_eq!(error_of(&spans[0]).1, "no order 7");
    assert!(spans[1].error.is_none());
    assert_eq!(error_of(&spans[2]).1, "no order 7");
}

#[test]
fn an_early_return_of_err_marks_the_span() {
    let spans = capture(|| bail_early(-1));
    assert_eq!(error_of(only(&spans)).1, "negative: -1");
    let spans = capture(|| bail_early(3));
    assert!(only(&spans).error.is_none());
    assert_eq!(only(&spans).output_text().as_deref(), Some("3"));
}

#[test]
fn err_marks_the_span_even_with_output_capture_off() {
    let spans = capture(quiet_failure);
    assert_eq!(error_of(only(&spans)).1, "no order 7");
}

// --- methods, generics, impl Trait, traits ---

#[derive(Default)]
struct Cart {
    items: Vec<u32>,
}

impl Cart {
    #[llmobs::task]
    fn total(&self) -> u32 {
        self.items.iter().sum()
    }

    #[llmobs::task]
    fn items_mut(&mut self) -> &mut Vec<u32> {
        &mut self.items
    }

    #[llmobs::task]
    fn into_items(self, extra: u32) -> Vec<u32> {
        let mut v = self.items;
        v.push(extra);
        v
    }
}

#[test]
fn methods_taking_self_by_ref_mut_ref_and_value() {
    let mut cart = Cart::default();
    let spans = capture(|| cart.items_mut().push(5));
    assert_eq!(only(&spans).name, "items_mut");
    assert_eq!(only(&spans).input(), None);
    // The output is what the method returned, before the caller pushed through it.
    assert_eq!(only(&spans).output_text().as_deref(), Some("[]"));

    let spans = capture(|| cart.total());
    assert_eq!(only(&spans).output_text().as_deref(), Some("5"));

    let spans = capture(move || cart.into_items(6));
    assert_eq!(
        only(&spans).input_text().as_deref(),
        Some(r#"{"extra": 6}"#)
    );
    assert_eq!(only(&spans).output_text().as_deref(), Some("[5, 6]"));
}

#[llmobs::task]
fn largest<T>(items: &[T]) -> Option<&T>
where
    T: Ord + serde::Serialize,
{
    items.iter().max()
}

#[llmobs::task]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[test]
fn generic_fns_and_impl_trait_returns() {
    let spans = capture(|| assert_eq!(largest(&[3, 9, 4]), Some(&9)));
    assert_eq!(
        only(&spans).input_text().as_deref(),
        Some(r#"{"items": [3, 9, 4]}"#)
    );
    assert_eq!(only(&spans).output_text().as_deref(), Some("9"));

    let (v, spans) = capture_with_result(|| evens(5).collect::<Vec<_>>());
    assert_eq!(v, [0, 2, 4]);
    assert_eq!(only(&spans).name, "evens");
    assert_eq!(
        only(&spans).input_text().as_deref(),
        Some(r#"{"limit": 5}"#)
    );
}

trait Greeter {
    fn greet(&self, who: &str) -> String;
    fn greet_later(&self, who: &str) -> impl std::future::Future<Output = String>;
}

struct English;

impl Greeter for English {
    #[llmobs::tool]
    fn greet(&self, who: &str) -> String {
        format!("hello {who}")
    }

    #[llmobs::tool]
    async fn greet_later(&self, who: &str) -> String {
        self.greet(who)
    }
}

#[test]
fn trait_impl_methods_sync_and_async() {
    let spans = capture(|| English.greet("ann"));
    assert_eq!(only(&spans).output_text().as_deref(), Some("hello ann"));

    let spans = capture(|| runtime().block_on(English.greet_later("bo")));
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].name, "greet_later");
    assert_eq!(spans[0].input_text().as_deref(), Some(r#"{"who": "bo"}"#));
    assert_eq!(spans[0].output_text().as_deref(), Some("hello bo"));
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
}

#[llmobs::task]
unsafe fn read_first(p: *const u32) -> u32 {
    *p
}

#[test]
fn unsafe_fns() {
    let x = [11u32];
    let spans = capture(|| unsafe { read_first(x.as_ptr()) });
    assert_eq!(only(&spans).output_text().as_deref(), Some("11"));
}

#[llmobs::task]
fn factorial(n: u64) -> u64 {
    if n <= 1 {
        1
    } else {
        n * factorial(n - 1)
    }
}

#[test]
fn recursion_nests_spans() {
    let spans = capture(|| factorial(3));
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    assert_eq!(spans[2].parent_id, Some(spans[1].span_id));
    assert_eq!(spans[0].output_text().as_deref(), Some("6"));
    assert_eq!(spans[2].input_text().as_deref(), Some(r#"{"n": 1}"#));
}

// --- async ---

#[llmobs::task]
async fn fetch(id: u32, label: &str) -> String {
    tokio::task::yield_now().await;
    format!("{label}-{id}")
}

#[llmobs::workflow]
async fn fetch_both(a: u32, b: u32) -> Result<String, NotFound> {
    let x = fetch(a, "a").await;
    let y = try_fetch(b).await?;
    Ok(format!("{x},{y}"))
}

#[llmobs::tool]
async fn try_fetch(id: u32) -> Result<String, NotFound> {
    if id == 0 {
        return Err(NotFound("0".into()));
    }
    Ok(id.to_string())
}

#[test]
fn async_fn_records_like_a_sync_fn() {
    let cap = Capture::new();
    let out = runtime().block_on(under(&cap, || fetch(3, "x")));
    assert_eq!(out, "x-3");
    let spans = cap.spans();
    let s = only(&spans);
    assert_eq!(s.kind, SpanKind::Task);
    assert_eq!(s.name, "fetch");
    assert_eq!(
        s.input_text().as_deref(),
        Some(r#"{"id": 3, "label": "x"}"#)
    );
    assert_eq!(s.output_text().as_deref(), Some("x-3"));
}

#[test]
fn async_errors_through_question_mark_and_early_return() {
    let cap = Capture::new();
    let r = runtime().block_on(async {
        let _g = cap.context().attach();
        fetch_both(1, 0).await
    });
    assert_eq!(r, Err(NotFound("0".into())));
    let spans = cap.spans();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0].name, "fetch_both");
    assert_eq!(error_of(&spans[0]).1, "no order 0");
    assert_eq!(spans[1].name, "fetch");
    assert_eq!(spans[1].parent_id, Some(spans[0].span_id));
    assert_eq!(spans[2].name, "try_fetch");
    assert_eq!(error_of(&spans[2]).1, "no order 0");
}

#[test]
fn an_async_fn_takes_its_parent_when_called_not_when_polled() {
    let cap = Capture::new();
    let (fut, parent) = {
        let _g = cap.context().attach();
        let a = llmobs::workflow("a").start();
        let fut = fetch(1, "late");
        (fut, a.id())
    };
    // `a` has finished and nothing is current here any more.
    assert_eq!(
        runtime().block_on(fut.with_context(cap.context())),
        "late-1"
    );
    let spans = cap.spans();
    assert_eq!(spans.len(), 2);
    let f = spans.iter().find(|s| s.name == "fetch").unwrap();
    assert_eq!(f.parent_id, parent);
    assert!(parent.is_some());
}

#[test]
fn a_spawned_async_fn_stays_in_the_callers_trace() {
    let cap = Capture::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let root_id = {
        let _g = cap.context().attach();
        let root = llmobs::workflow("root").start();
        let handle = rt.spawn(fetch(2, "spawned"));
        assert_eq!(rt.block_on(handle).unwrap(), "spawned-2");
        root.id()
    };
    let spans = cap.spans();
    let f = spans
        .iter()
        .find(|s| s.name == "fetch")
        .expect("spawned span captured");
    assert_eq!(f.parent_id, root_id);
}

struct Store {
    docs: Vec<String>,
}

impl Store {
    #[llmobs::retrieval]
    async fn nearest(&self, query: &str, _permit: Permit) -> &str {
        tokio::task::yield_now().await;
        self.docs
            .iter()
            .find(|d| d.contains(query))
            .map_or("", String::as_str)
    }

    #[llmobs::task(name = "rename")]
    async fn rename(&mut self, (i, to): (usize, String)) -> &mut String {
        self.docs[i] = to;
        &mut self.docs[i]
    }
}

/// Records when it is dropped, to check that an async fn keeps unused arguments alive.
struct Permit(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn async_methods_borrowing_self_keep_unused_arguments_until_completion() {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut store = Store {
        docs: vec!["sofa ships in 3 days".into()],
    };
    let cap = Capture::new();
    let rt = runtime();
    let fut = under(&cap, || store.nearest("sofa", Permit(dropped.clone())));
    assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(rt.block_on(fut), "sofa ships in 3 days");
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    let spans = cap.spans();
    assert_eq!(
        only(&spans).input_text().as_deref(),
        Some(r#"{"query": "sofa"}"#)
    );

    let cap = Capture::new();
    let r = rt.block_on(under(&cap, || store.rename((0, "chair".into()))));
    r.push('!');
    assert_eq!(store.docs[0], "chair!");
    assert_eq!(only(&cap.spans()).output_text().as_deref(), Some("chair"));
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

trait Lookup {
    fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<usize, NotFound>>;
}

struct Table;

impl Lookup for Table {
    #[llmobs::tool]
    fn lookup<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<usize, NotFound>> {
        let len = key.len();
        Box::pin(async move {
            if len == 0 {
                return Err(NotFound(String::new()));
            }
            Ok(len)
        })
    }
}

#[test]
fn box_pin_async_tails_are_instrumented_as_futures() {
    let cap = Capture::new();
    let (fut, parent) = {
        let _g = cap.context().attach();
        let a = llmobs::agent("a").start();
        (Table.lookup("abc"), a.id())
    };
    assert_eq!(runtime().block_on(fut.with_context(cap.context())), Ok(3));
    let err = runtime().block_on(under(&cap, || Table.lookup("")));
    assert!(err.is_err());
    let spans = cap.spans();
    let ok: Vec<_> = spans.iter().filter(|s| s.name == "lookup").collect();
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].parent_id, parent);
    assert_eq!(ok[0].input_text().as_deref(), Some(r#"{"key": "abc"}"#));
    assert_eq!(ok[0].output_text().as_deref(), Some("3"));
    assert_eq!(error_of(ok[1]).0, "attribute_forms::NotFound");
}

/// Whether a span is active inside the function's body (so whether the attribute made one).
#[llmobs::task]
fn has_active_span() -> bool {
    llmobs::export_span(None).is_ok_and(|s| s.is_recorded())
}

#[llmobs::task]
async fn has_active_span_async() -> bool {
    llmobs::export_span(None).is_ok_and(|s| s.is_recorded())
}

#[test]
fn disabled_attributes_run_the_body_and_record_nothing() {
    assert_eq!(add(2, "y"), "2y");
    assert_eq!(runtime().block_on(fetch(1, "z")), "z-1");
    // LLM Observability is off in this process (never initialised): no span exists around the
    // body, while the same functions do make one under a capture.
    assert!(!has_active_span());
    assert!(!runtime().block_on(has_active_span_async()));
    let (inside, spans) = llmobs::testing::capture_with_result(has_active_span);
    assert!(inside);
    assert_eq!(spans.len(), 1);
}

// --- `crate = ..`: attributes used through a crate that re-exports llmobs ---

/// Stands for an SDK that re-exports llmobs: it passes on the attributes and the hidden runtime
/// support they expand to, and nothing else.
mod my_sdk {
    pub mod observability {
        pub use llmobs::{__private, tool, workflow};
    }
}

#[my_sdk::observability::tool(crate = my_sdk::observability)]
async fn check_stock(sku: &str) -> Result<u32, NotFound> {
    match sku {
        "sofa" => Ok(3),
        other => Err(NotFound(other.to_owned())),
    }
}

#[my_sdk::observability::workflow(name = "restock", crate = "crate::my_sdk::observability")]
fn restock(sku: &str) -> u32 {
    runtime().block_on(check_stock(sku)).unwrap_or(0)
}

#[test]
fn spans_made_through_a_re_export_are_captured_with_their_name_and_kind() {
    let spans = capture(|| assert_eq!(restock("sofa"), 3));
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let by_kind = |kind| {
        spans
            .iter()
            .find(|s| s.kind == kind)
            .expect("span of that kind")
    };
    let (tool, workflow) = (by_kind(SpanKind::Tool), by_kind(SpanKind::Workflow));
    assert_eq!(
        (workflow.name.as_str(), workflow.kind),
        ("restock", SpanKind::Workflow)
    );
    assert_eq!(
        (tool.name.as_str(), tool.kind),
        ("check_stock", SpanKind::Tool)
    );
    assert_eq!(tool.parent_id, Some(workflow.span_id));
    assert_eq!(workflow.input_text().as_deref(), Some(r#"{"sku": "sofa"}"#));
    assert_eq!(workflow.output_text().as_deref(), Some("3"));
    assert_eq!(tool.output_text().as_deref(), Some("3"));

    let spans = capture(|| assert_eq!(restock("lamp"), 0));
    let by_kind = |kind| {
        spans
            .iter()
            .find(|s| s.kind == kind)
            .expect("span of that kind")
    };
    let tool = by_kind(SpanKind::Tool);
    assert_eq!(
        error_of(tool),
        ("attribute_forms::NotFound", "no order lamp")
    );
    assert!(by_kind(SpanKind::Workflow).error.is_none());
}
