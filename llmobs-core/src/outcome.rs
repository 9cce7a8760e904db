//! Reading a span's outcome from a return value: `Err` marks the span as an error, anything
//! else is captured as output. Chosen per type at compile time like [`crate::capture`].

use std::convert::Infallible;
use std::fmt::{Debug, Display, Write};

use crate::SpanError;

/// A return value.
#[doc(hidden)]
pub struct Ret<'a, T: ?Sized>(pub &'a T);

/// A return value split into its success and error parts.
#[doc(hidden)]
pub struct Split<'a, T: ?Sized, E: ?Sized> {
    ok: Option<&'a T>,
    err: Option<&'a E>,
}

impl<'a, T: ?Sized, E: ?Sized> Split<'a, T, E> {
    #[doc(hidden)]
    pub fn ok(&self) -> Option<&'a T> {
        self.ok
    }
    #[doc(hidden)]
    pub fn err(&self) -> Option<&'a E> {
        self.err
    }
}

#[doc(hidden)]
pub trait SplitResult<'a> {
    type Ok: ?Sized;
    type Err: ?Sized;
    fn llmobs_split(&self) -> Split<'a, Self::Ok, Self::Err>;
}
impl<'a, T, E> SplitResult<'a> for &Ret<'a, Result<T, E>> {
    type Ok = T;
    type Err = E;
    fn llmobs_split(&self) -> Split<'a, T, E> {
        match self.0 {
            Ok(v) => Split {
                ok: Some(v),
                err: None,
            },
            Err(e) => Split {
                ok: None,
                err: Some(e),
            },
        }
    }
}

#[doc(hidden)]
pub trait SplitPlain<'a> {
    type Ok: ?Sized;
    fn llmobs_split(&self) -> Split<'a, Self::Ok, Infallible>;
}
impl<'a, T: ?Sized> SplitPlain<'a> for Ret<'a, T> {
    type Ok = T;
    fn llmobs_split(&self) -> Split<'a, T, Infallible> {
        Split {
            ok: Some(self.0),
            err: None,
        }
    }
}

/// An error value.
#[doc(hidden)]
pub struct ErrRef<'a, E: ?Sized>(pub &'a E);

// Reading an error runs the user's `Display`, `Debug` and `source()`. None of them may change
// what the application does: a formatting error or a panic in them gives a span whose error
// says it could not be read, and the function still returns its own value.

#[doc(hidden)]
pub trait ErrViaStd {
    fn llmobs_error(&self) -> SpanError;
}
impl<E: std::error::Error + ?Sized> ErrViaStd for &&&ErrRef<'_, E> {
    fn llmobs_error(&self) -> SpanError {
        let e = self.0;
        read::<E>("Display or source()", || {
            let message = formatted(format_args!("{e}"))?;
            let mut chain = String::new();
            let mut source = e.source();
            while let Some(s) = source {
                if !chain.is_empty() {
                    chain.push('\n');
                }
                chain.push_str("Caused by: ");
                chain.push_str(&formatted(format_args!("{s}"))?);
                source = s.source();
            }
            Some((message, (!chain.is_empty()).then_some(chain)))
        })
    }
}

#[doc(hidden)]
pub trait ErrViaDisplay {
    fn llmobs_error(&self) -> SpanError;
}
impl<E: Display + ?Sized> ErrViaDisplay for &&ErrRef<'_, E> {
    fn llmobs_error(&self) -> SpanError {
        let e = self.0;
        read::<E>("Display", || Some((formatted(format_args!("{e}"))?, None)))
    }
}

#[doc(hidden)]
pub trait ErrViaDebug {
    fn llmobs_error(&self) -> SpanError;
}
impl<E: Debug + ?Sized> ErrViaDebug for &ErrRef<'_, E> {
    fn llmobs_error(&self) -> SpanError {
        let e = self.0;
        read::<E>("Debug", || Some((formatted(format_args!("{e:?}"))?, None)))
    }
}

#[doc(hidden)]
pub trait ErrViaNothing {
    fn llmobs_error(&self) -> SpanError;
}
impl<E: ?Sized> ErrViaNothing for ErrRef<'_, E> {
    fn llmobs_error(&self) -> SpanError {
        SpanError {
            kind: std::any::type_name::<E>().to_owned(),
            message: String::new(),
            stack: None,
        }
    }
}

/// The text of `args`, or `None` if an implementation it calls returned an error (where
/// `to_string()` and `format!` would panic).
fn formatted(args: std::fmt::Arguments<'_>) -> Option<String> {
    let mut s = String::new();
    s.write_fmt(args).ok()?;
    Some(s)
}

/// Reads an error of type `E` with `f` (message and cause chain) under panic isolation; `what`
/// names the implementations `f` calls, for the note when they fail.
fn read<E: ?Sized>(what: &str, f: impl FnOnce() -> Option<(String, Option<String>)>) -> SpanError {
    let kind = std::any::type_name::<E>().to_owned();
    match crate::panic::quietly(f) {
        Ok(Some((message, stack))) => SpanError {
            kind,
            message,
            stack,
        },
        Ok(None) => unreadable(kind, format!("its {what} implementation returned an error")),
        Err(_) => unreadable(kind, format!("its {what} implementation panicked")),
    }
}

fn unreadable(kind: String, why: String) -> SpanError {
    SpanError {
        kind,
        message: format!("could not read the error: {why}"),
        stack: None,
    }
}

/// The error of a span whose outcome reader itself failed (a panic the readers above did not
/// contain, in code the SDK calls on the application's behalf).
pub(crate) fn unreadable_outcome() -> SpanError {
    SpanError {
        kind: "llmobs.UnreadableOutcome".into(),
        message: "could not read the return value: the code that reads it panicked".into(),
        stack: None,
    }
}

#[cfg(test)]
// The references select the impl (autoref dispatch); removing them changes the result.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    #[test]
    fn splits_results_and_plain_values() {
        let r: Result<u32, std::fmt::Error> = Err(std::fmt::Error);
        let s = (&&Ret(&r)).llmobs_split();
        assert!(s.ok().is_none());
        let e = (&&&&ErrRef(s.err().unwrap())).llmobs_error();
        assert_eq!(e.kind, "core::fmt::Error");
        let p = (&&Ret(&5u8)).llmobs_split();
        assert_eq!(p.ok(), Some(&5u8));
        assert!(p.err().is_none());
    }

    #[test]
    fn error_fallbacks() {
        #[derive(Debug)]
        struct OnlyDebug;
        struct Opaque;
        assert_eq!((&&&&ErrRef(&OnlyDebug)).llmobs_error().message, "OnlyDebug");
        assert_eq!((&&&&ErrRef(&"text")).llmobs_error().message, "text");
        assert_eq!((&&&&ErrRef(&Opaque)).llmobs_error().message, "");
    }
}
