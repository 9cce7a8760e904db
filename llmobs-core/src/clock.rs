//! The span clock: one wall-clock anchor taken once, plus the monotonic clock.
//!
//! Start times are the anchor plus monotonic time elapsed since it, so durations never go
//! negative even if the wall clock is stepped while a span runs.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

struct Anchor {
    instant: Instant,
    epoch_ns: u64,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| Anchor {
        instant: Instant::now(),
        epoch_ns: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    })
}

/// Monotonic nanoseconds since the anchor.
#[inline]
pub(crate) fn mono_ns() -> u64 {
    let a = anchor();
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
