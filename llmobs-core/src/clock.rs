//! The span clock: one wall-clock anchor taken once, plus a monotonic counter.
//!
//! Start times are the anchor plus monotonic time elapsed since it, so durations never go
//! negative even if the wall clock is stepped while a span runs.
//!
//! Reading the OS monotonic clock costs about 30 ns on a typical VM, and every span reads it
//! twice. On x86-64 processors with an invariant time-stamp counter we read the counter instead
//! (a few ns) and convert ticks to nanoseconds:
//! - each thread maps ticks to time from a base point it re-takes from the OS clock every
//!   100 ms of ticks, so the mapping can never drift from the OS clock by more than the rate
//!   error over 100 ms, and re-basing never moves a thread's clock backwards;
//! - the tick rate is measured against the OS clock over the whole life of the process (each
//!   re-base refines it, from 10 ms on), so its error shrinks as the process runs; the first
//!   estimate comes from a 200 µs measurement.
//!
//! Elsewhere, or with `LLMOBS_CLOCK_OS` set, we use `Instant`.
//!
//! The spans of the slot arena (see [`crate::stack`]) go one step further: they keep the raw
//! reading ([`ticks`]), and their trace is converted as a whole, on the exporter's thread, with
//! the mapping ([`TickMap`]) its thread had when it handed the trace over. An empty span then
//! pays for two counter reads and nothing else; one mapping for the whole trace also keeps its
//! spans' times consistent with each other. A trace root keeps its start converted at once,
//! since its trace id carries the second it started in, and that must not depend on when the
//! conversion happens.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Anchor {
    instant: Instant,
    epoch_ns: u64,
    /// The tick count read right after `instant`, when the counter is used.
    tsc: Option<u64>,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

/// Set once the anchor is taken, when the counter is used: [`ticks`] then needs nothing else.
static USE_TSC: AtomicBool = AtomicBool::new(false);

/// Nanoseconds per tick as a 32.32 fixed-point number, refined as the process runs.
static NS_PER_TICK_Q32: AtomicU64 = AtomicU64::new(0);

/// How long after the anchor a base point first refines the rate: 50x the first estimate's
/// measurement, so its error is that much smaller.
const REFINE_AFTER: Duration = Duration::from_millis(10);

/// The widest counter bracket around an OS clock read that is trusted to place it.
const BRACKET_NS: u64 = 20_000;

/// How far a thread's base point may lie behind before it is taken again.
const REBASE_AFTER: Duration = Duration::from_millis(100);

thread_local! {
    /// `(base tick, base ns since the anchor, tick at which to re-base, rate)`: the rate is
    /// fixed per window, so a rate refined meanwhile by another thread cannot move this
    /// thread's readings.
    static BASE: Cell<(u64, u64, u64, u64)> = const { Cell::new((0, 0, 0, 0)) };
}

#[inline]
fn anchor() -> &'static Anchor {
    match ANCHOR.get() {
        Some(a) => a,
        None => init_anchor(),
    }
}

#[cold]
fn init_anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        let instant = Instant::now();
        // Read at once after `instant`, so that both name the same moment: the first read of
        // the wall clock below can take tens of µs, which counted in the first rate estimate
        // made it 15% off.
        let tick = rdtsc();
        let epoch_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let tsc = tsc_start(instant, tick);
        USE_TSC.store(tsc.is_some(), Ordering::Release);
        Anchor {
            instant,
            epoch_ns,
            tsc,
        }
    })
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[allow(unused_unsafe)] // `__cpuid` is unsafe before Rust 1.87 and safe after.
fn has_invariant_tsc() -> bool {
    use std::arch::x86_64::__cpuid;
    // SAFETY: `cpuid` is available on every x86-64 processor.
    let max_ext = unsafe { __cpuid(0x8000_0000) }.eax;
    if max_ext < 0x8000_0007 {
        return false;
    }
    // Bit 8 of EDX: the counter runs at a constant rate in every power state.
    // SAFETY: as above; leaf 0x8000_0007 exists (checked against `max_ext`).
    (unsafe { __cpuid(0x8000_0007) }.edx >> 8) & 1 == 1
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86-64.
    unsafe { std::arch::x86_64::_rdtsc() }
}

// Elsewhere, and under Miri (which cannot execute `rdtsc` or `cpuid`), the OS clock is used.
#[cfg(any(not(target_arch = "x86_64"), miri))]
#[inline(always)]
fn rdtsc() -> u64 {
    0
}

#[cfg(any(not(target_arch = "x86_64"), miri))]
fn has_invariant_tsc() -> bool {
    false
}

