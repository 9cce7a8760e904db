//! Cutting encoded events into request bodies.
//!
//! The intake refuses bodies over its payload limit, and one request per event would cost a
//! round trip each, so events are packed into as few bodies as fit under the limit. Sizes are
//! measured on the final body bytes, so no request ever exceeds the limit unless a single event
//! does on its own (it is then sent alone and the intake decides).

use std::time::Instant;

use crate::encode::{
    span_wrapper_prefix, EVAL_PAYLOAD_PREFIX, EVAL_PAYLOAD_SUFFIX, SPAN_WRAPPER_SUFFIX,
};

/// Which intake endpoint a body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Spans,
    Evals,
}

/// One request body and the bookkeeping needed to retry it.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) kind: Kind,
    pub(crate) body: Vec<u8>,
    /// Spans or evaluations in the body.
    pub(crate) units: u64,
    /// When it first failed, for the retry window.
    pub(crate) first_failure: Option<Instant>,
}

/// Accumulates events of one kind into bodies no larger than the limit.
pub(crate) struct Batcher {
    kind: Kind,
    limit: usize,
    prefix: String,
    suffix: &'static str,
    item_prefix: String,
    item_suffix: &'static str,
    body: Vec<u8>,
    units: u64,
    /// The memory of a body already sent, for the next one.
    spare: Option<Vec<u8>>,
}

impl Batcher {
    pub(crate) fn new(kind: Kind, limit: usize) -> Self {
        let (prefix, suffix, item_prefix, item_suffix) = match kind {
            Kind::Spans => (
                "[".to_owned(),
                "]",
                span_wrapper_prefix(),
                SPAN_WRAPPER_SUFFIX,
            ),
            Kind::Evals => (
                EVAL_PAYLOAD_PREFIX.to_owned(),
                EVAL_PAYLOAD_SUFFIX,
                String::new(),
                "",
            ),
        };
        Batcher {
            kind,
            limit,
            prefix,
            suffix,
            item_prefix,
            item_suffix,
            body: Vec::new(),
            units: 0,
            spare: None,
        }
    }

    /// Adds one encoded event; returns the previous body when this one would not fit in it.
    pub(crate) fn push(&mut self, event: &[u8]) -> Option<Batch> {
        self.push_with(|body| body.extend_from_slice(event)).0
    }

