//! Where results are kept and how they become one markdown table.
//!
//! Criterion keeps its estimates under [`criterion_dir`]; the measurements criterion does not
//! make (throughput derivations, bytes per span, overload memory, compile times) are one number
//! per file under [`metrics_dir`], so a shell script can write them as easily as a bench.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Spans per iteration of the `span_root_1` and `span_root_100` groups, by group.
pub const SPAN_GROUPS: [(&str, &str, f64); 2] = [
    ("span_root_1", "root + 1 child", 2.0),
    ("span_root_100", "root + 100 children", 101.0),
];

/// Criterion's output directory: `$CRITERION_HOME`, else `criterion/` in the target directory.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    target.join("criterion")
}

/// The directory of the numbers criterion does not produce, one file per number.
pub fn metrics_dir() -> PathBuf {
    criterion_dir().join("llmobs-metrics")
}

/// Keeps one number for the report. Failing to write only loses that number, never the bench.
pub fn record(name: &str, value: f64) {
    let dir = metrics_dir();
    let _ = std::fs::create_dir_all(&dir);
    if let Err(e) = std::fs::write(dir.join(name), format!("{value}\n")) {
        eprintln!("llmobs-bench: could not record {name}: {e}");
    }
}

/// A number kept with [`record`] (or by a script), if present.
pub fn metric(name: &str) -> Option<f64> {
    std::fs::read_to_string(metrics_dir().join(name))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Criterion's median time per iteration of `group/function`, in nanoseconds.
pub fn median_ns(group: &str, function: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// The columns of the comparison, as criterion function ids of the span groups.
const PEERS: [(&str, &str); 3] = [
    ("tracing", "tracing"),
    ("fastrace", "fastrace"),
    ("opentelemetry", "OpenTelemetry SDK"),
];

fn cell(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "—".to_owned(),
    }
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".to_owned(),
    }
}

fn count(v: Option<f64>) -> String {
    match v {
        Some(v) => {
            let s = format!("{:.0}", v);
            let mut out = String::new();
            for (i, ch) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 && ch != '-' {
                    out.push(',');
                }
                out.push(ch);
            }
            out
        }
        None => "—".to_owned(),
    }
}

struct Row {
    what: String,
    unit: &'static str,
    llmobs: String,
    plain: String,
    peers: [String; 3],
    ratios: [String; 3],
}

impl Row {
    fn new(what: impl Into<String>, unit: &'static str) -> Row {
        let dash = || "—".to_owned();
        Row {
            what: what.into(),
            unit,
            llmobs: dash(),
            plain: dash(),
            peers: [dash(), dash(), dash()],
            ratios: [dash(), dash(), dash()],
        }
    }
}

fn per_span(group: &str, function: &str, spans: f64) -> Option<f64> {
    median_ns(group, function).map(|t| t / spans)
}

/// The side-by-side rows of the empty-span comparison: llmobs with each consumer, vs the
/// uninstrumented call and each peer, in ns per span.
fn span_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (regime, suffix) in [
        ("sustained", ""),
        ("consumer drained between bursts", "_drained"),
    ] {
        for (group, label, spans) in SPAN_GROUPS {
            let plain = per_span(group, "uninstrumented", spans);
            // tracing's no-op layer has no consumer to drain: the same number serves both.
            let peers = PEERS.map(|(id, _)| {
                let id = if id == "tracing" {
                    id.to_owned()
                } else {
                    format!("{id}{suffix}")
                };
                per_span(group, &id, spans)
            });
            for (id, consumer) in [
                ("llmobs_sink", "encode-and-discard sink"),
                ("llmobs_agent", "agent mode → loopback intake"),
            ] {
                let ours = per_span(group, &format!("{id}{suffix}"), spans);
                let mut row = Row::new(
                    format!("`#[task]` empty span, {label}, {consumer}, {regime}"),
                    "ns/span",
                );
                row.llmobs = cell(ours);
                row.plain = cell(plain);
                row.peers = peers.map(cell);
                row.ratios = peers.map(|p| ratio(ours, p));
                rows.push(row);
            }
        }
    }
    rows
}

