//! The span clock: one wall-clock anchor taken once, plus a monotonic counter.
//!
//! Start times are the anchor plus monotonic time elapsed since it, so durations never go
//! negative even if the wall clock is stepped while a span runs.
//!
//! Reading the OS monotonic clock costs about 30 ns on a typical VM, and every span reads it
//! twice. On x86-64 processors with an invariant time-stamp counter we read the counter instead
//! (a few ns) and convert it with a rate calibrated once against the OS clock; elsewhere we use
//! `Instant`.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Anchor {
    instant: Instant,
    epoch_ns: u64,
    #[cfg(target_arch = "x86_64")]
    tsc: Option<Tsc>,
}

#[cfg(target_arch = "x86_64")]
struct Tsc {
    start: u64,
    /// Nanoseconds per tick, as a 32.32 fixed-point number.
    ns_per_tick_q32: u128,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        let instant = Instant::now();
        let epoch_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Anchor {
            instant,
            epoch_ns,
            #[cfg(target_arch = "x86_64")]
            tsc: calibrate_tsc(instant),
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)] // `__cpuid` is unsafe before Rust 1.87 and safe after.
fn has_invariant_tsc() -> bool {
    use std::arch::x86_64::__cpuid;
    // SAFETY: `cpuid` is available on every x86-64 processor.
    let max_ext = unsafe { __cpuid(0x8000_0000) }.eax;
    if max_ext < 0x8000_0007 {
        return false;
    }
    // Bit 8 of EDX: the counter runs at a constant rate in every power state.
    (unsafe { __cpuid(0x8000_0007) }.edx >> 8) & 1 == 1
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86-64.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(target_arch = "x86_64")]
fn calibrate_tsc(instant: Instant) -> Option<Tsc> {
    if std::env::var_os("LLMOBS_CLOCK_OS").is_some() || !has_invariant_tsc() {
        return None;
    }
    let start = rdtsc();
    // Spin rather than sleep: 2 ms measured against the OS clock gives a rate within a few
    // parts per million, and this runs once per process.
    let mut elapsed;
    let mut end;
    loop {
        end = rdtsc();
        elapsed = instant.elapsed();
        if elapsed >= Duration::from_millis(2) {
            break;
        }
    }
    let ticks = end.checked_sub(start)?;
    if ticks == 0 {
        return None;
    }
    let ns_per_tick_q32 = ((elapsed.as_nanos()) << 32) / u128::from(ticks);
    // Reject implausible rates (under 100 MHz or over 20 GHz): a virtualised counter gone wrong.
    let ghz_q32 = (1u128 << 32) / ns_per_tick_q32.max(1);
    if ns_per_tick_q32 == 0 || ns_per_tick_q32 > (10u128 << 32) || ghz_q32 > 20 {
        return None;
    }
    Some(Tsc {
        // The anchor's `Instant` was taken just before `start`, so tick 0 is anchor time.
        start,
        ns_per_tick_q32,
    })
}

/// Monotonic nanoseconds since the anchor.
#[inline]
pub(crate) fn mono_ns() -> u64 {
    let a = anchor();
    #[cfg(target_arch = "x86_64")]
    if let Some(t) = &a.tsc {
        let ticks = rdtsc().saturating_sub(t.start);
        return ((u128::from(ticks) * t.ns_per_tick_q32) >> 32) as u64;
    }
    Instant::now()
        .saturating_duration_since(a.instant)
        .as_nanos() as u64
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
    fn span_clock_tracks_the_os_clock() {
        let mono0 = mono_ns();
        let i0 = Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        let mono = mono_ns() - mono0;
        let os = i0.elapsed().as_nanos() as u64;
        // Within 2% of the OS clock over 50 ms (calibration error and scheduling noise).
        assert!(
            mono.abs_diff(os) < os / 50 + 200_000,
            "span clock {mono} ns vs OS clock {os} ns"
        );
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
    fn monotonic() {
        let mut last = mono_ns();
        for _ in 0..10_000 {
            let now = mono_ns();
            assert!(now >= last);
            last = now;
        }
    }
}
