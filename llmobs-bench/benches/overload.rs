//! Memory under overload: two producer threads make spans far faster than a deliberately slow
//! intake accepts them, for a fixed time, and the process's peak RSS is compared with the
//! exporter's configured queue bound. The point is that memory stays bounded and the losses
//! are counted, not that any span gets through.
//!
//! ```text
//! OVERLOAD_SECONDS=10 cargo bench -p llmobs-bench --bench overload   # 10 s by default
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmobs_bench::intake::Intake;
use llmobs_bench::{peak_rss_bytes, results, rss_bytes, workload as w};

/// The intake sleeps this long per request, so delivery is orders of magnitude slower than
/// the producers.
const INTAKE_DELAY: Duration = Duration::from_millis(200);
const PRODUCERS: usize = 2;
const QUEUE_MAX_SPANS: usize = 100_000;
const QUEUE_MAX_BYTES: usize = 256 * 1024 * 1024;
const CHILDREN: usize = 100;

fn main() {
    if !llmobs_bench::selected("overload") {
        return;
    }
    let seconds: f64 = match std::env::var("OVERLOAD_SECONDS") {
        Err(_) => 10.0,
        Ok(s) => match s.parse() {
            Ok(v) if v > 0.0 && v <= 600.0 => v,
            _ => {
                eprintln!("overload: OVERLOAD_SECONDS must be a number of seconds, at most 600");
                std::process::exit(2);
            }
        },
    };
    let intake = Intake::discarding(INTAKE_DELAY);
    let rss_before = rss_bytes().unwrap_or(0);
    let guard = llmobs::Config::default()
        .mode(llmobs::Mode::Agent)
        .agent_url(intake.url())
        .ml_app("llmobs-bench")
        .queue_max_spans(QUEUE_MAX_SPANS)
        .queue_max_bytes(QUEUE_MAX_BYTES)
        .flush_timeout(Duration::from_secs(2))
        .init()
        .unwrap_or_else(|e| {
            eprintln!("overload: could not start the exporter: {e}");
            std::process::exit(1);
        });

    let stop = Arc::new(AtomicBool::new(false));
    let peak_sampled = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak_sampled.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes().unwrap_or(0), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut roots = 0u64;
                while Instant::now() < deadline {
                    // Checking the clock once per 16 roots keeps it out of the per-span cost.
                    for _ in 0..16 {
                        w::llmobs_root::<CHILDREN>();
                    }
                    roots += 16;
                }
                (roots * (CHILDREN as u64 + 1), started.elapsed())
            })
        })
        .collect();
    let mut produced = 0u64;
    let mut busy = Duration::ZERO;
    for p in producers {
        let (spans, elapsed) = p.join().expect("a producer panicked");
        produced += spans;
        busy += elapsed;
    }
    // Read while the exporter is still installed: afterwards the global counters are gone.
    let stats = llmobs::stats();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let peak = peak_rss_bytes()
        .unwrap_or(0)
        .max(peak_sampled.load(Ordering::Relaxed));
    drop(guard);

    let ns_per_span = busy.as_nanos() as f64 / produced.max(1) as f64;
    let dropped = stats.spans_dropped.queue_full;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("overload: {seconds} s, {PRODUCERS} producers, root + {CHILDREN} children, intake sleeping {INTAKE_DELAY:?} per request");
    println!("  producer cost        {ns_per_span:.0} ns/span");
    println!("  spans produced       {produced}");
    println!(
        "  spans delivered      {} ({}x fewer than produced)",
        stats.spans_delivered,
        produced / stats.spans_delivered.max(1)
    );
    println!(
        "  spans dropped        {dropped} (queue full), {} in total",
        stats.spans_dropped.total()
    );
    println!(
        "  peak RSS             {:.1} MiB (before start {:.1} MiB; queue bound {QUEUE_MAX_SPANS} spans / {:.0} MiB)",
        mib(peak),
        mib(rss_before),
        mib(QUEUE_MAX_BYTES as u64)
    );
    results::record("overload_seconds", seconds);
    results::record("overload_ns_per_span", ns_per_span);
    results::record("overload_produced", produced as f64);
    results::record("overload_delivered", stats.spans_delivered as f64);
    results::record("overload_dropped", dropped as f64);
    results::record("overload_peak_rss_bytes", peak as f64);
    results::record("overload_rss_before_bytes", rss_before as f64);
    results::record("overload_queue_max_spans", QUEUE_MAX_SPANS as f64);
    results::record("overload_queue_max_bytes", QUEUE_MAX_BYTES as f64);
}
