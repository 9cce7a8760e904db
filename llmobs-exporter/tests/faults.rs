//! The fault suite: what the exporter promises when the intake misbehaves or the application
//! does, each test asserting one figure. Durations are scaled down from the promises in
//! `docs/guarantees.md` (a 2 s outage on a 100 ms tick proves what a 10 s outage on a 1 s tick
//! does); faults already covered by `e2e.rs` are referenced from there instead of repeated.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{capture_logs, captured_logs, closed_port_url, span, Intake, Reply};
use llmobs_core::{SpanIo, SpanKind};
use llmobs_exporter::{Config, Exporter, Mode};
use serde_json::json;

/// Tests that install the exporter as the core's process-wide sink take turns.
static GLOBAL_SINK: Mutex<()> = Mutex::new(());

fn config(url: &str) -> Config {
    Config::default()
        .ml_app("fault-app")
        .agent_url(url)
        .mode(Mode::Agent)
        .interval(Duration::from_millis(100))
        .request_timeout(Duration::from_secs(2))
        .initial_backoff(Duration::from_millis(10))
        .flush_timeout(Duration::from_secs(10))
}

fn task(name: &str, input_bytes: usize) -> llmobs_core::SpanEvent {
    let mut s = span(SpanKind::Task, name);
    if input_bytes > 0 {
        s.annotations_mut().input = Some(SpanIo::Value(json!("x".repeat(input_bytes))));
    }
    s
}

/// Waits (at most 5 s) until the counters account for `n` spans: a worker that shutdown stopped
/// waiting for still settles what it held once its request returns.
fn accounted(exporter: &Exporter, n: u64) -> llmobs_exporter::Stats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = exporter.stats();
        if s.spans_delivered + s.spans_dropped.total() >= n || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// 10 s of 500/503 on a 1 s tick, scaled to 2 s on a 100 ms tick: everything produced during
