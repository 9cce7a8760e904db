//! Memory going home: what a span allocated on an application thread (its trace's slot arena,
//! its annotations box and what that holds) goes back to that thread once the
//! exporter has encoded it, to be reused or freed there rather than on the exporter's thread.
//!
//! Why: with glibc's allocator, memory freed by another thread does not return to the
//! allocating thread's cache but to the arena it came from, under that arena's lock. An
//! application thread that records spans while the exporter frees the previous ones then
//! allocates from the arena rather than from its cache, and both threads take the same lock:
//! in profiles of the benchmarks that was a quarter of an annotated span's time, and the reason
//! its cost swung by 2-3x with when the exporter happened to run. Freed on the thread that
//! allocated them, the same chunks come straight back out of that thread's cache for its next
//! spans, and an arena of slots is reused whole instead of allocated for every trace.
//!
//! How: each thread that hands spans over claims one of a fixed number of homes, and every
//! [`SpanBatch`] it hands over names it ([`Origin`]). The exporter's worker keeps what it
//! finished with in a [`Recycler`] and posts it home once per tick: one lock per home per tick,
//! never one per span. The application thread looks for mail with one relaxed load when it hands
//! a trace over, and takes what was posted when there is some. Everything is bounded, in count
//! and, for what boxes hold, in bytes ([`MAX_ARENAS`], [`MAX_SLOTS`], [`MAX_BOXES`],
//! `MAX_CONTENT_BYTES`, [`MAX_NOTES`], [`MAX_NOTES_BYTES`]): per thread, what it keeps plus as much again in its mailbox. What does
//! not fit is freed where it is. A thread that cannot claim a home (all taken) works as before; a
//! thread that exits gives its home up and frees its mail.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::span_batch::Slot;
use crate::{Annotations, Message, SpanBatch, SpanEvent, SpanIo};

/// How many threads can have a home at once; further threads simply do not recycle.
const HOMES: usize = 64;
/// The most emptied slot arenas a thread keeps, and a home takes, at a time...
pub(crate) const MAX_ARENAS: usize = 2048;
/// ...and the most slots they may hold together (64 bytes each: 512 KiB).
pub(crate) const MAX_SLOTS: usize = 8192;
/// The most annotations boxes a thread keeps, and a home takes, at a time (600 bytes each,
/// plus what they still hold until reused).
pub(crate) const MAX_BOXES: usize = 2048;
/// The most emptied message lists a thread keeps for its next `input_messages` and
/// `output_messages`...
const MAX_MESSAGE_LISTS: usize = 64;
/// ...with room for at most this many messages each.
const MAX_LIST_CAPACITY: usize = 8;
/// Arenas larger than this (a trace of unusual size) are not kept; as many as a thread sizes
/// its next arena for.
const MAX_ARENA_SLOTS: usize = 128;
/// A box goes home with what it holds only while that is at most this many bytes (roughly);
/// a larger content is freed by the worker and the box goes home empty. This bounds in bytes
/// what a thread that stops recording holds until it exits.
const MAX_CONTENT_BYTES: usize = 1024;
/// What goes back to one thread.
#[derive(Default)]
struct Parcel {
    /// Reused from the back: what this thread kept itself is pushed there, what came home
    /// (last read on the exporter's core) at the front.
    arenas: VecDeque<Vec<Slot>>,
    /// The capacity of `arenas`, in slots.
    slots: usize,
    // Boxed on purpose: the boxes are the allocations spans hold and give back.
    #[allow(clippy::vec_box)]
    boxes: Vec<Box<Annotations>>,
}

