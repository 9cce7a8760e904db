//! Benchmarks of `llmobs` side by side with `tracing`, `fastrace` and the OpenTelemetry SDK.
//!
//! This crate is a `publish = false` member of the workspace so that the peers it compares
//! against stay out of the dependency graph of `llmobs` and of its tests. It holds:
//!
//! - the same workload written once per tracer ([`workload`]), so every row of the comparison
//!   runs identical code apart from the instrumentation;
//! - the peers set up as their users would ([`peers`]), reporting to sinks that discard;
//! - a sink that encodes `llmobs` spans off the application thread and discards them
//!   ([`discard`]), and a loopback intake that stands in for the Datadog Agent ([`intake`]);
//! - where results are kept and how the summary table is built ([`results`]);
//! - threads' CPU time, read from `/proc` ([`thread_cpu`]);
//! - local-mode payload files of any size, for the trace viewer ([`local_payloads`]);
//! - the RAG request of the delivered-span benchmark ([`rag`]).
//!
//! ```text
//! cargo bench                         # everything, ending with one markdown table
//! bash llmobs-bench/run.sh            # the same, from a clean slate, with the date
//! cargo bench -- span_root_100        # one group (criterion filters)
//! ```

#![deny(missing_docs)]

pub mod discard;
pub mod intake;
pub mod local_payloads;
pub mod peers;
pub mod rag;
pub mod results;
pub mod thread_cpu;
pub mod workload;

/// The criterion settings every bench uses: short enough that `run.sh` finishes in about
/// 5 minutes on a 2-core machine once built, long enough that the medians of a shared machine
/// settle, with results kept where [`results`] reads them.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(50)
        .nresamples(10_000)
        .without_plots()
        .output_directory(&results::criterion_dir())
        .configure_from_args()
}

/// Spans per timed burst in the `_drained` variants: well under every queue bound, so a
/// consumer drained between bursts never drops.
pub const BURST_SPANS: usize = 2_000;

/// Times `f` in bursts and lets the consumer drain, untimed, after each: the cost while the
/// consumer keeps up, which a continuous loop faster than any consumer cannot show.
pub fn drained(b: &mut criterion::Bencher, f: impl Fn(), spans_per_call: usize, drain: &dyn Fn()) {
    let burst = (BURST_SPANS / spans_per_call).max(1) as u64;
    b.iter_custom(|iters| {
        let mut total = std::time::Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(burst);
            let start = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            total += start.elapsed();
            drain();
            left -= n;
        }
        total
    })
}

/// Whether a bench that is not a criterion bench should run: `cargo bench -- FILTER` passes the
/// filter to every bench, and one whose name does not contain it stays out of the way.
pub fn selected(name: &str) -> bool {
    let mut filters = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    filters.all(|f| name.contains(f.as_str()))
}

/// The process's peak resident set size in bytes (`VmHWM`), or `None` off Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kb("VmHWM:").map(|kb| kb * 1024)
}

/// The process's current resident set size in bytes (`VmRSS`), or `None` off Linux.
pub fn rss_bytes() -> Option<u64> {
    proc_status_kb("VmRSS:").map(|kb| kb * 1024)
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
