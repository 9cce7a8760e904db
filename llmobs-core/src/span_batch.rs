//! What crosses the [`crate::Sink`] boundary: the finished spans of a local trace, in the compact
//! form the span stack records them in.
//!
//! The application thread writes one small [`Slot`] per span (id, parent, kind, name, two clock
//! readings). What a span inherits from its parent (trace ids, ml_app, session, agent, test
//! capture) is not copied into every slot: a slot names its parent by position in the batch and
//! the full [`SpanEvent`]s are built by [`SpanBatch::into_events`], on the exporter's thread.
//! Only spans that carry something of their own beyond annotations (overrides, an error, a
//! parent outside the batch) hold a full record; an annotated span, or one named at run time,
//! keeps an [`Annotations`] box in the slot until the record is built.

use crate::clock::TickMap;
use crate::recycle::Origin;
use crate::route::{Route, Routes};
use crate::slot::{Slot, END_MONO, NO_SLOT, START_MONO};
use crate::{Annotations, SpanEvent};

/// The finished spans of one local trace (or of part of one), as handed to a [`crate::Sink`].
///
/// Build the [`SpanEvent`]s with [`into_events`](Self::into_events), off the application thread:
/// that is where what children inherit from their parents is filled in.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{SpanBatch, SpanEvent, SpanId, SpanKind, TraceId};
/// let batch = SpanBatch::from(vec![SpanEvent::new(SpanKind::Task, "t", TraceId(7), SpanId(1))]);
/// assert_eq!(batch.len(), 1);
/// assert_eq!(batch.into_events()[0].name, "t");
/// ```
#[derive(Default)]
pub struct SpanBatch {
    pub(crate) slots: Vec<Slot>,
    /// Spans whose records were finished elsewhere (async and detached spans, spans built by
    /// hand): kept as they are.
    pub(crate) complete: Vec<SpanEvent>,
    /// The thread whose slot arena the batch holds (see [`crate::recycle`]).
    pub(crate) origin: Origin,
    /// The test captures its spans belong to, if any (see [`crate::route`]).
    pub(crate) routes: Routes,
    /// How the slots' clock readings convert to time: the recording thread's mapping when it
    /// handed the batch over.
    pub(crate) map: TickMap,
}

impl Drop for SpanBatch {
    fn drop(&mut self) {
        // A batch dropped on the thread that recorded it (a full queue, a test capture) keeps
        // its memory there for the next trace.
        if self.slots.capacity() > 0 {
            crate::recycle::give_back(self.origin, std::mem::take(&mut self.slots));
        }
    }
}

impl std::fmt::Debug for SpanBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanBatch")
            .field("spans", &self.len())
            .finish()
    }
}

impl SpanBatch {
    /// An empty batch.
    pub fn new() -> Self {
        SpanBatch::default()
    }

    /// How many spans the batch holds.
    pub fn len(&self) -> usize {
        self.slots.len() + self.complete.len()
    }

    /// Whether the batch holds no span.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.complete.is_empty()
    }

    /// Every span's name and what annotation recorded on it: what makes one span's encoded
    /// size differ from another's (the rest is ids, a kind and two times).
    ///
    /// ```
    /// # use llmobs_core as llmobs;
    /// use llmobs::{SpanBatch, SpanEvent, SpanId, SpanKind, TraceId};
    /// let batch = SpanBatch::from(vec![SpanEvent::new(SpanKind::Task, "t", TraceId(7), SpanId(1))]);
    /// let (name, annotations) = batch.contents().next().unwrap();
    /// assert_eq!((name, annotations.is_none()), ("t", true));
    /// ```
    pub fn contents(&self) -> impl Iterator<Item = (&str, Option<&Annotations>)> {
        self.slots
            .iter()
            .map(|s| match &s.event {
                Some(e) => (e.name.as_str(), e.annotations.as_deref()),
                None => match s.annotations.as_deref() {
                    Some(a) => (a.name.as_deref().unwrap_or(s.name), Some(a)),
                    None => (s.name, None),
                },
            })
            .chain(
                self.complete
                    .iter()
                    .map(|e| (e.name.as_str(), e.annotations.as_deref())),
            )
    }

    /// Appends a finished span.
    pub fn push(&mut self, event: SpanEvent) {
        self.complete.push(event);
    }

    /// Appends another batch.
    pub fn append(&mut self, mut other: SpanBatch) {
        if self.is_empty() {
            *self = other;
            return;
        }
        self.complete.append(&mut other.complete);
        self.routes.append(&mut other.routes);
        let offset = self.slots.len() as u32;
        if self.slots.is_empty() {
            self.map = other.map;
        }
        let convert = other.map != self.map;
        for s in &mut other.slots {
            if s.parent != NO_SLOT {
                s.parent += offset;
            }
            if convert {
                // Recorded elsewhere (an async task that moved between threads): converted now,
                // with the mapping of the thread that recorded it.
                (s.start, s.end) = s.times(other.map);
                s.flags |= START_MONO | END_MONO;
            }
        }
        self.slots.append(&mut other.slots);
    }

    /// A batch of one finished span, with where it goes.
    pub(crate) fn routed(event: SpanEvent, route: Route) -> Self {
        let mut b = SpanBatch::new();
        b.push_routed(event, route);
        b
    }

    /// Appends a finished span, with where it goes.
    pub(crate) fn push_routed(&mut self, event: SpanEvent, route: Route) {
        if let Some(c) = route {
            self.routes.push((event.span_id, c));
        }
        self.complete.push(event);
    }

    /// The finished spans as full records, in the order they started. The emptied slot arena
    /// goes back to the thread that recorded the batch, to be reused for its next trace.
    pub fn into_events(mut self) -> Vec<SpanEvent> {
        self.build_events()
    }

    /// [`into_events`](Self::into_events), leaving the slot arena empty but allocated.
    pub(crate) fn build_events(&mut self) -> Vec<SpanEvent> {
        if self.slots.is_empty() {
            return std::mem::take(&mut self.complete);
        }
        let mut out: Vec<SpanEvent> = Vec::with_capacity(self.slots.len());
        let mut open = Vec::new();
        for mut slot in self.slots.drain(..) {
            if slot.open {
                open.push(out.len());
            }
            let e = match slot.event.take() {
                Some(mut e) => {
                    slot.stamp(&mut e, self.map);
                    *e
                }
                None => {
                    // Parents start before their children, so the parent is built already.
                    let parent = (slot.parent != NO_SLOT)
                        .then(|| out.get(slot.parent as usize))
                        .flatten();
                    let mut e = match parent {
                        Some(p) => slot.child_of(p),
                        None => slot.build_event(None),
                    };
                    slot.stamp(&mut e, self.map);
                    slot.give_annotations(&mut e);
                    e
                }
            };
            out.push(e);
        }
        // Only a thread that exits with spans still open hands them over: they never finish.
        for i in open.into_iter().rev() {
            out.remove(i);
        }
        if !self.complete.is_empty() {
            out.append(&mut self.complete);
            out.sort_by_key(|e| e.start_ns);
        }
        out
    }
}