/// Decides whether to use the counter and makes the first rate estimate, from `start`, the
/// counter at `instant`.
fn tsc_start(instant: Instant, start: u64) -> Option<u64> {
    if std::env::var_os("LLMOBS_CLOCK_OS").is_some() || !has_invariant_tsc() {
        return None;
    }
    let (mut end, mut elapsed);
    loop {
        end = rdtsc();
        elapsed = instant.elapsed();
        if elapsed >= Duration::from_micros(200) {
            break;
        }
    }
    let ticks = end.checked_sub(start).filter(|t| *t > 0)?;
    let rate = (elapsed.as_nanos() << 32) / u128::from(ticks);
    // Reject implausible rates (under 100 MHz or over 20 GHz): a virtualised counter gone wrong.
    if !((1u128 << 32) / 20..=(10u128 << 32)).contains(&rate) {
        return None;
    }
    NS_PER_TICK_Q32.store(rate as u64, Ordering::Relaxed);
    Some(start)
}

/// Takes a new base point for this thread from the OS clock, refines the shared rate over the
/// process's lifetime, and returns the time at `now_tick`.
#[cold]
fn rebase(a: &Anchor, tsc0: u64, now_tick: u64) -> u64 {
    // The OS read, bracketed by two counter reads: it happened between them. A thread
    // preempted inside the bracket would misplace the OS time by up to its width (milliseconds
    // on a loaded machine), in the base point and in the rate refined from it: the narrowest
    // of a few tries is kept, and a wide one refines nothing.
    let rate_now = NS_PER_TICK_Q32.load(Ordering::Relaxed).max(1);
    let tight = ((u128::from(BRACKET_NS) << 32) / u128::from(rate_now)) as u64;
    let (mut tick, mut os_ns, mut width) = (0, 0, u64::MAX);
    for _ in 0..4 {
        let before = rdtsc();
        let os = a.instant.elapsed().as_nanos() as u64;
        let w = rdtsc().saturating_sub(before);
        if w < width {
            (tick, os_ns, width) = (before + w / 2, os, w);
        }
        if width <= tight {
            break;
        }
    }
    // Refined only over a span long enough to improve on the first estimate: a base point
    // taken just after the anchor measures so short an interval that the time an OS read
    // takes is a good part of it (seen: 12% off), and the error would carry forward.
    let long_enough = os_ns >= REFINE_AFTER.as_nanos() as u64 && width <= tight;
    if let Some(ticks) = tick.checked_sub(tsc0).filter(|t| *t > 0 && long_enough) {
        let rate = (u128::from(os_ns) << 32) / u128::from(ticks);
        if rate > 0 && rate <= u128::from(u64::MAX) {
            NS_PER_TICK_Q32.store(rate as u64, Ordering::Relaxed);
        }
    }
    let rate = NS_PER_TICK_Q32.load(Ordering::Relaxed);
    let (old_tick, old_ns, _, old_rate) = BASE.get();
    // Never step this thread's clock backwards: continue the old window's mapping to `tick`
    // (every earlier reading of this thread is at most that) and start from whichever is later.
    let continued = if old_tick != 0 && tick >= old_tick {
        old_ns + ((u128::from(tick - old_tick) * u128::from(old_rate)) >> 32) as u64
    } else {
        0
    };
    let ns = os_ns.max(continued);
    let window =
        ((u128::from(REBASE_AFTER.as_nanos() as u64) << 32) / u128::from(rate.max(1))) as u64;
    BASE.set((tick, ns, tick.saturating_add(window), rate));
    // The time at the caller's reading, taken just before the bracket; not below what this
    // thread read before it (the old window continued to it).
    let back = ((u128::from(tick.saturating_sub(now_tick)) * u128::from(rate)) >> 32) as u64;
    let earlier = if old_tick != 0 && now_tick >= old_tick {
        old_ns + ((u128::from(now_tick - old_tick) * u128::from(old_rate)) >> 32) as u64
    } else {
        0
    };
    ns.saturating_sub(back).max(earlier)
}

/// Monotonic nanoseconds since the anchor.
#[inline]
pub(crate) fn mono_ns() -> u64 {
    let a = anchor();
    if let Some(tsc0) = a.tsc {
        let now = rdtsc();
        if let Ok((tick, ns, limit, rate)) = BASE.try_with(Cell::get) {
            if now >= tick && now < limit {
                return ns + ((u128::from(now - tick) * u128::from(rate)) >> 32) as u64;
            }
            return rebase(a, tsc0, now);
        }
    }
    Instant::now()
        .saturating_duration_since(a.instant)
        .as_nanos() as u64
}

/// A raw reading of the span clock: counter ticks where the counter is used, else nanoseconds
/// since the anchor. Convert it with the [`TickMap`] of the thread that read it.
#[inline(always)]
pub(crate) fn ticks() -> u64 {
    if USE_TSC.load(Ordering::Relaxed) {
        rdtsc()
    } else {
        ticks_slow()
    }
}

#[cold]
#[inline(never)]
fn ticks_slow() -> u64 {
    if anchor().tsc.is_some() {
        rdtsc()
    } else {
        mono_ns()
    }
}

