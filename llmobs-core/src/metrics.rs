//! The numeric metrics of a span (token counts, costs), by key.
//!
//! A span has a handful of metrics at most, nearly always the same three token counts, so they
//! are kept in one small vector ordered by key rather than in a tree: an insert is a few
//! comparisons in memory the span already touches, and the whole set is one allocation.

use std::ops::Index;

use serde_json::Number;

use crate::SharedStr;

/// A span's metrics: keys in sorted order, one value per key, a later insert replacing the
/// earlier value.
///
/// ```
/// use llmobs_core::Metrics;
/// let mut m = Metrics::new();
/// m.insert("output_tokens".into(), 6.into());
/// m.insert("input_tokens".into(), 4.into());
/// m.insert("input_tokens".into(), 5.into());
/// assert_eq!(m["input_tokens"], 5.into());
/// let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
/// assert_eq!(keys, ["input_tokens", "output_tokens"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics(Vec<(SharedStr, Number)>);

impl Metrics {
    /// No metrics.
    pub const fn new() -> Self {
        Metrics(Vec::new())
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: SharedStr, value: Number) -> Option<Number> {
        // Keys usually arrive in order, or are the first: check the end before searching.
        match self.0.last() {
            None => {
                self.0.reserve_exact(4);
                self.0.push((key, value));
                return None;
            }
            Some((last, _)) if last.as_str() < key.as_str() => {
                self.0.push((key, value));
                return None;
            }
            _ => {}
        }
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Number> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Number> {
        self.position(key).ok().map(|i| self.0.remove(i).1)
    }

    /// The number of metrics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The metrics in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&SharedStr, &Number)> {
        self.into_iter()
    }

    /// Adds `other`'s metrics, its values winning; taken whole when `self` has none, so an
    /// annotation's metrics move into a fresh span without being inserted one by one.
    pub(crate) fn merge(&mut self, other: Metrics) {
        if self.is_empty() {
            *self = other;
        } else {
            self.extend(other);
        }
    }
}

impl Extend<(SharedStr, Number)> for Metrics {
    fn extend<I: IntoIterator<Item = (SharedStr, Number)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(SharedStr, Number)> for Metrics {
    fn from_iter<I: IntoIterator<Item = (SharedStr, Number)>>(iter: I) -> Self {
        let mut m = Metrics::new();
        m.extend(iter);
        m
    }
}

impl IntoIterator for Metrics {
    type Item = (SharedStr, Number);
    type IntoIter = std::vec::IntoIter<(SharedStr, Number)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Metrics {
    type Item = (&'a SharedStr, &'a Number);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (SharedStr, Number)>,
        fn(&'a (SharedStr, Number)) -> (&'a SharedStr, &'a Number),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// Panics when `key` has no value, as a map's index does; use [`Metrics::get`] otherwise.
impl Index<&str> for Metrics {
    type Output = Number;
    fn index(&self, key: &str) -> &Number {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no metric `{key}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &Metrics) -> Vec<&str> {
        m.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn keys_stay_sorted_and_unique_whatever_the_insert_order() {
        let mut m = Metrics::new();
        for (k, v) in [("b", 1), ("d", 2), ("a", 3), ("c", 4), ("b", 5), ("e", 6)] {
            m.insert(SharedStr::Static(k), v.into());
        }
        assert_eq!(keys(&m), ["a", "b", "c", "d", "e"]);
        assert_eq!(m.get("b"), Some(&5.into()));
        assert_eq!(m.len(), 5);
    }

    #[test]
    fn insert_returns_what_it_replaced_and_remove_what_it_removed() {
        let mut m = Metrics::new();
        assert_eq!(m.insert("k".into(), 1.into()), None);
        assert_eq!(m.insert("k".into(), 2.into()), Some(1.into()));
        assert!(m.contains_key("k"));
        assert_eq!(m.remove("k"), Some(2.into()));
        assert_eq!(m.remove("k"), None);
        assert!(m.is_empty());
    }

    #[test]
    fn extend_merges_with_later_values_winning() {
        let mut m: Metrics = [("x".into(), 1.into()), ("y".into(), 2.into())]
            .into_iter()
            .collect();
        m.extend([("y".into(), 3.into()), ("w".into(), 4.into())]);
        assert_eq!(keys(&m), ["w", "x", "y"]);
        assert_eq!(m["y"], 3.into());
    }
}
