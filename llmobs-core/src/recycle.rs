//! Slot arenas going home: the `Vec<Slot>` a thread recorded a trace in is reused for its next
//! trace, wherever the batch that carried it was dropped.
//!
//! Why: an empty span is a 64-byte write into the arena; allocating a new arena for every trace
//! (and freeing it on the exporter's thread) costs a good share of a short trace. A/B with
//! callgrind, same build but for this pool, `*_agent_drained` benches, instructions on the
//! application thread per root: root + 1 child 1,142 with reuse, 1,294 without (+13%);
//! root + 100 children 25,850 with, 26,161 without (+1.2%).
//!
//! How: each thread that records spans has a [`Home`], and every [`crate::SpanBatch`] it hands
//! over names it ([`Origin`]). When a batch is dropped (after `into_events`, on any thread) its
//! emptied arena goes back: kept at once on its own thread, or posted to its home's mailbox,
//! which the thread empties with one relaxed load (and, when there is mail, one lock) the next
//! time it hands a trace over. A thread that exits closes its home: later posts are freed where
//! they are. What a thread keeps, and what its mailbox holds, is bounded ([`MAX_ARENAS`],
//! [`MAX_SLOTS`]); what does not fit is freed where it is.
//!
//! Only arenas are pooled. The pools of annotation boxes and message lists (and the notes
//! buffers) were removed: an `#[llm]` call annotated with two messages and three metrics
//! (`llm_annotate/llm_annotate_drained`) cost 3,289 instructions with them and 3,506 without
//! (+217, about 0.06 µs in front of a model call), and a bare `#[llm]` span cost 1,548 with them
//! and 1,447 without.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::slot::Slot;

/// The most emptied arenas a thread keeps, and its mailbox holds, at a time...
const MAX_ARENAS: usize = 2048;
/// ...and the most slots they may hold together (64 bytes each: 512 KiB).
const MAX_SLOTS: usize = 8192;
/// Arenas larger than this (a trace of unusual size) are not kept.
const MAX_ARENA_SLOTS: usize = 128;

/// Emptied arenas, within the bounds.
#[derive(Default)]
struct Pool {
    arenas: Vec<Vec<Slot>>,
    /// The capacity of `arenas`, in slots.
    slots: usize,
}

impl Pool {
    const fn new() -> Self {
        Pool {
            arenas: Vec::new(),
            slots: 0,
        }
    }

    /// Keeps an emptied arena if the bounds allow; else it is freed here.
    fn add(&mut self, arena: Vec<Slot>) {
        let cap = arena.capacity();
        if cap > 0
            && cap <= MAX_ARENA_SLOTS
            && self.arenas.len() < MAX_ARENAS
            && self.slots + cap <= MAX_SLOTS
        {
            debug_assert!(arena.is_empty());
            self.slots += cap;
            self.arenas.push(arena);
        }
    }

    fn pop(&mut self) -> Option<Vec<Slot>> {
        let a = self.arenas.pop()?;
        self.slots -= a.capacity();
        Some(a)
    }
}

/// One thread's mailbox.
pub(crate) struct Home {
    /// Cleared when the thread exits: nothing is posted to it any more.
    open: AtomicBool,
    /// Set by a poster, cleared by the owner when it collects: the owner's per-trace check is
    /// one relaxed load.
    has_mail: AtomicBool,
    mail: Mutex<Pool>,
}

/// The thread a batch's arena belongs to; `None`: none (freed where it is dropped).
pub(crate) type Origin = Option<Arc<Home>>;

/// This thread's home and the arenas it has back.
struct Local {
    home: Origin,
    kept: Pool,
}

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(home) = &self.home {
            home.open.store(false, Ordering::Release);
            drop(take_mail(home));
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local {
            home: None,
            kept: Pool::new(),
        })
    };
}

fn take_mail(home: &Home) -> Pool {
    home.has_mail.store(false, Ordering::Relaxed);
    match home.mail.lock() {
        Ok(mut m) => std::mem::take(&mut *m),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    }
}

/// Runs `f` on this thread's state; `None` during thread teardown (or re-entry), when arenas
/// are simply allocated and freed as usual.
#[inline]
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    LOCAL
        .try_with(|l| l.try_borrow_mut().ok().map(|mut l| f(&mut l)))
        .ok()
        .flatten()
}