fn other_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = Row::new(
        "disabled: `#[task] fn(u64) -> u64`, never initialised",
        "ns/call",
    );
    row.llmobs = cell(median_ns("disabled_call", "llmobs_disabled"));
    row.plain = cell(median_ns("disabled_call", "uninstrumented"));
    rows.push(row);
    let mut row = Row::new(
        "disabled: root + 100 children, never initialised",
        "ns/span",
    );
    row.llmobs = cell(per_span("span_root_100", "llmobs_disabled", 101.0));
    row.plain = cell(per_span("span_root_100", "uninstrumented", 101.0));
    rows.push(row);
    for (id, label) in [
        ("llm_span", "`#[llm]` span, no annotation, sustained"),
        (
            "llm_annotate",
            "`#[llm]` span + annotate (2 messages, 3 token metrics), sustained",
        ),
        (
            "llm_span_drained",
            "`#[llm]` span, no annotation, consumer drained between bursts",
        ),
        (
            "llm_annotate_drained",
            "`#[llm]` span + annotate (2 messages, 3 token metrics), consumer drained between bursts",
        ),
        (
            "llm_annotate_agent",
            "`#[llm]` span + annotate, agent mode → loopback intake, sustained",
        ),
        (
            "llm_annotate_agent_drained",
            "`#[llm]` span + annotate, agent mode → loopback intake, consumer drained between bursts",
        ),
    ] {
        let mut row = Row::new(label, "ns/span");
        row.llmobs = cell(median_ns("llm_annotate", id));
        row.plain = cell(median_ns("llm_annotate", "uninstrumented"));
        rows.push(row);
    }
    for (id, label) in [
        (
            "uncaptured",
            "`#[task]` with a small struct argument, capture off",
        ),
        (
            "captured",
            "`#[task]` with a small struct argument, captured, sustained",
        ),
        (
            "captured_drained",
            "`#[task]` with a small struct argument, captured, consumer drained between bursts",
        ),
    ] {
        let mut row = Row::new(label, "ns/span");
        row.llmobs = cell(median_ns("capture", id));
        row.plain = cell(median_ns("capture", "uninstrumented"));
        rows.push(row);
    }
    let spans = metric("exporter_spans_per_iter");
    let rate = |id: &str| -> Option<f64> {
        let t = median_ns("exporter", id)?;
        Some(spans? / (t * 1e-9))
    };
    let mut row = Row::new(
        "`tracing` bridge on ordinary spans: `#[instrument]` root + 1 child without GenAI fields, \
         registry + no-op layer, with `llmobs::tracing::layer()` (llmobs column) and without \
         (tracing column)",
        "ns/span",
    );
    let (with, without) = (
        per_span("tracing_layer", "with_layer", 2.0),
        per_span("tracing_layer", "without_layer", 2.0),
    );
    row.llmobs = cell(with);
    row.peers[0] = cell(without);
    row.ratios[0] = ratio(with, without);
    rows.push(row);
    let mut row = Row::new("exporter: encode only (one thread)", "spans/s");
    row.llmobs = count(rate("encode"));
    rows.push(row);
    let mut row = Row::new(
        "exporter: encode + deliver to loopback intake (agent mode)",
        "spans/s",
    );
    row.llmobs = count(rate("deliver_agent"));
    rows.push(row);
    let mut row = Row::new(
        "exporter: worker thread CPU time per delivered span",
        "ns/span",
    );
    row.llmobs = cell(metric("exporter_worker_cpu_ns_per_span"));
    rows.push(row);
    let mut row = Row::new("exporter: request body bytes per span", "bytes");
    row.llmobs = cell(metric("exporter_bytes_per_span"));
    rows.push(row);
    for (id, label) in [
        ("clean_1k", "1 KB chat text, nothing to redact"),
        (
            "sensitive_1k",
            "1 KB chat text, sensitive values in every turn",
        ),
        ("clean_64k", "64 KB chat text, nothing to redact"),
        (
            "sensitive_64k",
            "64 KB chat text, sensitive values in every turn",
        ),
    ] {
        let kb: f64 = if id.ends_with("64k") { 64.0 } else { 1.0 };
        let mut row = Row::new(
            format!("redaction, ns per KB: `Redaction::builtin()`, {label}"),
            "ns/KB",
        );
        row.llmobs = cell(median_ns("redact", id).map(|t| t / kb));
        rows.push(row);
    }

    let mut row = Row::new(
        "trace viewer, 10,000 traces / 100,000 spans: page size / `write_viewer` time / time to \
         first paint in Chromium",
        "MiB / ms / ms",
    );
    row.llmobs = format!(
        "{} / {} / {}",
        cell(metric("viewer_bytes").map(|b| b / (1024.0 * 1024.0))),
        cell(metric("viewer_write_ms")),
        cell(metric("viewer_first_paint_ms")),
    );
    rows.push(row);
    let secs = metric("overload_seconds").unwrap_or(10.0);
    let mut row = Row::new(
        format!("overload {secs:.0} s, 2 producers, slow intake: producer cost"),
        "ns/span",
    );
    row.llmobs = cell(metric("overload_ns_per_span"));
    rows.push(row);
    for (name, label) in [
        ("overload_produced", "overload: spans produced"),
        ("overload_delivered", "overload: spans delivered"),
        ("overload_dropped", "overload: spans dropped (queue full)"),
    ] {
        let mut row = Row::new(label, "spans");
        row.llmobs = count(metric(name));
        rows.push(row);
    }
    let mib = |b: Option<f64>| b.map(|b| b / (1024.0 * 1024.0));
    let mut row = Row::new(
        format!(
            "overload: peak RSS (queue bound {} spans / {} MiB; RSS before start {} MiB)",
            count(metric("overload_queue_max_spans")),
            cell(mib(metric("overload_queue_max_bytes"))),
            cell(mib(metric("overload_rss_before_bytes"))),
        ),
        "MiB",
    );
    row.llmobs = cell(mib(metric("overload_peak_rss_bytes")));
    rows.push(row);

    let mut row = Row::new("`cargo check`, 200 instrumented functions", "s");
    let (ours, plain, tracing) = (
        metric("compile_llmobs_seconds"),
        metric("compile_plain_seconds"),
        metric("compile_tracing_seconds"),
    );
    row.llmobs = cell(ours);
    row.plain = cell(plain);
    row.peers[0] = cell(tracing);
    row.ratios[0] = ratio(ours, tracing);
    rows.push(row);
    rows
}

fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| measurement | unit | llmobs | uninstrumented | {} | {} | {} | llmobs ÷ {} | llmobs ÷ {} | llmobs ÷ {} |",
        PEERS[0].1, PEERS[1].1, PEERS[2].1, PEERS[0].1, PEERS[1].1, PEERS[2].1
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.what,
            r.unit,
            r.llmobs,
            r.plain,
            r.peers[0],
            r.peers[1],
            r.peers[2],
            r.ratios[0],
            r.ratios[1],
            r.ratios[2]
        );
    }
    out
}

/// The whole cost of a delivered span (bench `delivered`): process CPU per span the receiver
/// got, for each workload and tracer, with the ratios to the OpenTelemetry SDK and the bytes
/// on the wire per span; then the delivery ceiling of one llmobs exporter thread.
pub fn delivered_table() -> String {
    const WORKLOADS: [(&str, &str); 3] = [
        ("empty", "traces of 10 empty task spans"),
        (
            "rag",
            "RAG request: workflow → retrieval (5 × 500 B documents) → llm (2 KB in, 500 B out, \
             3 token metrics) → task",
        ),
        ("rag_redacted", "the RAG request with built-in redaction"),
    ];
    let m = |w: &str, side: &str, what: &str| metric(&format!("delivered_{w}_{side}_{what}"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| workload (ns of CPU, all threads, per delivered span) | llmobs, Datadog | llmobs, OTLP | \
         OpenTelemetry SDK | `tracing` + `tracing-opentelemetry` | llmobs Datadog ÷ SDK | \
         llmobs OTLP ÷ SDK | bytes per span: Datadog / OTLP / SDK |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|");
    for (w, label) in WORKLOADS {
        let dd = m(w, "llmobs_datadog", "cpu_ns");
        let otlp = m(w, "llmobs_otlp", "cpu_ns");
        let sdk = m(w, "otel_sdk", "cpu_ns");
        let tracing = m(w, "tracing_otel", "cpu_ns");
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} / {} / {} |",
            cell(dd),
            cell(otlp),
            cell(sdk),
            cell(tracing),
            ratio(dd, sdk),
            ratio(otlp, sdk),
            cell(m(w, "llmobs_datadog", "bytes")),
            cell(m(w, "llmobs_otlp", "bytes")),
            cell(m(w, "otel_sdk", "bytes")),
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| delivery ceiling: one llmobs exporter thread, RAG request (1 s ÷ its CPU per span) | \
         Datadog | OTLP |"
    );
    let _ = writeln!(out, "|---|--:|--:|");
    for (w, label) in [
        ("rag", "without redaction"),
        ("rag_redacted", "with built-in redaction"),
    ] {
        let rate = |side: &str| m(w, side, "export_ns").map(|ns| 1e9 / ns);
        let _ = writeln!(
            out,
            "| {label} | {} spans/s | {} spans/s |",
            count(rate("llmobs_datadog")),
            count(rate("llmobs_otlp"))
        );
    }
    out
}

/// The empty-span comparison alone: what `cargo bench --bench spans` prints at the end.
pub fn span_table() -> String {
    render(&span_rows())
}

/// Every measurement in one table: the comparison first, then what has no peer.
pub fn full_table() -> String {
    let mut rows = span_rows();
    rows.extend(other_rows());
    render(&rows)
}

/// The machine the numbers come from: cores, CPU model, compiler.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "rustc ?".to_owned());
    format!("{cores} cores, {cpu}, {rustc}")
}

/// What the table cannot show: how much of the load each consumer took during the llmobs
/// rows (the rest was dropped at the queue, whose cost is then what those rows measure).
pub fn notes() -> String {
    let mut out = String::new();
    for (group, label, _) in SPAN_GROUPS {
        let sink = metric(&format!("{group}_llmobs_sink_taken_pct"));
        let agent = metric(&format!("{group}_llmobs_agent_taken_pct"));
        let _ = writeln!(
            out,
            "- {label}, sustained: the encode-and-discard consumer took {}% of the spans, agent mode delivered {}%; the rest were dropped at the bounded queue and counted. The drained rows time bursts of about 2,000 spans and let the consumer empty its queue, untimed, between them.",
            cell(sink),
            cell(agent)
        );
    }
    out
}
