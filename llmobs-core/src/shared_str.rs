//! A string that is free to clone: static literals are borrowed, runtime values shared.
//!
//! Span names, ml_app and session ids are copied from a parent span into every child; with
//! `SharedStr` that copy is a pointer copy (static) or a reference-count increment (shared),
//! never an allocation.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// An immutable string that is either `&'static str` or a shared `Arc<str>`.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::SharedStr;
/// let a = SharedStr::from("static");
/// let b = SharedStr::from(String::from("owned"));
/// assert_eq!(&*a, "static");
/// assert_eq!(b.clone(), "owned");
/// ```
#[derive(Clone)]
pub enum SharedStr {
    /// A literal, borrowed for the life of the program.
    Static(&'static str),
    /// A runtime value, shared between spans.
    Shared(Arc<str>),
}

impl SharedStr {
    /// The string slice.
    pub fn as_str(&self) -> &str {
        match self {
            SharedStr::Static(s) => s,
            SharedStr::Shared(s) => s,
        }
    }

    /// Copies a borrowed string into a shared one.
    pub fn copy_from(s: &str) -> Self {
        SharedStr::Shared(Arc::from(s))
    }

    /// The entry of `known` equal to `s`, borrowed, or else a copy of `s`: for values that are
    /// nearly always one of a few well-known strings (message roles, token metric keys), so
    /// the common case costs a comparison instead of an allocation.
    pub(crate) fn known_or_copy(s: &str, known: &[&'static str]) -> Self {
        SharedStr::known(s, known).unwrap_or_else(|| SharedStr::copy_from(s))
    }

    /// The entry of `known` equal to `s`, borrowed.
    pub(crate) fn known(s: &str, known: &[&'static str]) -> Option<Self> {
        known
            .iter()
            .find(|k| **k == s)
            .map(|k| SharedStr::Static(k))
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for SharedStr {}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered as the strings are, consistent with `Borrow<str>`, so a `BTreeMap` keyed by
/// `SharedStr` can be looked up by `&str`.
impl Ord for SharedStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::hash::Hash for SharedStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl From<&'static str> for SharedStr {
    fn from(s: &'static str) -> Self {
        SharedStr::Static(s)
    }
}
impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr::Shared(Arc::from(s))
    }
}
impl From<&String> for SharedStr {
    fn from(s: &String) -> Self {
        SharedStr::copy_from(s)
    }
}
impl From<Arc<str>> for SharedStr {
    fn from(s: Arc<str>) -> Self {
        SharedStr::Shared(s)
    }
}
impl From<std::borrow::Cow<'static, str>> for SharedStr {
    fn from(s: std::borrow::Cow<'static, str>) -> Self {
        match s {
            std::borrow::Cow::Borrowed(s) => SharedStr::Static(s),
            std::borrow::Cow::Owned(s) => s.into(),
        }
    }
}

impl serde::Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Conversion of the values a span attribute accepts as a string (`session_id = session.id()`):
/// borrowed strings are copied once, owned ones moved, `None` leaves the value unset.
pub trait ToSharedStr {
    /// The shared string, or `None` to leave the value unset.
    fn to_shared_str(self) -> Option<SharedStr>;
}

impl ToSharedStr for &str {
    fn to_shared_str(self) -> Option<SharedStr> {
        Some(SharedStr::copy_from(self))
    }
}
impl ToSharedStr for &&str {
    fn to_shared_str(self) -> Option<SharedStr> {
        Some(SharedStr::copy_from(self))
    }
}
impl ToSharedStr for String {
    fn to_shared_str(self) -> Option<SharedStr> {
        Some(self.into())
    }
}
impl ToSharedStr for &String {
    fn to_shared_str(self) -> Option<SharedStr> {
        Some(SharedStr::copy_from(self))
    }
}
impl ToSharedStr for SharedStr {
    fn to_shared_str(self) -> Option<SharedStr> {
        Some(self)
    }
}
impl ToSharedStr for &SharedStr {
    fn to_shared_str(self) -> Option<SharedStr> {
        Some(self.clone())
    }
}
impl ToSharedStr for Arc<str> {
    fn to_shared_str(self) -> Option<SharedStr> {
        Some(SharedStr::Shared(self))
    }
}
impl ToSharedStr for std::borrow::Cow<'_, str> {
    fn to_shared_str(self) -> Option<SharedStr> {
        Some(SharedStr::copy_from(&self))
    }
}
impl<T: ToSharedStr> ToSharedStr for Option<T> {
    fn to_shared_str(self) -> Option<SharedStr> {
        self.and_then(ToSharedStr::to_shared_str)
    }
}
impl<'a, T> ToSharedStr for &'a Option<T>
where
    &'a T: ToSharedStr,
{
    fn to_shared_str(self) -> Option<SharedStr> {
        self.as_ref().and_then(ToSharedStr::to_shared_str)
    }
}
