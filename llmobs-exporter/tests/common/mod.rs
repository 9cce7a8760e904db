//! What the exporter's tests share: the loopback intake (the benches' too), spans with fresh
//! ids, temp files, a closed port, and a logger that records.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[allow(unused_imports)] // not every test binary uses every one
pub use llmobs_bench::intake::{Intake, Reply, Request};
use llmobs_core::{SpanEvent, SpanId, SpanKind, TraceId};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A finished span with fresh ids.
pub fn span(kind: SpanKind, name: &str) -> SpanEvent {
    let mut s = SpanEvent::new(
        kind,
        name.to_owned(),
        TraceId::generate(),
        SpanId::generate(),
    );
    s.start_ns = llmobs_core::now_epoch_ns();
    s.duration_ns = 1_000;
    s
}

/// A path in the temp dir unique to this process and call.
pub fn temp_file(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("llmobs-test-{}-{n}-{name}", std::process::id()))
}

/// A loopback port nothing listens on: connecting to it is refused.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Every log line of any level, from the first call of [`capture_logs`] on.
pub fn captured_logs() -> Vec<String> {
    lock(&LOGS).clone()
}

static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        lock(&LOGS).push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

/// Records every log line at every level for this test binary.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = log::set_logger(&Recorder);
        log::set_max_level(log::LevelFilter::Trace);
    });
}
