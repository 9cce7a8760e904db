//! One span as the span stack records it: a compact [`Slot`] of 64 bytes (id, parent position,
//! kind, name, two clock readings), with a full record only when the span needs one.
//!
//! A slot whose parent is the slot below it holds no copy of what it inherits: its record is
//! built from its parent's, through [`ParentRef`], where the batch's records are built
//! ([`crate::SpanBatch::into_events`]).

use crate::clock::TickMap;
use crate::parent::ParentRef;
use crate::{clock, Annotations, SharedStr, SpanEvent, SpanId, SpanKind, TraceId};

/// `Slot::parent` when the parent is not a slot of the same batch.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// `Slot::flags`: `start` is in nanoseconds already (a trace root's, see [`crate::clock`]), not in ticks...
pub(crate) const START_MONO: u8 = 4;
/// ...and so is `end`.
pub(crate) const END_MONO: u8 = 8;

/// One span as the stack records it.
pub(crate) struct Slot {
    pub(crate) span_id: SpanId,
    /// The parent's position in the batch, or [`NO_SLOT`]: then `event` holds the inherited
    /// context, or, with no event, the span is the root of a new trace.
    pub(crate) parent: u32,
    pub(crate) kind: SpanKind,
    pub(crate) open: bool,
    pub(crate) decorator: bool,
    /// Which of its times are converted already ([`START_MONO`], [`END_MONO`]).
    pub(crate) flags: u8,
    /// The name; a name known only at run time is held in `annotations` (and this is empty).
    pub(crate) name: &'static str,
    /// Start and end as the span clock read them ([`clock::ticks`]: converted with the batch's
    /// [`TickMap`]), except where `flags` says they are monotonic nanoseconds already.
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The full record, when the span has one.
    pub(crate) event: Option<Box<SpanEvent>>,
    /// What annotation recorded, while the span has no full record (with one, it is there).
    pub(crate) annotations: Option<Box<Annotations>>,
}

impl Slot {
    /// The trace id of a root without an event: Unix seconds at its start, as the reference
    /// builds it, over 64 random bits derived from the root's random span id (a bijection, so
    /// distinct roots get distinct ids) rather than kept in every slot.
    pub(crate) fn root_trace_id(&self) -> TraceId {
        // A root's start is converted when it is written (`START_MONO`), so every thread that
        // builds this id, whenever it does, finds the same second.
        let start = if self.flags & START_MONO != 0 {
            self.start
        } else {
            clock::tick_map(self.start).mono(self.start)
        };
        let secs = clock::to_epoch_ns(start) / 1_000_000_000;
        TraceId((u128::from(secs) << 96) | u128::from(crate::id::mix(self.span_id.0)))
    }

    /// What a child of this span inherits, given what this span inherited (`own`); for a slot
    /// without a full record.
    pub(crate) fn child_ref(&self, own: ParentRef) -> ParentRef {
        let mut r = own;
        if r.trace.is_none() {
            let t = self.root_trace_id();
            r.trace = Some((t, t));
        }
        r.descend(self.span_id, self.kind, || self.name())
    }

    /// The full record of a span that has none yet, as a child of `parent` (`None`: a root).
    pub(crate) fn build_event(&self, parent: Option<&ParentRef>) -> SpanEvent {
        let parent = parent.cloned().unwrap_or_default();
        let (mut e, _) = parent.child(self.kind, self.name.into(), self.span_id, || {
            self.root_trace_id()
        });
        e.decorator = self.decorator;
        e
    }

    /// The full record of a span whose parent's record is `p` (in the same batch).
    pub(crate) fn child_of(&self, p: &SpanEvent) -> SpanEvent {
        self.build_event(Some(&ParentRef::of_span(p, None)))
    }

    /// The span's name, static or known only at run time.
    fn name(&self) -> SharedStr {
        match self.annotations.as_ref().and_then(|a| a.name.as_ref()) {
            Some(n) => n.clone(),
            None => SharedStr::Static(self.name),
        }
    }

    /// Moves what the slot holds for the span into its new record.
    pub(crate) fn give_annotations(&mut self, e: &mut SpanEvent) {
        if let Some(mut a) = self.annotations.take() {
            if let Some(name) = a.name.take() {
                e.name = name;
            }
            e.annotations = Some(a);
        }
    }

    /// The slot's start and end in monotonic nanoseconds, converting with `map` what is not
    /// converted yet.
    pub(crate) fn times(&self, map: TickMap) -> (u64, u64) {
        let start = if self.flags & START_MONO != 0 {
            self.start
        } else {
            map.mono(self.start)
        };
        let end = if self.flags & END_MONO != 0 {
            self.end
        } else {
            map.mono(self.end)
        };
        (start, end)
    }

    /// Stamps the slot's times on its record.
    pub(crate) fn stamp(&self, e: &mut SpanEvent, map: TickMap) {
        let (start, end) = self.times(map);
        e.start_ns = clock::to_epoch_ns(start);
        e.duration_ns = end.saturating_sub(start);
    }
}