    /// Adds one event that `write` appends to the body in place, so it is never copied from a
    /// buffer of its own; returns the previous body when the event did not fit in it, and
    /// what `write` returned.
    pub(crate) fn push_with<R>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> R,
    ) -> (Option<Batch>, R) {
        let mark = self.body.len();
        if self.units == 0 {
            if self.body.capacity() == 0 {
                if let Some(spare) = self.spare.take() {
                    self.body = spare;
                }
            }
            self.body.extend_from_slice(self.prefix.as_bytes());
        } else {
            self.body.extend_from_slice(b", ");
        }
        self.body.extend_from_slice(self.item_prefix.as_bytes());
        let r = write(&mut self.body);
        self.body.extend_from_slice(self.item_suffix.as_bytes());
        self.units += 1;
        if self.units == 1 || self.body.len() + self.suffix.len() <= self.limit {
            return (None, r);
        }
        // The event does not fit: it starts the next body, without its `, ` separator. Rare
        // (once per body), so moving its bytes costs little.
        let mut next = self.spare.take().unwrap_or_default();
        next.clear();
        next.extend_from_slice(self.prefix.as_bytes());
        next.extend_from_slice(&self.body[mark + 2..]);
        self.body.truncate(mark);
        self.units -= 1;
        let cut = self.finish();
        self.body = next;
        self.units = 1;
        (cut, r)
    }

    /// Hands back the body of a batch that is done with, so the next body reuses its memory
    /// instead of growing a new allocation (and faulting in its pages) up to the limit again.
    pub(crate) fn recycle(&mut self, mut body: Vec<u8>) {
        // A tick can settle two bodies (one cut at the limit, then the rest): keep the larger,
        // so a small one does not replace the memory the next full body needs.
        let larger = self
            .spare
            .as_ref()
            .is_none_or(|s| s.capacity() < body.capacity());
        if larger && body.capacity() <= 2 * self.limit.max(1 << 16) {
            body.clear();
            self.spare = Some(body);
        }
    }

    /// The body built so far, if any.
    pub(crate) fn finish(&mut self) -> Option<Batch> {
        if self.units == 0 {
            return None;
        }
        let mut body = std::mem::take(&mut self.body);
        body.extend_from_slice(self.suffix.as_bytes());
        let units = std::mem::replace(&mut self.units, 0);
        Some(Batch {
            kind: self.kind,
            body,
            units,
            first_failure: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn bodies_stay_under_the_limit_and_keep_every_event() {
        let mut b = Batcher::new(Kind::Spans, 400);
        let mut batches = Vec::new();
        for i in 0..20 {
            let ev = format!(r#"{{"n": {i}}}"#);
            batches.extend(b.push(ev.as_bytes()));
        }
        batches.extend(b.finish());
        assert!(batches.len() > 1);
        let mut seen = Vec::new();
        for batch in &batches {
            assert!(batch.body.len() <= 400, "{}", batch.body.len());
            let v: Value = serde_json::from_slice(&batch.body).expect("valid json");
            let arr = v.as_array().expect("array");
            assert_eq!(arr.len() as u64, batch.units);
            for w in arr {
                assert_eq!(w["event_type"], "span");
                seen.push(w["spans"][0]["n"].as_u64().expect("n"));
            }
        }
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn eval_body_shape() {
        let mut b = Batcher::new(Kind::Evals, 1 << 20);
        assert!(b.push(br#"{"a": 1}"#).is_none());
        assert!(b.push(br#"{"a": 2}"#).is_none());
        let batch = b.finish().expect("one batch");
        assert_eq!(
            String::from_utf8(batch.body).expect("utf8"),
            r#"{"data": {"attributes": {"metrics": [{"a": 1}, {"a": 2}]}, "type": "evaluation_metric"}}"#
        );
        assert!(b.finish().is_none());
    }

    #[test]
    fn recycled_and_in_place_bodies_equal_fresh_ones() {
        let events: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"n": {i}, "pad": "{}"}}"#, "x".repeat(i % 37)))
            .collect();
        let mut fresh = Batcher::new(Kind::Spans, 700);
        let mut reused = Batcher::new(Kind::Spans, 700);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for e in &events {
            a.extend(fresh.push(e.as_bytes()));
            let (cut, n) = reused.push_with(|body| {
                body.extend_from_slice(e.as_bytes());
                e.len()
            });
            assert_eq!(n, e.len());
            if let Some(batch) = cut {
                b.push((batch.body.clone(), batch.units));
                reused.recycle(batch.body);
            }
        }
        a.extend(fresh.finish());
        b.extend(reused.finish().map(|x| (x.body, x.units)));
        let a: Vec<(Vec<u8>, u64)> = a.into_iter().map(|x| (x.body, x.units)).collect();
        assert!(a.len() > 5);
        assert_eq!(a, b);
    }

    #[test]
    fn the_larger_of_two_settled_bodies_is_kept_for_the_next() {
        let mut b = Batcher::new(Kind::Spans, 1 << 20);
        let big = Vec::with_capacity(1 << 19);
        let small = Vec::with_capacity(1 << 10);
        b.recycle(big);
        b.recycle(small);
        b.push(b"1");
        assert!(
            b.body.capacity() >= 1 << 19,
            "the next body reuses the larger memory, not the last settled: {}",
            b.body.capacity()
        );
        b.finish();
        // Beyond twice the limit a body is not kept at all.
        let mut b = Batcher::new(Kind::Spans, 1 << 16);
        b.recycle(Vec::with_capacity(1 << 18));
        assert!(b.spare.is_none());
    }

    #[test]
    fn an_oversized_event_goes_alone() {
        let mut b = Batcher::new(Kind::Spans, 50);
        let big = vec![b'1'; 100];
        assert!(b.push(b"1").is_none());
        let first = b.push(&big).expect("cut before the big one");
        assert_eq!(first.units, 1);
        let second = b.push(b"2").expect("big one alone");
        assert_eq!(second.units, 1);
    }
}
