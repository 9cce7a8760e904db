//! The trace viewer at scale: a payload file of 10,000 traces and 100,000 spans, the time
//! `write_viewer` takes to make its page and the page's size, and, when Chromium and the
//! Playwright virtualenv of `tests/viewer.rs` are there (`cargo test --test viewer` makes it),
//! the time from opening the page to its first paint of the trace list and tree.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use llmobs_bench::{local_payloads, results};

const TRACES: usize = 10_000;
const SPANS_PER_TRACE: u64 = 10;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "viewer".contains(a.as_str())) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("llmobs-viewer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let payloads = dir.join("big.jsonl");
    local_payloads::write_big(&payloads, TRACES, SPANS_PER_TRACE).expect("write the payloads");
    let page = dir.join("big.html");
    let mut best = f64::MAX;
    let mut bytes = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let r = llmobs::write_viewer(&[&payloads], &page).expect("write the viewer");
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        bytes = r.bytes;
    }
    results::record("viewer_write_ms", best);
    results::record("viewer_bytes", bytes as f64);
    eprintln!(
        "viewer: {TRACES} traces / {} spans: page of {:.1} MiB written in {best:.0} ms",
        TRACES as u64 * SPANS_PER_TRACE,
        bytes as f64 / (1 << 20) as f64
    );
    let python = root.join("target/tmp/playwright-venv/bin/python");
    if python.exists() && Path::new("/usr/bin/chromium").exists() {
        let mut times = Vec::new();
        for _ in 0..3 {
            let out = Command::new(&python)
                .arg(root.join("tests/viewer/browser.py"))
                .args(["scale"])
                .arg(&page)
                .arg(root.join("target/viewer-screens"))
                .output()
                .expect("python runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let ms = serde_json::from_str::<serde_json::Value>(text.lines().last().unwrap_or(""))
                .ok()
                .and_then(|v| v["first_paint_ms"].as_f64());
            match ms {
                Some(ms) if out.status.success() => times.push(ms),
                _ => eprintln!(
                    "viewer: the browser check failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            }
        }
        times.sort_by(f64::total_cmp);
        if let Some(median) = times.get(times.len() / 2) {
            results::record("viewer_first_paint_ms", *median);
            eprintln!(
                "viewer: ready in Chromium in {median:.0} ms (median of {})",
                times.len()
            );
        }
    } else {
        eprintln!("viewer: no Chromium or Playwright here (run `cargo test --test viewer` first): time to first paint not measured");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
