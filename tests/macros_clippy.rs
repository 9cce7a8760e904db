//! Every supported form of the attributes, in a crate that denies all warnings and clippy's
//! default lints: `cargo clippy --all-targets -- -D warnings` fails if generated code is not
//! clean in a user's crate.

#![deny(warnings)]
#![deny(clippy::all)]

use std::future::Future;
use std::pin::Pin;

#[derive(Debug)]
pub struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failure")
    }
}

impl std::error::Error for Failure {}

#[llmobs::task]
fn unit() {}

#[llmobs::task]
fn sync_fn(a: u32, b: &str) -> String {
    format!("{a}{b}")
}

#[llmobs::workflow(
    name = "wf",
    session_id = "s-1",
    ml_app = "app-1",
    capture_input = false,
    capture_output = false
)]
fn every_common_key(a: u32, b: u32) -> u32 {
    a + b
}

#[llmobs::tool(skip(secret))]
fn skipping(query: &str, secret: &str) -> usize {
    query.len() + secret.len()
}

#[llmobs::agent]
fn mut_param(mut n: u32) -> u32 {
    n += 1;
    n
}

#[llmobs::retrieval]
fn generic<T>(items: &[T]) -> Option<&T>
where
    T: Ord,
{
    items.iter().max()
}

#[llmobs::task]
fn impl_trait(n: u32) -> impl Iterator<Item = u32> {
    (0..n).map(|x| x * 2)
}

#[llmobs::task]
fn result(n: i32) -> Result<i32, Failure> {
    if n < 0 {
        return Err(Failure);
    }
    let m = checked(n)?;
    Ok(m)
}

#[llmobs::tool]
fn checked(n: i32) -> Result<i32, Failure> {
    n.checked_mul(2).ok_or(Failure)
}

#[llmobs::task]
fn recursive(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        n + recursive(n - 1)
    }
}

/// # Safety
/// `p` must be valid for reads.
#[llmobs::task]
unsafe fn unsafe_fn(p: *const u8) -> u8 {
    *p
}

#[llmobs::embedding(model_name = "embedder", model_provider = "Local")]
fn embedding(text: &str) -> Vec<f32> {
    vec![text.len() as f32]
}

pub struct Model {
    name: String,
    items: Vec<u32>,
}

impl Model {
    #[llmobs::llm(model_name = self.name.as_str(), model_provider = "openai")]
    fn by_ref(&self, prompt: &str) -> String {
        prompt.to_owned()
    }

    #[llmobs::task]
    fn by_mut(&mut self) -> &mut Vec<u32> {
        &mut self.items
    }

    #[llmobs::task]
    fn by_value(self) -> Vec<u32> {
        self.items
    }

    #[llmobs::workflow(session_id = session, ml_app = self.name.as_str())]
    async fn async_method(&self, session: &str, _unused: u8) -> &str {
        &self.name
    }

    #[llmobs::task]
    async fn async_mut(&mut self, (i, v): (usize, u32)) -> &mut u32 {
        self.items[i] = v;
        &mut self.items[i]
    }
}

#[llmobs::task]
async fn async_fn(a: u32, b: &str) -> Result<String, Failure> {
    let n = checked(a as i32)?;
    Ok(format!("{n}{b}"))
}

#[llmobs::task]
async fn async_unit(_: u8) {}

// Single-expression bodies on one line: a path, a call, an `.await` (each once tripped
// `unused_braces`, which only looks at one-line blocks; hence `rustfmt::skip`).
#[rustfmt::skip]
#[llmobs::task]
async fn async_identity(x: u32) -> u32 { x }

#[rustfmt::skip]
#[llmobs::task]
async fn async_call(x: u32) -> u32 { u32::saturating_add(x, 1) }

#[rustfmt::skip]
#[llmobs::task]
async fn async_await_tail(x: u32) -> u32 { async_identity(x).await }