impl Parcel {
    const fn new() -> Self {
        Parcel {
            arenas: VecDeque::new(),
            slots: 0,
            boxes: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.arenas.is_empty() && self.boxes.is_empty()
    }

    /// Adds an emptied arena if the bounds allow (`home`: at the front, as one that came home);
    /// else it is freed here.
    fn add_arena(&mut self, arena: Vec<Slot>, home: bool) {
        let cap = arena.capacity();
        if cap > 0
            && cap <= MAX_ARENA_SLOTS
            && self.arenas.len() < MAX_ARENAS
            && self.slots + cap <= MAX_SLOTS
        {
            self.slots += cap;
            if home {
                self.arenas.push_front(arena);
            } else {
                self.arenas.push_back(arena);
            }
        }
    }

    fn pop_arena(&mut self) -> Option<Vec<Slot>> {
        let a = self.arenas.pop_back()?;
        self.slots -= a.capacity();
        Some(a)
    }

    /// Adds a box if the bound allows; else it is freed here.
    fn add_box(&mut self, b: Box<Annotations>) {
        if self.boxes.len() < MAX_BOXES {
            self.boxes.push(b);
        }
    }

    /// Moves as much of `other` in as the bounds allow (`home`: below what is here, as what
    /// came home); the rest is freed with `other`.
    fn take_from(&mut self, other: Parcel, home: bool) {
        for a in other.arenas {
            self.add_arena(a, home);
        }
        for b in other.boxes {
            self.add_box(b);
        }
    }
}

/// One thread's mailbox, on cache lines of its own.
#[repr(align(128))]
struct Home {
    claimed: AtomicBool,
    /// Set by the worker when it posts, cleared by the owner when it collects: the owner's
    /// per-trace check is one load of a line that changes at most once per tick.
    has_mail: AtomicBool,
    mail: Mutex<Parcel>,
}

impl Home {
    const fn new() -> Self {
        Home {
            claimed: AtomicBool::new(false),
            has_mail: AtomicBool::new(false),
            mail: Mutex::new(Parcel::new()),
        }
    }

    fn take_mail(&self) -> Parcel {
        self.has_mail.store(false, Ordering::Relaxed);
        match self.mail.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

static HOME: [Home; HOMES] = [const { Home::new() }; HOMES];

/// The thread a [`SpanBatch`] was recorded on, as far as giving its memory back is concerned.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Origin, SpanBatch};
/// assert_eq!(SpanBatch::new().origin(), Origin::NONE);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin(u32);

impl Origin {
    /// No thread to give memory back to: it is freed where the spans are finished with.
    pub const NONE: Origin = Origin(u32::MAX);

    fn home(self) -> Option<&'static Home> {
        HOME.get(self.0 as usize)
    }
}

/// A thread not yet given a home; one that could not be given one is `Origin::NONE`.
const UNCLAIMED: u32 = u32::MAX - 1;

/// This thread's side: its home and the memory it has back.
struct Local {
    home: u32,
    parcel: Parcel,
    /// Emptied message lists from boxes emptied here, for the next annotation's messages.
    message_lists: Vec<Vec<Message>>,
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(home) = Origin(self.home).home() {
            drop(home.take_mail());
            home.claimed.store(false, Ordering::Release);
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local {
            home: UNCLAIMED,
            parcel: Parcel::new(),
            message_lists: Vec::new(),
        })
    };
}

impl Local {
    fn origin(&mut self) -> Origin {
        if self.home == UNCLAIMED {
            self.home = claim().map_or(Origin::NONE.0, |i| i as u32);
        }
        Origin(self.home)
    }

