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
//! emptied arena goes back: kept at once on its own thread, or put in the dropping thread's
//! outbox, which is posted to the homes' mailboxes in groups (one lock per home and group), when
//! it is full or when [`send_home`] is called (the exporter's worker does at the end of each
//! tick; a thread does when it exits). The owner empties its mailbox with one relaxed load (and,
//! when there is mail, one lock) the next time it hands a trace over.
//!
//! The recording thread touches nothing shared per trace but that load: a home is a `&'static`
//! (no reference count that the two threads would pass a cache line back and forth for), and
//! posts arrive in groups. Homes are never freed: a thread that exits closes its home (later
//! posts are freed where they are) and leaves it to the next new thread, so there are as many
//! homes as threads ever recorded spans at once. What a thread keeps, what its mailbox holds and
//! what an outbox holds are bounded ([`MAX_ARENAS`], [`MAX_SLOTS`], [`OUTBOX`]); what does not
//! fit is freed where it is.
//!
//! Only arenas are pooled. The pools of annotation boxes and message lists (and the notes
//! buffers) were removed: an `#[llm]` call annotated with two messages and three metrics
//! (`llm_annotate/llm_annotate_drained`) cost 3,289 instructions with them and 3,506 without
//! (+217, about 0.06 µs in front of a model call), and a bare `#[llm]` span cost 1,548 with them
//! and 1,447 without.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::slot::Slot;

