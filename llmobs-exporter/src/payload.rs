//! Payloads, and cutting encoded events into payload bodies.
//!
//! The intake refuses bodies over its payload limit, and one request per event would cost a
//! round trip each, so events are packed into as few bodies as fit under the limit. Sizes are
//! measured on the final body bytes, so no request ever exceeds the limit unless a single event
//! does on its own (it is then sent alone and the intake decides).

use std::time::Instant;

/// What a payload holds: spans or evaluations (they go to different endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadKind {
    /// Span events.
    Spans,
    /// Evaluation metrics.
    Evaluations,
}

impl PayloadKind {
    /// `"span"` or `"evaluation"`, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadKind::Spans => "span",
            PayloadKind::Evaluations => "evaluation",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            PayloadKind::Spans => 0,
            PayloadKind::Evaluations => 1,
        }
    }
}

/// How items are joined into one payload body: `prefix item_prefix ITEM item_suffix separator
/// item_prefix ITEM item_suffix ... suffix`. The pipeline cuts bodies so that none exceeds the
/// payload size limit (`DD_LLMOBS_PAYLOAD_SIZE_BYTES`) unless one item alone does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Framing {
    /// Opens a body.
    pub prefix: Vec<u8>,
    /// Between two items.
    pub separator: Vec<u8>,
    /// Before each item.
    pub item_prefix: Vec<u8>,
    /// After each item.
    pub item_suffix: Vec<u8>,
    /// Closes a body.
    pub suffix: Vec<u8>,
}

/// One request body (or file line) and what the pipeline needs to retry it.
#[derive(Debug)]
pub struct Payload {
    /// Spans or evaluations.
    pub kind: PayloadKind,
    /// The bytes to send.
    pub body: Vec<u8>,
    /// How many spans or evaluations it holds.
    pub units: u64,
    /// When it first failed, for the retry window.
    pub(crate) first_failure: Option<Instant>,
}

/// Accumulates items of one kind into bodies no larger than the limit.
pub(crate) struct Batcher {
    kind: PayloadKind,
    limit: usize,
    framing: Framing,
    body: Vec<u8>,
    /// Items in `body`...
    items: u64,
    /// ...and the spans or evaluations they hold (an item may hold several).
    units: u64,
    /// The memory of a body already sent, for the next one.
    spare: Option<Vec<u8>>,
}

impl Batcher {
    pub(crate) fn new(kind: PayloadKind, framing: Framing, limit: usize) -> Self {
        Batcher {
            kind,
            limit,
            framing,
            body: Vec::new(),
            items: 0,
            units: 0,
            spare: None,
        }
    }

    /// Adds one encoded event; returns the previous body when this one would not fit in it.
    #[cfg(test)]
    fn push(&mut self, event: &[u8]) -> Option<Payload> {
        self.push_with(1, |body| body.extend_from_slice(event))
    }