    /// Takes what was posted home, if anything was.
    #[inline]
    fn collect(&mut self, origin: Origin) {
        if let Some(home) = origin.home() {
            if home.has_mail.load(Ordering::Relaxed) {
                self.collect_slow(home);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn collect_slow(&mut self, home: &Home) {
        // What does not fit is freed here, on the thread that allocated it. Arenas
        // this thread kept itself (batches dropped here) are still in its cache; those that
        // came home were last read on the exporter's core: they go below, to be reused last.
        self.parcel.take_from(home.take_mail(), true);
    }
}

#[cold]
fn claim() -> Option<usize> {
    HOME.iter()
        .position(|h| {
            h.claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })
        .inspect(|&i| {
            // Mail posted to the previous owner after it left.
            drop(HOME[i].take_mail());
        })
}

/// Runs `f` on this thread's recycling state; `None` during thread teardown (or re-entry), when
/// memory is simply allocated and freed as usual.
#[inline]
fn with_local<R>(f: impl FnOnce(&mut Local) -> Option<R>) -> Option<R> {
    LOCAL
        .try_with(|l| l.try_borrow_mut().ok().and_then(|mut l| f(&mut l)))
        .ok()
        .flatten()
}

/// Pushes `item` on a pool of this thread's that holds at most `max` items; else `item` is
/// freed here.
#[inline]
fn keep<T>(pool: impl FnOnce(&mut Local) -> &mut Vec<T>, max: usize, item: T) {
    with_local(|l| {
        let pool = pool(l);
        if pool.len() < max {
            pool.push(item);
        }
        Some(())
    });
}

/// An arena for this thread's next trace (one that came back home if there is one, else a new
/// one with room for `capacity` slots), and this thread's origin.
#[inline]
pub(crate) fn next_arena(capacity: usize) -> (Vec<Slot>, Origin) {
    with_local(|l| {
        let origin = l.origin();
        l.collect(origin);
        let arena = match l.parcel.pop_arena() {
            // Sized for the trace before, as a new one would be: one reallocation now
            // rather than a doubling chain as it fills.
            Some(mut a) if a.capacity() < capacity => {
                a.reserve_exact(capacity);
                a
            }
            Some(a) => a,
            None => Vec::with_capacity(capacity),
        };
        Some((arena, origin))
    })
    .unwrap_or_else(|| (Vec::with_capacity(capacity), Origin::NONE))
}

/// This thread's origin (claiming a home on first use).
pub(crate) fn origin() -> Origin {
    with_local(|l| Some(l.origin())).unwrap_or(Origin::NONE)
}

/// An empty annotations box: one that came back home if there is one (emptied here, so what it
/// held is freed on the thread that allocated it, just before this thread allocates again),
/// else a new one.
#[inline]
pub(crate) fn annotations_box() -> Box<Annotations> {
    match with_local(|l| l.parcel.boxes.pop()) {
        Some(mut b) => {
            b.clear();
            b
        }
        None => Box::default(),
    }
}

/// Empties a message list (its messages are freed here) and keeps its allocation for
/// [`message_list`], if there is room.
pub(crate) fn keep_messages(mut list: Vec<Message>) {
    if list.capacity() == 0 || list.capacity() > MAX_LIST_CAPACITY {
        return;
    }
    list.clear();
    keep(|l| &mut l.message_lists, MAX_MESSAGE_LISTS, list);
}

/// The messages as a list, in an allocation this thread kept if it has one.
#[inline]
pub(crate) fn message_list(messages: impl IntoIterator<Item = Message>) -> Vec<Message> {
    match with_local(|l| l.message_lists.pop()) {
        Some(mut list) => {
            list.extend(messages);
            list
        }
        None => messages.into_iter().collect(),
    }
}

/// Empties an input or output, keeping a message list's allocation.
pub(crate) fn clear_io(io: &mut Option<SpanIo>) {
    match io.take() {
        Some(SpanIo::Messages(list)) => keep_messages(list),
        other => drop(other),
    }
}

/// Keeps a box this thread no longer needs for its next [`annotations_box`], if there is room.
pub(crate) fn keep_box(b: Box<Annotations>) {
    with_local(|l| {
        l.parcel.add_box(b);
        Some(())
    });
}

/// How many arenas and annotations boxes this thread holds for reuse, after taking what was
/// posted home. For tests of the SDK.
pub fn kept_on_this_thread() -> (usize, usize) {
    with_local(|l| {
        let origin = l.origin();
        l.collect(origin);
        Some((l.parcel.arenas.len(), l.parcel.boxes.len()))
    })
    .unwrap_or((0, 0))
}

/// Keeps the memory of a batch dropped on the thread that recorded it (`origin`) for that
/// thread's next spans; elsewhere it is simply freed.
pub(crate) fn dropped(origin: Origin, slots: &mut Vec<Slot>) {
    if origin == Origin::NONE {
        return;
    }
    with_local(|l| {
        if l.home != origin.0 {
            return None;
        }
        for slot in slots.iter_mut() {
            if let Some(a) = slot.annotations.take() {
                l.parcel.add_box(a);
            }
        }
        slots.clear();
        l.parcel.add_arena(std::mem::take(slots), false);
        Some(())
    });
}

/// Gives memory of finished spans back to the application threads that allocated it.
///
/// A [`crate::Sink`] that builds records off the application thread (the exporter's worker)
/// builds them with [`events`](Self::events), passes the records to
/// [`reclaim`](Self::reclaim) once it is done with them, and calls [`send`](Self::send) now and
/// then (once per batch of work): the slot arenas and annotations go back to the threads that
/// recorded them, to be reused or freed there. Dropping a `Recycler` frees what it holds.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Recycler, SpanBatch, SpanEvent, SpanId, SpanKind, TraceId};
/// let mut recycler = Recycler::new();
/// let batch = SpanBatch::from(vec![SpanEvent::new(SpanKind::Task, "t", TraceId(7), SpanId(1))]);
/// let origin = batch.origin();
/// let events = recycler.events(batch);
/// assert_eq!(events[0].name, "t");
/// recycler.reclaim(origin, events);
/// recycler.send();
/// ```
#[derive(Default)]
pub struct Recycler {
    parcels: Vec<(Origin, Parcel)>,
}

impl std::fmt::Debug for Recycler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recycler")
            .field("homes", &self.parcels.len())
            .finish()
    }
}

impl Recycler {
    /// A recycler holding nothing.
    pub fn new() -> Self {
        Recycler::default()
    }