/// The most emptied arenas a thread keeps, and its mailbox holds, at a time...
const MAX_ARENAS: usize = 2048;
/// ...and the most slots they may hold together (64 bytes each: 512 KiB).
const MAX_SLOTS: usize = 8192;
/// Arenas larger than this (a trace of unusual size) are not kept.
const MAX_ARENA_SLOTS: usize = 128;
/// How many arenas a dropping thread holds before it posts them home.
const OUTBOX: usize = 32;

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
        if keepable(&arena) && self.arenas.len() < MAX_ARENAS && self.slots + cap <= MAX_SLOTS {
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

fn keepable(arena: &Vec<Slot>) -> bool {
    (1..=MAX_ARENA_SLOTS).contains(&arena.capacity())
}

/// One thread's mailbox. On a cache line of its own: posters write it, its owner reads
/// `has_mail` once per trace.
#[repr(align(64))]
pub(crate) struct Home {
    /// Cleared when its thread exits (nothing is posted to it any more), set again when a new
    /// thread takes it.
    open: AtomicBool,
    /// Set by a poster, cleared by the owner when it collects: the owner's per-trace check is
    /// one relaxed load.
    has_mail: AtomicBool,
    mail: Mutex<Pool>,
}

/// The thread a batch's arena belongs to; `None`: none (freed where it is dropped).
pub(crate) type Origin = Option<&'static Home>;

/// Homes whose threads exited, for new threads to take.
static SPARE_HOMES: Mutex<Vec<&'static Home>> = Mutex::new(Vec::new());

/// This thread's home, the arenas it has back, and those it holds for other threads.
struct Local {
    home: Origin,
    kept: Pool,
    outbox: Vec<(&'static Home, Vec<Slot>)>,
}

impl Drop for Local {
    fn drop(&mut self) {
        post(&mut self.outbox);
        if let Some(home) = self.home.take() {
            home.open.store(false, Ordering::Release);
            drop(take_mail(home));
            lock(&SPARE_HOMES).push(home);
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const {
        RefCell::new(Local {
            home: None,
            kept: Pool::new(),
            outbox: Vec::new(),
        })
    };
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn take_mail(home: &Home) -> Pool {
    home.has_mail.store(false, Ordering::Relaxed);
    std::mem::take(&mut *lock(&home.mail))
}

/// Posts what `outbox` holds, one lock per home.
fn post(outbox: &mut Vec<(&'static Home, Vec<Slot>)>) {
    if outbox.is_empty() {
        return;
    }
    outbox.sort_unstable_by_key(|(home, _)| std::ptr::from_ref(*home) as usize);
    let mut posts = outbox.drain(..).peekable();
    while let Some((home, arena)) = posts.next() {
        let open = home.open.load(Ordering::Acquire);
        let mut mail = open.then(|| lock(&home.mail));
        if let Some(m) = &mut mail {
            m.add(arena);
        }
        while let Some((_, arena)) = posts.next_if(|(h, _)| std::ptr::eq(*h, home)) {
            if let Some(m) = &mut mail {
                m.add(arena);
            }
        }
        if mail.is_some() {
            home.has_mail.store(true, Ordering::Relaxed);
        }
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
    #[inline]
    fn origin(&mut self) -> &'static Home {
        match self.home {
            Some(home) => home,
            None => self.move_in(),
        }
    }

    /// Takes a spare home, or makes one.
    #[cold]
    fn move_in(&mut self) -> &'static Home {
        let spare = lock(&SPARE_HOMES).pop();
        let home = spare.unwrap_or_else(|| {
            Box::leak(Box::new(Home {
                open: AtomicBool::new(false),
                has_mail: AtomicBool::new(false),
                mail: Mutex::new(Pool::new()),
            }))
        });
        home.open.store(true, Ordering::Release);
        self.home = Some(home);
        home
    }

    /// Takes what was posted home, if anything was.
    #[inline]
    fn collect(&mut self) {
        if let Some(home) = self.home {
            if home.has_mail.load(Ordering::Relaxed) {
                self.collect_mail(home);
            }
        }
    }

    #[cold]
    fn collect_mail(&mut self, home: &Home) {
        for a in take_mail(home).arenas {
            self.kept.add(a);
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
        (arena, Some(origin))
    })
    .unwrap_or_else(|| (Vec::with_capacity(capacity), None))
}

/// This thread's origin.
pub(crate) fn origin() -> Origin {
    with_local(Local::origin)
}

/// Gives the arena of a dropped batch back to the thread that recorded it (`origin`): kept at
/// once when that is this thread, else put in this thread's outbox. What it still holds is
/// dropped here.
pub(crate) fn give_back(origin: Origin, mut arena: Vec<Slot>) {
    let Some(home) = origin else { return };
    if !keepable(&arena) {
        return;
    }
    arena.clear();
    with_local(|l| {
        if l.home.is_some_and(|h| std::ptr::eq(h, home)) {
            l.kept.add(arena);
        } else {
            l.outbox.push((home, arena));
            if l.outbox.len() >= OUTBOX {
                post(&mut l.outbox);
            }
        }
    });
}

/// Posts the arenas this thread holds for other threads to their homes. The exporter's worker
/// calls it at the end of each tick; a thread that exits does it by itself.
pub fn send_home() {
    with_local(|l| post(&mut l.outbox));
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
            std::thread::spawn(move || {
                drop(batch.into_events());
                send_home();
            })
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
    fn arenas_wait_in_the_outbox_until_it_is_full_or_sent() {
        std::thread::spawn(|| {
            let origin = origin();
            let before = kept_on_this_thread();
            let arenas: Vec<_> = (0..OUTBOX + 3).map(|_| Vec::with_capacity(4)).collect();
            std::thread::spawn(move || {
                for a in arenas {
                    drop(batch_of(a, origin));
                }
                // The first OUTBOX went as one group; three wait for the tick's end.
                with_local(|l| assert_eq!(l.outbox.len(), 3));
            })
            .join()
            .unwrap();
            // The dropping thread exited, which sent the rest.
            assert_eq!(kept_on_this_thread(), before + OUTBOX + 3);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn what_is_kept_is_bounded() {
        std::thread::spawn(|| {
            let origin = origin();
            for _ in 0..MAX_SLOTS / 4 + 5 {
                drop(batch_of(Vec::with_capacity(4), origin));
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
    fn a_closed_home_gets_no_mail() {
        let home: &'static Home = Box::leak(Box::new(Home {
            open: AtomicBool::new(false),
            has_mail: AtomicBool::new(false),
            mail: Mutex::new(Pool::new()),
        }));
        drop(batch_of(Vec::with_capacity(4), Some(home)));
        send_home();
        assert!(!home.has_mail.load(Ordering::Relaxed), "freed, not posted");
        assert!(lock(&home.mail).arenas.is_empty());
        // A home is never freed: it joins the spare ones (leak checkers see it held there).
        lock(&SPARE_HOMES).push(home);
    }

    #[test]
    fn threads_that_exited_leave_their_homes_to_new_threads() {
        let home = std::thread::spawn(|| origin().unwrap()).join().unwrap();
        // Other tests' threads may take it first: it is spare, or open again (taking it pops
        // it, then opens it: look a few times).
        let kept = (0..100).any(|_| {
            let spare = lock(&SPARE_HOMES).iter().any(|h| std::ptr::eq(*h, home));
            spare || home.open.load(Ordering::Acquire) || {
                std::thread::sleep(std::time::Duration::from_millis(1));
                false
            }
        });
        assert!(kept, "the home of a thread that exited is not lost");
        // Many short-lived threads in a row need no new homes each.
        let made: std::collections::HashSet<usize> = (0..50)
            .map(|_| {
                std::thread::spawn(|| std::ptr::from_ref(origin().unwrap()) as usize)
                    .join()
                    .unwrap()
            })
            .collect();
        assert!(
            made.len() < 25,
            "{} homes for 50 threads in a row",
            made.len()
        );
    }
}