/// the outage fits the retry buffer and window, so all of it is delivered afterwards.
#[test]
fn outage_2s_of_500_and_503_then_200_delivers_every_span_produced_during_it() {
    let intake = Intake::start();
    intake.outage_for(Duration::from_secs(2));
    let exporter = Exporter::start(config(&intake.url())).expect("start");
    let started = Instant::now();
    let mut produced = 0u64;
    while started.elapsed() < Duration::from_millis(2_200) {
        exporter.send_spans(vec![task(&format!("t{produced}"), 100)]);
        produced += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = exporter.flush(Duration::from_secs(20));
    assert!(!report.timed_out, "{report:?}");
    let stats = exporter.stats();
    assert_eq!(stats.spans_delivered, produced, "{stats:?}");
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    let failed = intake
        .posts()
        .iter()
        .filter(|r| matches!(r.status, Some(500 | 503)))
        .count();
    assert!(failed >= 2, "the outage was real: {failed} failed requests");
    assert_eq!(intake.span_events().len() as u64, produced);
}

/// While every request stalls, 1,000 instrumented calls finish long before the stall would
/// end, the worker gives up on each request at its timeout, and flush and shutdown return at
/// theirs.
#[test]
fn a_stalled_intake_blocks_neither_instrumented_calls_nor_flush_nor_shutdown() {
    let _one = GLOBAL_SINK.lock().unwrap_or_else(|p| p.into_inner());
    let intake = Intake::start();
    let stall = Duration::from_secs(30);
    intake.stall_all(Some(stall));
    let exporter = Arc::new(
        Exporter::start(
            config(&intake.url())
                .request_timeout(Duration::from_millis(300))
                .max_attempts(1),
        )
        .expect("start"),
    );
    llmobs_core::set_sink(Some(exporter.clone()));
    llmobs_core::set_enabled(true);
    // Let the worker get stuck on a request first.
    exporter.send_spans(vec![task("first", 0)]);
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    for i in 0..1_000u64 {
        let root = llmobs_core::workflow("handle").start();
        llmobs_core::annotate()
            .input(&format!("request {i}"))
            .apply()
            .expect("annotate");
        llmobs_core::task("step").start().finish();
        root.finish();
    }
    let calls = started.elapsed();
    assert!(calls < stall / 3, "1,000 calls took {calls:?}");

    let flush_started = Instant::now();
    let report = exporter.flush(Duration::from_millis(500));
    let flush_took = flush_started.elapsed();
    assert!(report.timed_out, "{report:?}");
    assert!(
        flush_took < Duration::from_secs(3),
        "flush took {flush_took:?}"
    );
    assert!(exporter.stats().requests >= 1);

    llmobs_core::set_sink(None);
    let shutdown_started = Instant::now();
    exporter.shutdown(Duration::from_millis(300));
    let shutdown_took = shutdown_started.elapsed();
    assert!(
        shutdown_took < Duration::from_secs(3),
        "shutdown took {shutdown_took:?}"
    );
    let stats = accounted(&exporter, 1 + 2 * 1_000);
    assert_eq!(stats.spans_delivered, 0, "{stats:?}");
    assert_eq!(
        stats.spans_enqueued + stats.spans_dropped.queue_full,
        1 + 2 * 1_000,
        "every span was handed over and accounted for: {stats:?}"
    );
    assert_eq!(
        stats.spans_dropped.total(),
        1 + 2 * 1_000,
        "all dropped and counted: {stats:?}"
    );
}

/// A refused connection is retried `max_attempts` times per send, kept for the retry window,
/// then dropped and counted as `retries_exhausted`; nothing waits longer than that.
#[test]
fn connection_refused_is_retried_then_dropped_after_the_retry_window() {
    let exporter = Exporter::start(
        config(&closed_port_url())
            .max_attempts(3)
            .retry_window(Duration::from_millis(400)),
    )
    .expect("start");
    exporter.send_spans(vec![task("a", 0), task("b", 0)]);
    let report = exporter.flush(Duration::from_secs(10));
    assert!(!report.timed_out, "{report:?}");
    assert_eq!((report.delivered, report.dropped), (0, 2));
    let stats = exporter.stats();
    assert_eq!(stats.spans_dropped.retries_exhausted, 2, "{stats:?}");
    assert!(stats.requests >= 3 && stats.retries >= 2, "{stats:?}");
}

/// A reset while a 2 MB body is still being uploaded is retried, and the retry delivers
/// every span of that body.
#[test]
fn connection_reset_mid_upload_is_retried_and_delivers_everything() {
    let intake = Intake::start();
    intake.script([Reply::ResetMidBody]);
    let exporter =
        Exporter::start(config(&intake.url()).interval(Duration::from_secs(3600))).expect("start");
    exporter.send_spans((0..200).map(|i| task(&format!("t{i}"), 10_000)).collect());
    let report = exporter.flush(Duration::from_secs(20));
    assert_eq!((report.delivered, report.dropped), (200, 0), "{report:?}");
    let stats = exporter.stats();
    assert_eq!(stats.retries, 1, "{stats:?}");
    let posts = intake.posts();
    assert!(posts[0].status.is_none() && posts[0].body.is_empty());
    assert!(posts[1].body.len() > 2_000_000);
}

/// 413 is a client error: one request, no retry, the batch dropped as `payload_rejected`.
#[test]
fn payload_too_large_is_not_retried_and_is_counted() {
    let intake = Intake::start();
    intake.script([Reply::Status(413)]);
    let exporter =
        Exporter::start(config(&intake.url()).interval(Duration::from_secs(3600))).expect("start");
    exporter.send_spans(vec![task("a", 0), task("b", 0), task("c", 0)]);
    let report = exporter.flush(Duration::from_secs(10));
    assert_eq!((report.delivered, report.dropped), (0, 3));
    assert_eq!(intake.posts().len(), 1);
    assert_eq!(exporter.stats().spans_dropped.payload_rejected, 3);
    assert_eq!(exporter.stats().retries, 0);
}

/// The wait a 429 asks for is honoured (1 s here), and a longer one is capped by
/// `retry_after_cap` (an hour becomes 200 ms), so a server cannot park the worker.
#[test]
fn retry_after_is_honoured_up_to_its_cap() {
    let intake = Intake::start();
    intake.script([Reply::RetryAfter(429, "1"), Reply::RetryAfter(429, "3600")]);
    let exporter = Exporter::start(
        config(&intake.url())
            .interval(Duration::from_secs(3600))
            .retry_after_cap(Duration::from_millis(1_200)),
    )
    .expect("start");
    exporter.send_spans(vec![task("t", 0)]);
    let report = exporter.flush(Duration::from_secs(10));
    assert_eq!((report.delivered, report.timed_out), (1, false));
    let posts = intake.posts();
    assert_eq!(posts.len(), 3);
    let first_wait = posts[1].at - posts[0].at;
    let second_wait = posts[2].at - posts[1].at;
    assert!(first_wait >= Duration::from_millis(900), "{first_wait:?}");
    assert!(
        second_wait >= Duration::from_millis(1_100),
        "{second_wait:?}"
    );
    assert!(
        second_wait < Duration::from_secs(5),
        "capped: {second_wait:?}"
    );
}

/// A 400 is not retried, and its body (what the intake says is wrong) is logged once.
#[test]
fn bad_request_logs_the_intake_answer_once() {
    capture_logs();
    let intake = Intake::start();
    intake.script([Reply::Status(400)]);
    let exporter =
        Exporter::start(config(&intake.url()).interval(Duration::from_secs(3600))).expect("start");
    exporter.send_spans(vec![task("t", 0)]);
    assert_eq!(exporter.flush(Duration::from_secs(10)).dropped, 1);
    let lines: Vec<String> = captured_logs()
        .into_iter()
        .filter(|l| l.contains("rejected: test intake says no"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("400"), "{lines:?}");
}

/// Four producers far faster than a stalled intake: what the exporter holds never exceeds
/// the queue bound plus the retry buffer plus the batch in flight, every span handed over is
/// delivered or dropped with a reason, and nothing panics.
#[test]
fn overload_stays_within_the_configured_bound_and_counts_drops_by_reason() {
    let intake = Intake::start();
    intake.stall_all(Some(Duration::from_secs(30)));
    let (queue_max, retry_buffer, payload) = (500usize, 64 << 10, 16 << 10);
    let exporter = Arc::new(
        Exporter::start(
            config(&intake.url())
                .interval(Duration::from_millis(20))
                .request_timeout(Duration::from_millis(100))
                .max_attempts(1)
                .queue_max_spans(queue_max)
                .retry_buffer_bytes(retry_buffer)
                .payload_size_bytes(payload),
        )
        .expect("start"),
    );
    // Each event is over 1 KiB, so a byte budget of n KiB holds at most n spans.
    let held_bound = (queue_max + retry_buffer / 1024 + 2 * payload / 1024) as u64;
    let stop = Arc::new(AtomicBool::new(false));
    let handed = Arc::new(AtomicU64::new(0));
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let (e, stop, handed) = (exporter.clone(), stop.clone(), handed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    e.send_spans(vec![task("p", 1_024)]);
                    handed.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut max_held = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1_500) {
        let s = exporter.stats();
        let settled_after_queue =
            s.spans_delivered + s.spans_dropped.total() - s.spans_dropped.queue_full;
        max_held = max_held.max(s.spans_enqueued.saturating_sub(settled_after_queue));
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.join().expect("no producer panicked");
    }
    assert!(
        max_held <= held_bound,
        "held {max_held} spans, bound {held_bound}"
    );
    exporter.shutdown(Duration::from_millis(200));
    let handed = handed.load(Ordering::Relaxed);
    let s = accounted(&exporter, handed);
    assert!(
        handed > 10 * held_bound,
        "producers were far faster: {handed}"
    );
    assert!(s.spans_dropped.queue_full > 0, "{s:?}");
    assert!(
        s.spans_dropped.buffer_full + s.spans_dropped.retries_exhausted > 0,
        "{s:?}"
    );
    assert_eq!(s.spans_delivered + s.spans_dropped.total(), handed, "{s:?}");
}

/// Shutdown with the intake up delivers all 1,000 queued spans, over several requests.
#[test]
fn shutdown_delivers_everything_queued_when_the_intake_is_up() {
    let intake = Intake::start();
    let exporter = Exporter::start(
        config(&intake.url())
            .interval(Duration::from_secs(3600))
            .payload_size_bytes(64 << 10),
    )
    .expect("start");
    for i in 0..1_000 {
        exporter.send_spans(vec![task(&format!("t{i}"), 200)]);
    }
    let report = exporter.shutdown(Duration::from_secs(20));
    assert_eq!((report.delivered, report.timed_out), (1_000, false));
    assert_eq!(intake.span_events().len(), 1_000);
    assert!(intake.posts().len() > 1);
}

/// Shutdown with the intake stalled (and a 20 s request timeout) returns at its own timeout
/// (500 ms, asserted under 3 s) and counts what it could not deliver as `shutdown` at once.
#[test]
fn shutdown_gives_up_at_its_timeout_when_the_intake_is_down() {
    let intake = Intake::start();
    intake.stall_all(Some(Duration::from_secs(30)));
    let exporter = Exporter::start(
        config(&intake.url())
            .interval(Duration::from_secs(3600))
            .request_timeout(Duration::from_secs(20))
            .flush_timeout(Duration::from_millis(500)),
    )
    .expect("start");
    exporter.send_spans((0..10).map(|i| task(&format!("t{i}"), 0)).collect());
    // Dropping the exporter (or the guard) runs this with the flush timeout.
    let started = Instant::now();
    let report = exporter.shutdown(Duration::from_millis(500));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert_eq!((report.pending, report.timed_out), (10, true), "{report:?}");
    let stats = exporter.stats();
    assert_eq!(stats.spans_dropped.shutdown, 10, "{stats:?}");
    let started = Instant::now();
    drop(exporter);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "already stopped"
    );
}

/// A panic in instrumented code, in a captured value's `Debug`, or in a processor: the span is
/// still recorded (marked as an error) or cleanly skipped, and the worker keeps delivering.
#[test]
fn panics_in_user_code_leave_the_worker_running() {
    let _one = GLOBAL_SINK.lock().unwrap_or_else(|p| p.into_inner());
    let intake = Intake::start();
    let exporter = Arc::new(
        Exporter::start(
            config(&intake.url())
                .interval(Duration::from_secs(3600))
                .processor(|s| {
                    if s.name.as_str() == "processor-bomb" {
                        panic!("processor bug");
                    }
                    llmobs_exporter::Keep::Yes
                }),
        )
        .expect("start"),
    );
    llmobs_core::set_sink(Some(exporter.clone()));
    llmobs_core::set_enabled(true);
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    let body = std::panic::catch_unwind(|| {
        let _s = llmobs_core::task("body-panics").start();
        panic!("user bug");
    });
    assert!(body.is_err());
    llmobs_core::task("processor-bomb").start().finish();
    struct BadSerialize;
    impl serde::Serialize for BadSerialize {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("serialize bug")
        }
    }
    {
        let _s = llmobs_core::task("bad-value").start();
        // A panicking `Serialize` is an annotation error, not a crash.
        let r = std::panic::catch_unwind(|| llmobs_core::annotate().input(&BadSerialize).apply());
        assert!(r.is_ok(), "annotate caught the panic itself");
    }
    std::panic::set_hook(quiet);
    llmobs_core::set_sink(None);

    let report = exporter.flush(Duration::from_secs(10));
    assert_eq!((report.delivered, report.dropped), (2, 1), "{report:?}");
    exporter.send_spans(vec![task("after", 0)]);
    assert_eq!(exporter.flush(Duration::from_secs(10)).delivered, 1);
    let events = intake.span_events();
    let by_name = |n: &str| events.iter().find(|e| e["name"] == n).cloned();
    let panicked = by_name("body-panics").expect("recorded");
    assert_eq!(panicked["status"], "error");
    assert_eq!(panicked["meta"]["error"]["type"], "panic");
    assert!(by_name("bad-value").is_some());
    assert!(by_name("processor-bomb").is_none());
    assert_eq!(exporter.stats().spans_dropped.processor_dropped, 1);
}