    /// Adds one item (holding `units` events) that `write` appends to the body in place, so it
    /// is never copied from a buffer of its own; returns the previous body when the item did
    /// not fit in it.
    pub(crate) fn push_with(
        &mut self,
        units: u64,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Option<Payload> {
        let mark = self.body.len();
        if self.items == 0 {
            if self.body.capacity() == 0 {
                if let Some(spare) = self.spare.take() {
                    self.body = spare;
                }
            }
            self.body.extend_from_slice(&self.framing.prefix);
        } else {
            self.body.extend_from_slice(&self.framing.separator);
        }
        self.body.extend_from_slice(&self.framing.item_prefix);
        write(&mut self.body);
        self.body.extend_from_slice(&self.framing.item_suffix);
        self.items += 1;
        self.units += units;
        if self.items == 1 || self.body.len() + self.framing.suffix.len() <= self.limit {
            return None;
        }
        // The event does not fit: it starts the next body, without its separator. Rare (once
        // per body), so moving its bytes costs little.
        let mut next = self.spare.take().unwrap_or_default();
        next.clear();
        next.extend_from_slice(&self.framing.prefix);
        next.extend_from_slice(&self.body[mark + self.framing.separator.len()..]);
        self.body.truncate(mark);
        self.units -= units;
        let cut = self.finish();
        self.body = next;
        self.items = 1;
        self.units = units;
        cut
    }

    /// Hands back the body of a batch that is done with, so the next body reuses its memory
    /// instead of growing a new allocation (and faulting in its pages) up to the limit again.
    ///
    /// Two bodies are kept: the one being built and a spare. A cut at the limit needs both (the
    /// full body goes out while the next one fills), and a flush hands back a body while the
    /// spare is already held: that one becomes the next body being built, rather than being
    /// freed and grown again from nothing after every flush.
    pub(crate) fn recycle(&mut self, mut body: Vec<u8>) {
        if body.capacity() > 2 * self.limit.max(1 << 16) {
            return;
        }
        body.clear();
        if self.items == 0 && self.body.capacity() == 0 {
            // Nothing is being built: the larger memory goes to the next body.
            match &mut self.spare {
                Some(spare) if spare.capacity() > body.capacity() => {
                    self.body = std::mem::replace(spare, body);
                }
                _ => self.body = body,
            }
            return;
        }
        // A tick can settle two bodies (one cut at the limit, then the rest): keep the larger,
        // so a small one does not replace the memory the next full body needs.
        if self
            .spare
            .as_ref()
            .is_none_or(|s| s.capacity() < body.capacity())
        {
            self.spare = Some(body);
        }
    }

    /// Drops the body being built; returns how many items it held.
    pub(crate) fn discard(&mut self) -> u64 {
        self.body.clear();
        self.items = 0;
        std::mem::replace(&mut self.units, 0)
    }

    /// The body built so far, if any.
    pub(crate) fn finish(&mut self) -> Option<Payload> {
        if self.items == 0 {
            return None;
        }
        self.items = 0;
        let mut body = std::mem::take(&mut self.body);
        body.extend_from_slice(&self.framing.suffix);
        let units = std::mem::replace(&mut self.units, 0);
        Some(Payload {
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

    fn datadog(kind: PayloadKind, limit: usize) -> Batcher {
        Batcher::new(kind, crate::encode::framing(kind), limit)
    }

    #[test]
    fn bodies_stay_under_the_limit_and_keep_every_event() {
        let mut b = datadog(PayloadKind::Spans, 400);
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
        let mut b = datadog(PayloadKind::Evaluations, 1 << 20);
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
        let mut fresh = datadog(PayloadKind::Spans, 700);
        let mut reused = datadog(PayloadKind::Spans, 700);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for e in &events {
            a.extend(fresh.push(e.as_bytes()));
            let cut = reused.push_with(1, |body| body.extend_from_slice(e.as_bytes()));
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
        let mut b = datadog(PayloadKind::Spans, 1 << 20);
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
        let mut b = datadog(PayloadKind::Spans, 1 << 16);
        b.recycle(Vec::with_capacity(1 << 18));
        assert!(b.spare.is_none() && b.body.capacity() == 0);
    }

    #[test]
    fn rounds_of_cuts_and_flushes_reuse_the_same_two_bodies() {
        // Each round: enough events for a cut at the limit, then a flush of the rest, every
        // body settled (recycled) as the pipeline does. After the first round, no body is a
        // new allocation.
        let event = [b'x'; 1000];
        let mut b = datadog(PayloadKind::Spans, 1 << 16);
        let round = |b: &mut Batcher| {
            let mut memory = Vec::new();
            for _ in 0..100 {
                if let Some(cut) = b.push(&event) {
                    memory.push(cut.body.as_ptr());
                    b.recycle(cut.body);
                }
            }
            let rest = b.finish().expect("the rest");
            memory.push(rest.body.as_ptr());
            b.recycle(rest.body);
            memory
        };
        let first = round(&mut b);
        assert_eq!(first.len(), 2, "one cut and one flush per round");
        for _ in 0..3 {
            for body in round(&mut b) {
                assert!(first.contains(&body), "a body grown anew after a flush");
            }
        }
    }

    #[test]
    fn an_oversized_event_goes_alone() {
        let mut b = datadog(PayloadKind::Spans, 50);
        let big = vec![b'1'; 100];
        assert!(b.push(b"1").is_none());
        let first = b.push(&big).expect("cut before the big one");
        assert_eq!(first.units, 1);
        let second = b.push(b"2").expect("big one alone");
        assert_eq!(second.units, 1);
    }
}