impl Local {
    fn origin(&mut self) -> Origin {
        let home = self.home.get_or_insert_with(|| {
            Arc::new(Home {
                open: AtomicBool::new(true),
                has_mail: AtomicBool::new(false),
                mail: Mutex::new(Pool::new()),
            })
        });
        Some(home.clone())
    }

    /// Takes what was posted home, if anything was.
    #[inline]
    fn collect(&mut self) {
        if let Some(home) = &self.home {
            if home.has_mail.load(Ordering::Relaxed) {
                let mail = take_mail(home);
                for a in mail.arenas {
                    self.kept.add(a);
                }
            }
        }
    }
}

/// An arena for this thread's next trace (one it has back if there is one, else a new one with
/// room for `capacity` slots), and this thread's origin.
#[inline]
pub(crate) fn next_arena(capacity: usize) -> (Vec<Slot>, Origin) {
    with_local(|l| {
        let origin = l.origin();
        l.collect();
        let arena = match l.kept.pop() {
            // Sized for the trace before, as a new one would be: one reallocation now rather
            // than a doubling chain as it fills.
            Some(mut a) if a.capacity() < capacity => {
                a.reserve_exact(capacity);
                a
            }
            Some(a) => a,
            None => Vec::with_capacity(capacity),
        };
        (arena, origin)
    })
    .unwrap_or_else(|| (Vec::with_capacity(capacity), None))
}

/// This thread's origin.
pub(crate) fn origin() -> Origin {
    with_local(Local::origin).flatten()
}

/// Gives the arena of a dropped batch back to the thread that recorded it (`origin`): kept at
/// once when that is this thread, else posted to its home. What it still holds is dropped here.
pub(crate) fn give_back(origin: &Origin, mut arena: Vec<Slot>) {
    let Some(home) = origin else { return };
    arena.clear();
    let mut arena = Some(arena);
    with_local(|l| {
        if l.home.as_ref().is_some_and(|h| Arc::ptr_eq(h, home)) {
            if let Some(a) = arena.take() {
                l.kept.add(a);
            }
        }
    });
    let Some(arena) = arena else { return };
    if !home.open.load(Ordering::Acquire) {
        return;
    }
    if let Ok(mut mail) = home.mail.lock() {
        mail.add(arena);
    }
    home.has_mail.store(true, Ordering::Relaxed);
}

/// How many arenas this thread holds for reuse, after taking what was posted home. For tests of
/// the SDK.
pub fn kept_on_this_thread() -> usize {
    with_local(|l| {
        l.collect();
        l.kept.arenas.len()
    })
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpanBatch;

    fn batch_of(arena: Vec<Slot>, origin: Origin) -> SpanBatch {
        let mut b = SpanBatch::new();
        b.slots = arena;
        b.origin = origin;
        b
    }

    #[test]
    fn an_arena_dropped_elsewhere_comes_home_and_is_reused() {
        std::thread::spawn(|| {
            let (arena, origin) = next_arena(4);
            let at = arena.as_ptr();
            let before = kept_on_this_thread();
            let batch = batch_of(arena, origin);
            std::thread::spawn(move || drop(batch.into_events()))
                .join()
                .unwrap();
            assert_eq!(kept_on_this_thread(), before + 1, "the arena came home");
            let (again, _) = next_arena(4);
            assert_eq!(again.as_ptr(), at, "and is reused for the next trace");
            assert!(again.is_empty());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn what_is_kept_is_bounded() {
        std::thread::spawn(|| {
            let origin = origin();
            for _ in 0..MAX_SLOTS / 4 + 5 {
                drop(batch_of(Vec::with_capacity(4), origin.clone()));
            }
            drop(batch_of(Vec::with_capacity(MAX_ARENA_SLOTS + 1), origin));
            LOCAL.with(|l| {
                let l = l.borrow();
                assert_eq!(l.kept.arenas.len(), MAX_SLOTS / 4);
                assert_eq!(l.kept.slots, MAX_SLOTS);
            });
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_that_exited_gets_no_mail() {
        let (arena, origin) = std::thread::spawn(|| next_arena(4)).join().unwrap();
        let home = origin.clone().unwrap();
        assert!(!home.open.load(Ordering::Acquire));
        drop(batch_of(arena, origin));
        assert!(!home.has_mail.load(Ordering::Relaxed), "freed, not posted");
    }
}
