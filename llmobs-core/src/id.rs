//! Trace and span identifiers, generated as the reference SDK generates them.
//!
//! Span ids are random 64-bit values from a per-thread generator (no lock, no syscall). Trace ids
//! are 128 bits: the upper 32 bits hold the Unix time in seconds, the next 32 are zero and the low
//! 64 are random, so they sort roughly by time and match what Datadog expects.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A 64-bit span identifier, never zero. Sent as a decimal string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub u64);

/// A 128-bit trace identifier. Sent as 32 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub u128);

impl SpanId {
    /// A new random span id.
    #[inline]
    pub fn generate() -> Self {
        loop {
            let v = next_random();
            if v != 0 {
                return SpanId(v);
            }
        }
    }
}

impl TraceId {
    /// A new trace id: Unix seconds in the upper 32 bits, 32 zero bits, 64 random bits.
    pub fn generate() -> Self {
        let secs = crate::clock::unix_seconds() as u128;
        TraceId((secs << 96) | next_random() as u128)
    }

    /// The high 64 bits (`_dd.p.tid` in propagation headers).
    pub fn high(self) -> u64 {
        (self.0 >> 64) as u64
    }

    /// The low 64 bits (`x-datadog-trace-id` in propagation headers).
    pub fn low(self) -> u64 {
        self.0 as u64
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({})", self.0)
    }
}
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}
impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

static SEED_COUNTER: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

#[cold]
fn seed_cold() -> u64 {
    seed()
}

/// The splitmix64 finaliser: a bijection of `u64` that spreads every input bit over the output.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let local = 0u8;
    let addr = &local as *const u8 as u64;
    let counter = SEED_COUNTER.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    let z = nanos ^ addr.rotate_left(32) ^ counter ^ u64::from(std::process::id());
    mix(z) | 1
}

/// wyrand: a fast, well-distributed 64-bit generator; its state is per thread.
#[inline]
fn next_random() -> u64 {
    STATE
        .try_with(|cell| {
            let mut s = cell.get();
            if s == 0 {
                s = seed_cold();
            }
            s = s.wrapping_add(0xa076_1d64_78bd_642f);
            cell.set(s);
            let t = u128::from(s).wrapping_mul(u128::from(s ^ 0xe703_7ed1_a0b4_28db));
            ((t >> 64) as u64) ^ (t as u64)
        })
        .unwrap_or_else(|_| seed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_layout_matches_reference() {
        let id = TraceId::generate();
        let secs = crate::clock::unix_seconds();
        let upper = (id.0 >> 96) as u64;
        assert!(upper.abs_diff(secs) <= 1, "upper 32 bits are unix seconds");
        assert_eq!((id.0 >> 64) as u32, 0, "bits 64..96 are zero");
        assert_eq!(id.to_string().len(), 32);
    }

    #[test]
    fn span_ids_are_distinct_and_nonzero() {
        let ids: std::collections::HashSet<u64> =
            (0..10_000).map(|_| SpanId::generate().0).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&0));
    }

    #[test]
    fn threads_get_different_sequences() {
        let a = std::thread::spawn(|| SpanId::generate().0).join().unwrap();
        let b = std::thread::spawn(|| SpanId::generate().0).join().unwrap();
        assert_ne!(a, b);
    }
}
