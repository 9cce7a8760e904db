//! Automatic capture of arguments and return values, chosen per type at compile time:
//! `serde::Serialize` where the type implements it, else `Debug`, else nothing.
//!
//! The choice uses method resolution through references ("autoref specialization"): the
//! attribute calls `(&&&Cap(&value)).llmobs_capture()`, and the impl with the most references
//! whose bound holds wins. A panic in a user's `Serialize` or `Debug` impl is caught and the
//! value skipped, so capture never makes the instrumented function fail.

use serde::Serialize;
use serde_json::Value;
use std::fmt::Debug;

/// A value to capture.
#[doc(hidden)]
pub struct Cap<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait ViaSerialize {
    fn llmobs_capture(&self) -> Option<Value>;
}
impl<T: Serialize + ?Sized> ViaSerialize for &&Cap<'_, T> {
    fn llmobs_capture(&self) -> Option<Value> {
        guarded(|| serde_json::to_value(self.0).ok())
    }
}

#[doc(hidden)]
pub trait ViaDebug {
    fn llmobs_capture(&self) -> Option<Value>;
}
impl<T: Debug + ?Sized> ViaDebug for &Cap<'_, T> {
    fn llmobs_capture(&self) -> Option<Value> {
        guarded(|| Some(Value::String(format!("{:?}", self.0))))
    }
}

#[doc(hidden)]
pub trait ViaNothing {
    fn llmobs_capture(&self) -> Option<Value>;
}
impl<T: ?Sized> ViaNothing for Cap<'_, T> {
    fn llmobs_capture(&self) -> Option<Value> {
        None
    }
}

fn guarded(f: impl FnOnce() -> Option<Value>) -> Option<Value> {
    crate::panic::quietly(f).ok().flatten()
}

#[cfg(test)]
// The references select the impl (autoref dispatch); removing them changes the result.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct S {
        a: u32,
    }
    #[derive(Debug)]
    struct D(#[allow(dead_code)] u32);
    struct N;
    struct Bad;
    impl Serialize for Bad {
        fn serialize<Z: serde::Serializer>(&self, _: Z) -> Result<Z::Ok, Z::Error> {
            panic!("broken Serialize")
        }
    }

    #[test]
    fn picks_serialize_then_debug_then_nothing() {
        assert_eq!(
            (&&&Cap(&S { a: 1 })).llmobs_capture(),
            Some(serde_json::json!({"a": 1}))
        );
        assert_eq!(
            (&&&Cap(&D(2))).llmobs_capture(),
            Some(Value::String("D(2)".into()))
        );
        assert_eq!((&&&Cap(&N)).llmobs_capture(), None);
        assert_eq!(
            (&&&Cap("str")).llmobs_capture(),
            Some(Value::String("str".into()))
        );
    }

    #[test]
    fn a_panicking_impl_is_skipped() {
        assert_eq!((&&&Cap(&Bad)).llmobs_capture(), None);
    }
}