    fn parcel(&mut self, origin: Origin) -> Option<&mut Parcel> {
        origin.home()?;
        let i = match self.parcels.iter().position(|(o, _)| *o == origin) {
            Some(i) => i,
            None => {
                self.parcels.push((origin, Parcel::default()));
                self.parcels.len() - 1
            }
        };
        Some(&mut self.parcels[i].1)
    }

    /// The batch's spans as full records (as [`SpanBatch::into_events`]), keeping its slot
    /// arena to go back to the thread that recorded it.
    pub fn events(&mut self, mut batch: SpanBatch) -> Vec<SpanEvent> {
        let events = batch.build_events();
        if let Some(p) = self.parcel(batch.origin) {
            p.add_arena(std::mem::take(&mut batch.slots), false);
        }
        events
    }

    /// Takes the annotations of spans that came in a batch from `origin` (see
    /// [`SpanBatch::origin`]), to go back to that thread; the rest of the records is dropped.
    /// Call it with the records of the batch [`events`](Self::events) built last.
    pub fn reclaim(&mut self, origin: Origin, spans: Vec<SpanEvent>) {
        let Some(p) = self.parcel(origin) else {
            return;
        };
        for mut span in spans {
            let Some(mut a) = span.annotations.take() else {
                continue;
            };
            if content_bytes(&a, MAX_CONTENT_BYTES) > MAX_CONTENT_BYTES {
                *a = Annotations::default();
            }
            p.add_box(a);
        }
    }