impl From<Vec<SpanEvent>> for SpanBatch {
    fn from(events: Vec<SpanEvent>) -> Self {
        SpanBatch {
            slots: Vec::new(),
            complete: events,
            origin: None,
            routes: Routes::new(),
            map: TickMap::default(),
        }
    }
}

impl From<SpanEvent> for SpanBatch {
    fn from(event: SpanEvent) -> Self {
        SpanBatch {
            slots: Vec::new(),
            complete: vec![event],
            origin: None,
            routes: Routes::new(),
            map: TickMap::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{clock, SpanId, SpanKind};

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
    }

    fn root(id: u64, output: Option<&str>) -> SpanBatch {
        let annotations = output.map(|text| {
            let mut a = Box::<Annotations>::default();
            a.output = Some(crate::SpanIo::Messages(vec![crate::Message::assistant(
                text,
            )]));
            a
        });
        let slot = Slot {
            span_id: SpanId(id),
            parent: NO_SLOT,
            kind: SpanKind::Llm,
            open: false,
            decorator: false,
            flags: 0,
            name: "chat",
            start: 0,
            end: 0,
            event: None,
            annotations,
        };
        SpanBatch {
            slots: vec![slot],
            complete: Vec::new(),
            origin: None,
            routes: Routes::new(),
            map: TickMap::default(),
        }
    }

    #[test]
    fn appended_batches_keep_each_span_its_clock_mapping() {
        let batch = |id, map: TickMap, start, end| {
            let mut b = root(id, None);
            b.map = map;
            b.slots[0].start = start;
            b.slots[0].end = end;
            b
        };
        // Recorded on two threads (an async task that moved): 1 ns and 2 ns per tick.
        let mut b = batch(1, TickMap::new(0, 1_000, 1 << 32), 100, 300);
        b.append(batch(2, TickMap::new(0, 5_000, 2 << 32), 100, 300));
        // A root's start is converted when it is written; only its end is a reading here.
        let mut r = batch(3, TickMap::new(0, 0, 2 << 32), 7_000, 4_000);
        r.slots[0].flags |= START_MONO;
        b.append(r);
        let times: Vec<(u64, u64)> = b
            .into_events()
            .iter()
            .map(|e| (e.start_ns - clock::to_epoch_ns(0), e.duration_ns))
            .collect();
        assert_eq!(times, [(1_100, 200), (5_200, 400), (7_000, 1_000)]);
    }

    #[test]
    fn appended_batches_keep_each_span_its_annotations() {
        let text = |e: &SpanEvent| match e.annotations.as_ref().and_then(|a| a.output.as_ref()) {
            Some(crate::SpanIo::Messages(m)) => m[0].content.clone(),
            _ => String::new(),
        };
        let mut b = root(1, None);
        b.append(root(2, Some("two")));
        b.append(root(3, Some("three")));
        let events = b.into_events();
        assert_eq!(
            events.iter().map(text).collect::<Vec<_>>(),
            ["", "two", "three"]
        );
    }
}
