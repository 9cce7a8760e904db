//! The numeric metrics of a span (token counts, costs), by key.
//!
//! A span has a handful of metrics at most, nearly always the same three token counts, so they
//! are kept ordered by key in a small array inside the span's annotations rather than in a tree
//! or a separate allocation: an insert is a few comparisons in memory the span already touches.
//! Past [`INLINE`] entries they move to a vector.

use std::ops::Index;

use serde_json::Number;

use crate::SharedStr;

/// The token counts LLM Observability knows: their keys are recorded without a copy.
pub(crate) const KNOWN_METRICS: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_write_input_tokens",
    "reasoning_output_tokens",
];

/// How many metrics are kept without an allocation of their own.
const INLINE: usize = 4;

type Entry = (SharedStr, Number);

/// A span's metrics: keys in sorted order, one value per key, a later insert replacing the
/// earlier value.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::Metrics;
/// let mut m = Metrics::new();
/// m.insert("output_tokens".into(), 6.into());
/// m.insert("input_tokens".into(), 4.into());
/// m.insert("input_tokens".into(), 5.into());
/// assert_eq!(m["input_tokens"], 5.into());
/// let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
/// assert_eq!(keys, ["input_tokens", "output_tokens"]);
/// ```
#[derive(Clone, Default)]
pub struct Metrics(Repr);

#[derive(Clone)]
enum Repr {
    /// The first `len` entries are the metrics; the rest are placeholders.
    Inline(u8, [Entry; INLINE]),
    Heap(Vec<Entry>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Heap(Vec::new())
    }
}

fn placeholder() -> Entry {
    (SharedStr::Static(""), Number::from(0u8))
}

impl Metrics {
    /// No metrics.
    pub const fn new() -> Self {
        Metrics(Repr::Heap(Vec::new()))
    }

    fn as_slice(&self) -> &[Entry] {
        match &self.0 {
            Repr::Inline(len, items) => &items[..usize::from(*len)],
            Repr::Heap(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Entry] {
        match &mut self.0 {
            Repr::Inline(len, items) => &mut items[..usize::from(*len)],
            Repr::Heap(v) => v,
        }
    }

    #[inline]
    fn position(&self, key: &str) -> Result<usize, usize> {
        let items = self.as_slice();
        // Keys usually arrive in order: check the end before searching.
        match items.last() {
            None => Err(0),
            Some((last, _)) if last.as_str() < key => Err(items.len()),
            _ => items.binary_search_by(|(k, _)| k.as_str().cmp(key)),
        }
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: SharedStr, value: Number) -> Option<Number> {
        let i = match self.position(&key) {
            Ok(i) => return Some(std::mem::replace(&mut self.as_mut_slice()[i].1, value)),
            Err(i) => i,
        };
        match &mut self.0 {
            Repr::Heap(v) if v.capacity() == 0 => {
                let items = [(key, value), placeholder(), placeholder(), placeholder()];
                self.0 = Repr::Inline(1, items);
            }
            Repr::Heap(v) => v.insert(i, (key, value)),
            Repr::Inline(len, items) if usize::from(*len) < INLINE => {
                let n = usize::from(*len);
                items[n] = (key, value);
                if i < n {
                    items[i..=n].rotate_right(1);
                }
                *len += 1;
            }
            Repr::Inline(_, items) => {
                let mut v = Vec::with_capacity(INLINE * 2);
                v.extend(std::mem::replace(
                    items,
                    std::array::from_fn(|_| placeholder()),
                ));
                v.insert(i, (key, value));
                self.0 = Repr::Heap(v);
            }
        }
        None
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Number> {
        self.position(key).ok().map(|i| &self.as_slice()[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Number> {
        let i = self.position(key).ok()?;
        match &mut self.0 {
            Repr::Heap(v) => Some(v.remove(i).1),
            Repr::Inline(len, items) => {
                let n = usize::from(*len);
                items[i..n].rotate_left(1);
                *len -= 1;
                Some(std::mem::replace(&mut items[n - 1], placeholder()).1)
            }
        }
    }

    /// The number of metrics.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// The metrics in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&SharedStr, &Number)> {
        self.into_iter()
    }

    /// Adds the metrics of an earlier annotation that this one does not set: `self` is the
    /// newer set, whose values win.
    pub(crate) fn fill_from(&mut self, older: Metrics) {
        if older.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = older;
            return;
        }
        for (k, v) in older {
            if !self.contains_key(&k) {
                self.insert(k, v);
            }
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Metrics {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
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

/// The metrics of a [`Metrics`], by value, in key order.
#[derive(Debug)]
pub struct IntoIter(IntoIterRepr);

#[derive(Debug)]
enum IntoIterRepr {
    Inline(std::iter::Take<std::array::IntoIter<Entry, INLINE>>),
    Heap(std::vec::IntoIter<Entry>),
}

impl Iterator for IntoIter {
    type Item = (SharedStr, Number);
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IntoIterRepr::Inline(it) => it.next(),
            IntoIterRepr::Heap(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IntoIterRepr::Inline(it) => it.size_hint(),
            IntoIterRepr::Heap(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for IntoIter {}

impl std::iter::FusedIterator for IntoIter {}

impl IntoIterator for Metrics {
    type Item = (SharedStr, Number);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter(match self.0 {
            Repr::Inline(len, items) => {
                IntoIterRepr::Inline(items.into_iter().take(usize::from(len)))
            }
            Repr::Heap(v) => IntoIterRepr::Heap(v.into_iter()),
        })
    }
}

impl<'a> IntoIterator for &'a Metrics {
    type Item = (&'a SharedStr, &'a Number);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (SharedStr, Number)>,
        fn(&'a (SharedStr, Number)) -> (&'a SharedStr, &'a Number),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter().map(|(k, v)| (k, v))
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
    fn past_the_inline_entries_metrics_move_to_a_vector_and_stay_sorted() {
        let mut m = Metrics::new();
        let mut expected = Vec::new();
        for (i, k) in ["f", "b", "h", "a", "d", "c", "g", "e"]
            .into_iter()
            .enumerate()
        {
            m.insert(SharedStr::Static(k), i.into());
            expected.push(k);
            expected.sort_unstable();
            assert_eq!(keys(&m), expected);
        }
        assert_eq!(m.get("h"), Some(&2.into()));
        assert_eq!(m.remove("a"), Some(3.into()));
        assert_eq!(m.into_iter().count(), 7);
        let mut m: Metrics = [("z".into(), 1.into()), ("y".into(), 2.into())]
            .into_iter()
            .collect();
        assert_eq!(m.remove("y"), Some(2.into()));
        assert_eq!(m.remove("y"), None);
        assert_eq!(keys(&m), ["z"]);
        let owned: Vec<_> = m.into_iter().collect();
        assert_eq!(owned, [("z".into(), 1.into())]);
    }

    #[test]
    fn an_earlier_set_fills_in_only_the_keys_the_newer_one_lacks() {
        let mut newer: Metrics = [("a".into(), 1.into())].into_iter().collect();
        newer.fill_from(
            [("a".into(), 9.into()), ("b".into(), 2.into())]
                .into_iter()
                .collect(),
        );
        assert_eq!(keys(&newer), ["a", "b"]);
        assert_eq!(newer["a"], 1.into());
        let mut empty = Metrics::new();
        empty.fill_from(newer.clone());
        assert_eq!(empty, newer);
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