    /// Posts what is held to the threads it came from: one lock per thread. What a thread's
    /// home has no room for is freed here.
    pub fn send(&mut self) {
        for (origin, parcel) in self.parcels.drain(..) {
            let Some(home) = origin.home() else { continue };
            if parcel.is_empty() || !home.claimed.load(Ordering::Relaxed) {
                continue;
            }
            if let Ok(mut mail) = home.mail.lock() {
                mail.take_from(parcel, false);
            }
            home.has_mail.store(true, Ordering::Relaxed);
        }
    }
}

/// Roughly how many bytes `a` holds outside its box, counted until past `limit`.
fn content_bytes(a: &Annotations, limit: usize) -> usize {
    fn io(io: &Option<SpanIo>, limit: usize) -> usize {
        match io {
            None => 0,
            Some(SpanIo::Messages(m)) => {
                m.capacity() * std::mem::size_of::<Message>()
                    + m.iter()
                        .map(|m| {
                            m.content.capacity() + 64 * (m.tool_calls.len() + m.tool_results.len())
                        })
                        .sum::<usize>()
            }
            Some(SpanIo::Documents(d)) => {
                d.capacity() * std::mem::size_of::<crate::Document>()
                    + d.iter().map(|d| d.text.capacity()).sum::<usize>()
            }
            Some(SpanIo::Value(v)) => value(v, limit),
        }
    }
    fn value(v: &serde_json::Value, limit: usize) -> usize {
        use serde_json::Value;
        match v {
            Value::String(s) => 32 + s.capacity(),
            Value::Array(items) => {
                let mut n = 32;
                for item in items {
                    n += value(item, limit);
                    if n > limit {
                        break;
                    }
                }
                n
            }
            Value::Object(map) => {
                let mut n = 64;
                for (k, item) in map {
                    n += 32 + k.len() + value(item, limit);
                    if n > limit {
                        break;
                    }
                }
                n
            }
            _ => 16,
        }
    }
    let mut n = io(&a.input, limit) + io(&a.output, limit);
    if n <= limit && !a.metadata.is_empty() {
        n += a
            .metadata
            .iter()
            .map(|(k, v)| 32 + k.len() + value(v, limit))
            .sum::<usize>();
    }
    n += a
        .tags
        .iter()
        .map(|(k, v)| 64 + k.len() + v.len())
        .sum::<usize>();
    // Prompts, tool definitions and collection errors are rare: count them as large.
    if a.prompt.is_some() || !a.tool_definitions.is_empty() || !a.collection_errors.is_empty() {
        n += limit + 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_home_and_gives_it_up_when_it_exits() {
        let here = origin();
        assert_ne!(here, Origin::NONE);
        assert_eq!(origin(), here, "a thread keeps its home");
        // Far more threads than homes, one after another: each finds one free, which it can
        // only if every thread before it gave its home up.
        for _ in 0..HOMES * 3 {
            let there = std::thread::spawn(origin).join().unwrap();
            assert_ne!(there, Origin::NONE);
            assert_ne!(there, here);
        }
    }

    #[test]
    fn posted_memory_comes_back_to_its_thread_within_bounds() {
        std::thread::spawn(|| {
            let o = origin();
            std::thread::spawn(move || {
                let mut r = Recycler::new();
                let p = r.parcel(o).unwrap();
                for _ in 0..MAX_SLOTS / 4 + 5 {
                    p.add_arena(Vec::with_capacity(4), false);
                }
                p.add_arena(Vec::with_capacity(MAX_ARENA_SLOTS + 1), false);
                for _ in 0..MAX_BOXES + 5 {
                    p.add_box(Box::default());
                }
                r.send();
            })
            .join()
            .unwrap();
            let (arena, o2) = next_arena(1);
            assert_eq!(o2, o);
            assert_eq!(arena.capacity(), 4, "a posted arena is reused");
            let (grown, _) = next_arena(64);
            assert!(
                grown.capacity() >= 64,
                "a small one is sized for the trace before"
            );
            LOCAL.with(|l| {
                let l = l.borrow();
                assert_eq!(l.parcel.arenas.len(), MAX_SLOTS / 4 - 2);
                assert_eq!(l.parcel.slots, MAX_SLOTS - 8);
                assert_eq!(l.parcel.boxes.len(), MAX_BOXES);
            });
        })
        .join()
        .unwrap();
    }

    #[test]
    fn an_arena_kept_here_is_reused_before_one_that_came_home() {
        std::thread::spawn(|| {
            let o = origin();
            // Kept here: a batch dropped on its own thread.
            drop(SpanBatch {
                slots: Vec::with_capacity(8),
                complete: Vec::new(),
                origin: o,
                routes: Vec::new(),
                map: Default::default(),
            });
            std::thread::spawn(move || {
                let mut r = Recycler::new();
                r.parcel(o).unwrap().add_arena(Vec::with_capacity(4), false);
                r.send();
            })
            .join()
            .unwrap();
            let (first, _) = next_arena(1);
            let (second, _) = next_arena(1);
            assert_eq!((first.capacity(), second.capacity()), (8, 4));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_kept_message_list_is_reused_empty() {
        std::thread::spawn(|| {
            let list = vec![Message::user("old"), Message::assistant("older")];
            let at = list.as_ptr();
            keep_messages(list);
            let reused = message_list([Message::user("new")]);
            assert_eq!(reused.as_ptr(), at, "the allocation is reused");
            assert_eq!(reused, [Message::user("new")]);
            // Too large to keep: freed instead.
            keep_messages(Vec::with_capacity(MAX_LIST_CAPACITY + 1));
            assert!(LOCAL.with(|l| l.borrow().message_lists.is_empty()));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_large_content_goes_home_freed() {
        let o = origin();
        let mut small = Box::<Annotations>::default();
        small.input = Some(SpanIo::Messages(vec![Message::user("short")]));
        let mut large = Box::<Annotations>::default();
        large.input = Some(SpanIo::Messages(vec![Message::user("x".repeat(4096))]));
        let mut events = Vec::new();
        for a in [small, large] {
            let mut e = SpanEvent::new(
                crate::SpanKind::Llm,
                "c",
                crate::TraceId(1),
                crate::SpanId(1),
            );
            e.annotations = Some(a);
            events.push(e);
        }
        let mut r = Recycler::new();
        r.reclaim(o, events);
        let p = r.parcel(o).unwrap();
        assert_eq!(p.boxes.len(), 2, "both boxes go home");
        assert!(
            p.boxes[0].input.is_some(),
            "a small content goes home with its box"
        );
        assert_eq!(
            *p.boxes[1],
            Annotations::default(),
            "a large one is freed first"
        );
    }

    #[test]
    fn a_batch_dropped_on_its_own_thread_keeps_its_memory_there() {
        std::thread::spawn(|| {
            let (before_arenas, before_boxes) = kept_on_this_thread();
            let mut slots = Vec::with_capacity(4);
            slots.push(Slot {
                span_id: crate::SpanId(1),
                parent: crate::span_batch::NO_SLOT,
                kind: crate::SpanKind::Task,
                open: false,
                decorator: false,
                flags: 0,
                name: "t",
                start: 0,
                end: 0,
                event: None,
                annotations: Some(Box::default()),
            });
            drop(SpanBatch {
                slots,
                complete: Vec::new(),
                origin: origin(),
                routes: Vec::new(),
                map: Default::default(),
            });
            assert_eq!(kept_on_this_thread(), (before_arenas + 1, before_boxes + 1));
            // A batch from another thread's origin is freed, not kept.
            drop(SpanBatch {
                slots: Vec::with_capacity(4),
                complete: Vec::new(),
                origin: Origin(if origin().0 == 0 { 1 } else { 0 }),
                routes: Vec::new(),
                map: Default::default(),
            });
            assert_eq!(kept_on_this_thread(), (before_arenas + 1, before_boxes + 1));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_reused_box_is_empty() {
        std::thread::spawn(|| {
            let mut a = Box::<Annotations>::default();
            a.input = Some(crate::SpanIo::Messages(vec![crate::Message::user("q")]));
            a.metrics.insert("input_tokens".into(), 3.into());
            a.tags.insert("k".into(), "v".into());
            a.metadata.insert("t".into(), 1.into());
            a.model_name = Some("m".into());
            a.name = Some("n".into());
            a.input_explicit = true;
            keep_box(a);
            assert_eq!(*annotations_box(), Annotations::default());
        })
        .join()
        .unwrap();
    }
}
