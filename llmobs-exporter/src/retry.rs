//! Which failures are worth another attempt, and how long to wait before it.
//!
//! As in the reference: 408, 429, 5xx and connection errors are retried, other 4xx are not
//! (the same body would be refused again). Waits grow exponentially with random jitter so that
//! many processes recovering from the same outage do not retry in lockstep.

use std::time::Duration;

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    /// Try again.
    Retry,
    /// Give up on this body.
    Reject,
}

pub(crate) fn classify_status(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Reject,
    }
}

/// `Retry-After` in seconds, capped so a misbehaving server cannot park the exporter. HTTP
/// dates are not honoured: the exponential backoff applies instead.
pub(crate) fn parse_retry_after(value: &str, cap: Duration) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    let d = Duration::try_from_secs_f64(secs).ok()?;
    Some(d.min(cap))
}

/// The wait before attempt `attempt + 1` (`attempt` counts from 0): `initial * 2^attempt`,
/// jittered to between half and all of it.
pub(crate) fn backoff(initial: Duration, attempt: u32) -> Duration {
    let full = initial.saturating_mul(1u32 << attempt.min(16));
    let r = llmobs_core::SpanId::generate().0;
    let fraction = 0.5 + (r % 1000) as f64 / 2000.0;
    full.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify_status(200), Verdict::Delivered);
        assert_eq!(classify_status(202), Verdict::Delivered);
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify_status(s), Verdict::Retry, "{s}");
        }
        for s in [400, 401, 403, 404, 413, 301] {
            assert_eq!(classify_status(s), Verdict::Reject, "{s}");
        }
    }

    #[test]
    fn retry_after_is_capped() {
        let cap = Duration::from_secs(10);
        assert_eq!(parse_retry_after("2", cap), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("3600", cap), Some(cap));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", cap),
            None
        );
        assert_eq!(parse_retry_after("-1", cap), None);
    }

    #[test]
    fn backoff_grows_and_stays_within_jitter_bounds() {
        let initial = Duration::from_millis(100);
        for attempt in 0..4 {
            let full = initial * (1 << attempt);
            let d = backoff(initial, attempt);
            assert!(d >= full / 2 && d <= full, "{d:?} for {attempt}");
        }
    }
}