/// How one thread's [`ticks`] convert to monotonic nanoseconds since the anchor: a linear map,
/// from the thread's base point, extended backwards for readings taken before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TickMap {
    tick: u64,
    ns: u64,
    /// Nanoseconds per tick, 32.32 fixed point; 0 when ticks are nanoseconds already.
    rate: u64,
}

impl TickMap {
    /// A mapping through (`tick`, `ns`) at `rate` nanoseconds per tick (32.32 fixed point).
    #[cfg(test)]
    pub(crate) fn new(tick: u64, ns: u64, rate: u64) -> Self {
        TickMap { tick, ns, rate }
    }

    /// Monotonic nanoseconds since the anchor at reading `t`.
    #[inline]
    pub(crate) fn mono(self, t: u64) -> u64 {
        if self.rate == 0 {
            return t;
        }
        let scaled = |d: u64| ((u128::from(d) * u128::from(self.rate)) >> 32) as u64;
        if t >= self.tick {
            self.ns.saturating_add(scaled(t - self.tick))
        } else {
            self.ns.saturating_sub(scaled(self.tick - t))
        }
    }
}

/// This thread's mapping of [`ticks`] to time, valid for readings up to `latest`: the base
/// [`mono_ns`] uses, taken again from the OS clock first if `latest` is past its window.
pub(crate) fn tick_map(latest: u64) -> TickMap {
    let a = anchor();
    let Some(tsc0) = a.tsc else {
        return TickMap::default();
    };
    let base = BASE.try_with(|b| {
        let (tick, ns, limit, rate) = b.get();
        if tick != 0 && latest < limit {
            return TickMap { tick, ns, rate };
        }
        rebase(a, tsc0, rdtsc());
        let (tick, ns, _, rate) = b.get();
        TickMap { tick, ns, rate }
    });
    // During thread teardown, when this thread's base is gone: from the anchor at the rate
    // measured so far.
    base.unwrap_or_else(|_| TickMap {
        tick: tsc0,
        ns: 0,
        rate: NS_PER_TICK_Q32.load(Ordering::Relaxed),
    })
}

/// Converts monotonic nanoseconds since the anchor to nanoseconds since the Unix epoch.
#[inline]
pub(crate) fn to_epoch_ns(mono: u64) -> u64 {
    anchor().epoch_ns.saturating_add(mono)
}

/// Nanoseconds since the Unix epoch, on the span clock.
pub fn now_epoch_ns() -> u64 {
    to_epoch_ns(mono_ns())
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_seconds() -> u64 {
    now_epoch_ns() / 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "times the interpreter, not the clock")]
    fn span_clock_tracks_the_os_clock() {
        let a = anchor();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(120));
            let os = a.instant.elapsed().as_nanos() as u64;
            let ours = mono_ns();
            // Within 2 ms of the OS clock: the re-base bounds any drift to a 100 ms window.
            assert!(
                ours.abs_diff(os) < 2_000_000,
                "span clock {ours} ns vs OS clock {os} ns"
            );
        }
    }

    #[test]
    fn epoch_time_matches_system_time() {
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(now_epoch_ns().abs_diff(sys) < 50_000_000);
    }

    #[test]
    #[cfg_attr(miri, ignore = "times the interpreter, not the clock")]
    fn raw_readings_convert_to_the_clock_spans_read() {
        let t0 = ticks();
        let m0 = mono_ns();
        std::thread::sleep(Duration::from_millis(150));
        // Past the re-base window: the mapping is taken again, and still maps the reading from
        // before it (backwards from the new base) close to what the clock read then.
        let t1 = ticks();
        let m1 = mono_ns();
        let map = tick_map(t1);
        assert!(
            map.mono(t0).abs_diff(m0) < 2_000_000,
            "{} vs {m0}",
            map.mono(t0)
        );
        assert!(
            map.mono(t1).abs_diff(m1) < 2_000_000,
            "{} vs {m1}",
            map.mono(t1)
        );
        let d = map.mono(t1) - map.mono(t0);
        assert!(
            (150_000_000..2_000_000_000).contains(&d),
            "150 ms slept, {d} ns between the readings"
        );
    }

    #[test]
    fn a_mapping_extends_both_ways() {
        // 2 ns per tick through (1000 ticks, 10 µs).
        let map = TickMap::new(1000, 10_000, 2 << 32);
        assert_eq!(map.mono(1000), 10_000);
        assert_eq!(map.mono(1500), 11_000);
        assert_eq!(map.mono(500), 9_000);
        assert_eq!(map.mono(0), 8_000);
        assert_eq!(
            TickMap::new(1000, 100, 2 << 32).mono(0),
            0,
            "never below the anchor"
        );
        assert_eq!(
            TickMap::default().mono(1234),
            1234,
            "readings already in ns"
        );
    }

    #[test]
    fn monotonic_within_a_thread_across_rebases() {
        let mut last = mono_ns();
        let end = Instant::now() + Duration::from_millis(250);
        while Instant::now() < end {
            let now = mono_ns();
            assert!(now >= last, "went back from {last} to {now}");
            last = now;
        }
    }
}