pub trait Service {
    fn call(&self, x: u32) -> u32;
    fn call_async(&self, x: u32) -> impl Future<Output = u32>;
    fn call_boxed<'a>(
        &'a self,
        x: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<usize, Failure>> + Send + 'a>>;
}

pub struct Impl;

impl Service for Impl {
    #[llmobs::tool]
    fn call(&self, x: u32) -> u32 {
        x
    }

    #[llmobs::tool]
    async fn call_async(&self, x: u32) -> u32 {
        x
    }

    #[llmobs::tool]
    fn call_boxed<'a>(
        &'a self,
        x: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<usize, Failure>> + Send + 'a>> {
        let len = x.len();
        Box::pin(async move {
            if len == 0 {
                return Err(Failure);
            }
            Ok(len)
        })
    }
}

#[llmobs::task]
async fn async_by_value_and_patterns(
    model: Model,
    (a, _): (u32, u32),
    _: u8,
    items: impl Iterator<Item = &u32>,
    f: fn(&str) -> &str,
) -> usize {
    model.items.len() + a as usize + items.count() + f("x").len()
}

/// # Safety
/// `p` must be valid for reads.
#[llmobs::task]
async unsafe fn async_unsafe(p: *const u8) -> u8 {
    *p
}

#[llmobs::task]
fn inner_attribute(a: u32) -> u32 {
    #![allow(clippy::let_and_return)]
    let b = a;
    b
}

pub trait AsyncService {
    #[allow(async_fn_in_trait)]
    async fn serve(&self, request: &str) -> String;
}

impl AsyncService for Impl {
    #[llmobs::agent]
    async fn serve(&self, request: &str) -> String {
        request.to_uppercase()
    }
}

#[test]
fn every_form_runs() {
    let spans = llmobs::testing::capture(|| {
        unit();
        assert_eq!(sync_fn(1, "a"), "1a");
        assert_eq!(every_common_key(1, 2), 3);
        assert_eq!(skipping("q", "s"), 2);
        assert_eq!(mut_param(1), 2);
        assert_eq!(generic(&[1, 3, 2]), Some(&3));
        assert_eq!(impl_trait(3).sum::<u32>(), 6);
        assert!(result(-1).is_err());
        assert_eq!(result(2).ok(), Some(4));
        assert_eq!(recursive(3), 6);
        assert_eq!(unsafe { unsafe_fn([7u8].as_ptr()) }, 7);
        assert_eq!(embedding("ab"), [2.0]);
        let mut m = Model {
            name: "m".into(),
            items: vec![1],
        };
        assert_eq!(m.by_ref("p"), "p");
        m.by_mut().push(2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(m.async_method("s", 0)), "m");
        *rt.block_on(m.async_mut((0, 5))) += 1;
        assert_eq!(m.items, [6, 2]);
        assert_eq!(m.by_value(), [6, 2]);
        assert_eq!(rt.block_on(async_fn(1, "x")).ok().as_deref(), Some("2x"));
        rt.block_on(async_unit(0));
        assert_eq!(rt.block_on(async_identity(1)), 1);
        assert_eq!(rt.block_on(async_call(1)), 2);
        assert_eq!(rt.block_on(async_await_tail(3)), 3);
        assert_eq!(Impl.call(1), 1);
        assert_eq!(rt.block_on(Impl.call_async(2)), 2);
        assert_eq!(rt.block_on(Impl.call_boxed("abc")).ok(), Some(3));
        assert_eq!(rt.block_on(Impl.serve("x")), "X");
        let m = Model {
            name: "n".into(),
            items: vec![],
        };
        let n = rt.block_on(async_by_value_and_patterns(
            m,
            (1, 2),
            0,
            [1].iter(),
            str::trim,
        ));
        assert_eq!(n, 3);
        assert_eq!(rt.block_on(unsafe { async_unsafe([9u8].as_ptr()) }), 9);
        assert_eq!(inner_attribute(4), 4);
    });
    assert_eq!(spans.len(), 35);
}
