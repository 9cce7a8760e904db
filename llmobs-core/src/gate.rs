//! The on/off switch every attribute checks first: one relaxed atomic load.
//!
//! Bit 0 says LLM Observability is enabled; the bits above count live test captures
//! ([`crate::testing::Capture`]), so instrumented code records spans inside a capture even when
//! the SDK was never initialised, without turning it on for anything else.

use std::sync::atomic::{AtomicU32, Ordering};

static GATE: AtomicU32 = AtomicU32::new(0);
const ENABLED: u32 = 1;
const CAPTURE: u32 = 2;

/// Whether any span could be recorded now. This is the whole cost of an attribute when the SDK
/// is disabled.
#[inline(always)]
pub fn is_open() -> bool {
    GATE.load(Ordering::Relaxed) != 0
}

/// Whether LLM Observability is enabled (spans are exported).
#[inline]
pub fn is_enabled() -> bool {
    GATE.load(Ordering::Relaxed) & ENABLED != 0
}

/// Turns span recording on or off for the whole process. Called by `init()` and by the
/// exporter's shutdown.
pub(crate) fn set_enabled(on: bool) {
    if on {
        GATE.fetch_or(ENABLED, Ordering::Relaxed);
    } else {
        GATE.fetch_and(!ENABLED, Ordering::Relaxed);
    }
}

pub(crate) fn capture_started() {
    GATE.fetch_add(CAPTURE, Ordering::Relaxed);
}

pub(crate) fn capture_ended() {
    GATE.fetch_sub(CAPTURE, Ordering::Relaxed);
}
