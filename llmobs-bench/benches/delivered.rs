//! The whole cost of a delivered span: CPU time of every thread of the process (the
//! application's and the tracer's: recording, converting, encoding, posting) per span that a
//! loopback receiver got, and the request bytes per span, for three workloads and four tracers
//! posting equivalent spans to the same receiver.
//!
//! - Workloads: traces of 10 empty task spans; a RAG request (workflow → retrieval with 5 × 500 B
//!   documents → llm with 2 KB in, 500 B out and 3 token counts → task, [`llmobs_bench::rag`]);
//!   the RAG request with llmobs's built-in redaction.
//! - Tracers: llmobs with its Datadog destination (agent mode, the EVP proxy) and with its OTLP
//!   destination; the OpenTelemetry SDK with its batch processor and `opentelemetry-otlp`
//!   (http/protobuf, reqwest's blocking client), as its documentation sets it up; `tracing` with
//!   `tracing-opentelemetry` into that same SDK pipeline. The OpenTelemetry and `tracing` sides
//!   start exactly the spans llmobs's OTLP destination sent for the workload (names, kinds,
//!   attributes, text), read back from its request body; they clone prepared attribute lists
//!   where llmobs builds its annotations from the values, which favours them.
//! - Each tracer runs in a process of its own (this program, started again), so each owns its
//!   process-wide state and `getrusage` measures it alone; the receiver runs in another, and
//!   counts the spans in every request. Rounds alternate between the tracers, so a change in the
//!   host's speed falls on all of them. Each round sends a fixed number of traces into queues
//!   that hold them all, flushes, and counts only if the receiver got every span: no row
//!   measures dropping.
//!
//! `cargo bench -p llmobs-bench --features otlp --bench delivered` (part of `run.sh`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use llmobs_bench::intake::Intake;
use llmobs_bench::{rag, results, thread_cpu, workload as w};
use llmobs_exporter::{Config, Exporter, Mode};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue as ProtoKeyValue;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use prost::Message as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const ROUNDS: usize = 3;
/// Traces per measured round, for every workload.
const TRACES: usize = 5_000;
const WARM_UP_TRACES: usize = 200;
const RECEIVER_VAR: &str = "LLMOBS_BENCH_DELIVERED_RECEIVER";
const SIDE_VAR: &str = "LLMOBS_BENCH_DELIVERED_SIDE";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    Empty,
    Rag,
    RagRedacted,
}

impl Workload {
    const ALL: [Workload; 3] = [Workload::Empty, Workload::Rag, Workload::RagRedacted];

    fn id(self) -> &'static str {
        match self {
            Workload::Empty => "empty",
            Workload::Rag => "rag",
            Workload::RagRedacted => "rag_redacted",
        }
    }

    fn parse(s: &str) -> Workload {
        Workload::ALL
            .into_iter()
            .find(|w| w.id() == s)
            .expect("a workload")
    }

    fn spans_per_trace(self) -> usize {
        match self {
            Workload::Empty => 10,
            Workload::Rag | Workload::RagRedacted => rag::RAG_SPANS,
        }
    }

    /// One trace through llmobs.
    fn llmobs_trace(self) {
        match self {
            Workload::Empty => w::llmobs_root::<9>(),
            Workload::Rag | Workload::RagRedacted => rag::llmobs_rag(),
        }
    }

    fn sides(self) -> &'static [Side] {
        match self {
            Workload::RagRedacted => &[Side::LlmobsDatadog, Side::LlmobsOtlp],
            _ => &Side::ALL,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    LlmobsDatadog,
    LlmobsOtlp,
    OtelSdk,
    TracingOtel,
}

impl Side {
    const ALL: [Side; 4] = [
        Side::LlmobsDatadog,
        Side::LlmobsOtlp,
        Side::OtelSdk,
        Side::TracingOtel,
    ];

    fn id(self) -> &'static str {
        match self {
            Side::LlmobsDatadog => "llmobs_datadog",
            Side::LlmobsOtlp => "llmobs_otlp",
            Side::OtelSdk => "otel_sdk",
            Side::TracingOtel => "tracing_otel",
        }
    }

    fn parse(s: &str) -> Side {
        Side::ALL.into_iter().find(|x| x.id() == s).expect("a side")
    }

    /// The thread the tracer exports on (Linux truncates thread names to 15 bytes).
    fn export_thread(self) -> &'static str {
        match self {
            Side::LlmobsDatadog | Side::LlmobsOtlp => "llmobs-exporter",
            Side::OtelSdk | Side::TracingOtel => "OpenTelemetry.T",
        }
    }
}

fn main() {
    if std::env::var_os(RECEIVER_VAR).is_some() {
        return receive();
    }
    if let Some(side) = std::env::var_os(SIDE_VAR) {
        return side_main(&side.to_string_lossy());
    }
    // `cargo bench` passes criterion's arguments; a filter that does not name this bench skips it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "delivered".contains(a.as_str())) {
        return;
    }
    let mut receiver = Receiver::start();
    for workload in Workload::ALL {
        let sides = workload.sides();
        let mut procs: Vec<SideProc> = sides
            .iter()
            .map(|s| SideProc::start(*s, workload, &receiver.url))
            .collect();
        // (CPU ns, export thread CPU ns, spans delivered, bytes)
        let mut totals = vec![(0u64, 0u64, 0u64, 0u64); sides.len()];
        for round in 0..=ROUNDS {
            let traces = if round == 0 { WARM_UP_TRACES } else { TRACES };
            let spans = (traces * workload.spans_per_trace()) as u64;
            for (i, p) in procs.iter_mut().enumerate() {
                let (spans_before, bytes_before) = receiver.counts();
                let (cpu, thread) = p.round(traces);
                let (spans_after, bytes_after) = receiver.counts();
                let delivered = spans_after - spans_before;
                assert_eq!(
                    delivered,
                    spans,
                    "{} {}: every span the round started was delivered",
                    workload.id(),
                    p.side.id()
                );
                if round > 0 {
                    let t = &mut totals[i];
                    t.0 += cpu;
                    t.1 += thread;
                    t.2 += delivered;
                    t.3 += bytes_after - bytes_before;
                }
            }
        }
        for p in procs {
            p.stop();
        }
        for (side, (cpu, thread, n, bytes)) in sides.iter().zip(totals) {
            let n_f = n as f64;
            let key = format!("delivered_{}_{}", workload.id(), side.id());
            results::record(&format!("{key}_cpu_ns"), cpu as f64 / n_f);
            results::record(&format!("{key}_export_ns"), thread as f64 / n_f);
            results::record(&format!("{key}_bytes"), bytes as f64 / n_f);
            eprintln!(
                "delivered {} {}: {:.0} ns CPU per delivered span ({:.0} on the export thread), \
                 {:.0} bytes per span ({n} spans)",
                workload.id(),
                side.id(),
                cpu as f64 / n_f,
                thread as f64 / n_f,
                bytes as f64 / n_f
            );
        }
    }
    receiver.stop();
    println!("\n{}", results::delivered_table());
}

/// CPU time of this process so far (every thread, exited ones included).
fn cpu_ns() -> u64 {
    // SAFETY: getrusage writes the struct it is given and nothing else.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

// --- one tracer, in a process of its own ---

/// A tracer's process, driven by `round N` lines on its stdin.
struct SideProc {
    side: Side,
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl SideProc {
    fn start(side: Side, workload: Workload, url: &str) -> SideProc {
        let mut command = Command::new(std::env::current_exe().expect("own path"));
        // The tracers' settings are the ones written here: none from the shell (batch sizes,
        // endpoints, sampling) may change one side and not the others.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("OTEL_") || k.starts_with("DD_") {
                command.env_remove(&key);
            }
        }
        let mut child = command
            .env(SIDE_VAR, format!("{} {} {url}", side.id(), workload.id()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a tracer process");
        let input = child.stdin.take().expect("stdin");
        let mut output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut ready = String::new();
        output.read_line(&mut ready).expect("the tracer is ready");
        assert_eq!(ready.trim(), "ready", "{side:?}");
        SideProc {
            side,
            child,
            input,
            output,
        }
    }

    /// Runs `traces` traces and flushes; (process CPU ns, export thread CPU ns).
    fn round(&mut self, traces: usize) -> (u64, u64) {
        writeln!(self.input, "round {traces}").expect("drive the tracer");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("its report");
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|x| x.parse().expect("a number"))
            .collect();
        (v[0], v[1])
    }

    fn stop(mut self) {
        drop(self.input);
        let _ = self.child.wait();
    }
}

/// What a tracer's process runs: set the tracer up, say `ready`, then run rounds.
fn side_main(spec: &str) {
    let mut parts = spec.split(' ');
    let side = Side::parse(parts.next().expect("side"));
    let workload = Workload::parse(parts.next().expect("workload"));
    let url = parts.next().expect("url").to_owned();
    let round_spans = TRACES * workload.spans_per_trace();
    let run: Box<dyn Fn(usize)> = match side {
        Side::LlmobsDatadog | Side::LlmobsOtlp => {
            let mut config = llmobs::Config::default()
                .ml_app("llmobs-bench")
                .queue_max_spans(round_spans * 2)
                .queue_max_bytes(1 << 30)
                .flush_timeout(Duration::from_secs(30));
            config = if side == Side::LlmobsDatadog {
                config.mode(Mode::Agent).agent_url(url)
            } else {
                config
                    .mode(Mode::Otlp)
                    .otlp_endpoint(url)
                    .otlp_evaluations(false)
            };
            if workload == Workload::RagRedacted {
                config = config.redact(llmobs::Redaction::builtin());
            }
            let guard = config.init().expect("start llmobs");
            std::mem::forget(guard);
            Box::new(move |traces| {
                for _ in 0..traces {
                    workload.llmobs_trace();
                }
                let report = llmobs::flush();
                assert!(!report.timed_out, "llmobs flush timed out: {report}");
            })
        }
        Side::OtelSdk | Side::TracingOtel => {
            let template = template(workload);
            let provider = otel_provider(&url, round_spans * 2);
            let tracer = provider.tracer("llmobs-bench");
            let flush = move || {
                // `force_flush` exports one batch (512 spans) of what is queued: as many calls as
                // it takes to empty a full round (a call on an empty queue returns at once).
                for _ in 0..=round_spans.div_ceil(512) {
                    provider.force_flush().expect("the SDK flushes");
                }
            };
            if side == Side::OtelSdk {
                Box::new(move |traces| {
                    for _ in 0..traces {
                        otel_request(&tracer, &template);
                    }
                    flush();
                })
            } else {
                let subscriber = tracing_subscriber::registry()
                    .with(tracing_opentelemetry::layer().with_tracer(tracer));
                tracing::subscriber::set_global_default(subscriber)
                    .expect("install the tracing subscriber");
                Box::new(move |traces| {
                    for _ in 0..traces {
                        tracing_request(&template);
                    }
                    flush();
                })
            }
        }
    };
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Some(n) = line.strip_prefix("round ") else {
            break;
        };
        let traces: usize = n.trim().parse().expect("a count");
        let thread = thread_cpu::cpu_ns(side.export_thread()).unwrap_or(0);
        let cpu = cpu_ns();
        run(traces);
        let cpu = cpu_ns() - cpu;
        let thread = thread_cpu::cpu_ns(side.export_thread())
            .unwrap_or(0)
            .saturating_sub(thread);
        println!("{cpu} {thread}");
    }
}

fn otel_provider(url: &str, queue: usize) -> SdkTracerProvider {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{url}/v1/traces"))
        .build()
        .expect("build the OTLP exporter");
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(queue)
                .build(),
        )
        .build();
    SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder_empty()
                .with_service_name("llmobs-bench")
                .build(),
        )
        .build()
}

/// One span as the llmobs OTLP destination sent it.
struct SpanTemplate {
    name: String,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    parent: Option<usize>,
}

/// The spans of one trace of `workload`, as llmobs's OTLP destination sends them (parents
/// before children).
fn template(workload: Workload) -> Vec<SpanTemplate> {
    let spans = llmobs::testing::capture(|| workload.llmobs_trace());
    let intake = Intake::start();
    let exporter = Exporter::start(
        Config::default()
            .mode(Mode::Otlp)
            .otlp_endpoint(intake.url())
            .ml_app("llmobs-bench"),
    )
    .expect("start an exporter");
    exporter.send_spans(spans);
    assert!(!exporter.flush(Duration::from_secs(10)).timed_out);
    exporter.shutdown(Duration::from_secs(5));
    let post = intake
        .posts()
        .into_iter()
        .find(|r| r.path.ends_with("/v1/traces"))
        .expect("the destination posted the trace");
    let request = ExportTraceServiceRequest::decode(post.body.as_slice()).expect("OTLP protobuf");
    let mut spans: Vec<_> = request
        .resource_spans
        .into_iter()
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    spans.sort_by_key(|s| s.start_time_unix_nano);
    let ids: Vec<Vec<u8>> = spans.iter().map(|s| s.span_id.clone()).collect();
    let template: Vec<SpanTemplate> = spans
        .into_iter()
        .map(|s| SpanTemplate {
            kind: match s.kind {
                3 => SpanKind::Client,
                _ => SpanKind::Internal,
            },
            parent: ids.iter().position(|id| *id == s.parent_span_id),
            name: s.name,
            attributes: s.attributes.iter().filter_map(attribute).collect(),
        })
        .collect();
    assert_eq!(template.len(), workload.spans_per_trace());
    assert!(template
        .iter()
        .enumerate()
        .all(|(i, t)| t.parent.is_none_or(|p| p < i)));
    template
}

fn attribute(kv: &ProtoKeyValue) -> Option<KeyValue> {
    let value = match kv.value.as_ref()?.value.as_ref()? {
        Any::StringValue(s) => Value::from(s.clone()),
        Any::IntValue(i) => Value::I64(*i),
        Any::DoubleValue(d) => Value::F64(*d),
        Any::BoolValue(b) => Value::Bool(*b),
        Any::ArrayValue(a) => Value::Array(Array::String(
            a.values
                .iter()
                .filter_map(|v| match &v.value {
                    Some(Any::StringValue(s)) => Some(StringValue::from(s.clone())),
                    _ => None,
                })
                .collect(),
        )),
        _ => return None,
    };
    Some(KeyValue::new(kv.key.clone(), value))
}

/// The trace's spans through the OpenTelemetry API, nested as the template says.
fn otel_request(tracer: &opentelemetry_sdk::trace::SdkTracer, template: &[SpanTemplate]) {
    let mut contexts: Vec<Context> = Vec::with_capacity(template.len());
    for t in template {
        let builder = tracer
            .span_builder(t.name.clone())
            .with_kind(t.kind.clone())
            .with_attributes(t.attributes.clone());
        let span = match t.parent {
            Some(p) => builder.start_with_context(tracer, &contexts[p]),
            None => builder.start(tracer),
        };
        contexts.push(Context::new().with_span(span));
    }
    // Children end before their parents.
    for cx in contexts.iter().rev() {
        cx.span().end();
    }
}

/// The trace's spans as `tracing` spans, exported by `tracing-opentelemetry`: the name and kind
/// through its `otel.*` fields, the attributes set on each span.
fn tracing_request(template: &[SpanTemplate]) {
    let mut spans: Vec<tracing::Span> = Vec::with_capacity(template.len());
    for t in template {
        let kind = if t.kind == SpanKind::Client {
            "client"
        } else {
            "internal"
        };
        let span = match t.parent {
            Some(p) => {
                tracing::info_span!(parent: &spans[p], "span", otel.name = t.name.as_str(), otel.kind = kind)
            }
            None => {
                tracing::info_span!(parent: None, "span", otel.name = t.name.as_str(), otel.kind = kind)
            }
        };
        for kv in &t.attributes {
            span.set_attribute(kv.key.clone(), kv.value.clone());
        }
        spans.push(span);
    }
    // Children end before their parents.
    while let Some(s) = spans.pop() {
        drop(s);
    }
}

// --- the receiver, in a process of its own ---

/// The loopback receiver: spans and bytes received so far, on request.
struct Receiver {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    url: String,
}

impl Receiver {
    fn start() -> Receiver {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env(RECEIVER_VAR, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let input = child.stdin.take().expect("stdin");
        let mut output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut url = String::new();
        output.read_line(&mut url).expect("the receiver's URL");
        Receiver {
            child,
            input,
            output,
            url: url.trim().to_owned(),
        }
    }

    /// (spans, body bytes) received so far.
    fn counts(&mut self) -> (u64, u64) {
        writeln!(self.input, "count").expect("ask the receiver");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("its answer");
        let mut it = line
            .split_whitespace()
            .map(|x| x.parse::<u64>().expect("a number"));
        (it.next().expect("spans"), it.next().expect("bytes"))
    }

    fn stop(mut self) {
        drop(self.input);
        let _ = self.child.wait();
    }
}

/// The spans in one request body: OTLP protobuf, or the Datadog intake's JSON.
fn count_spans(path: &str, body: &[u8]) -> u64 {
    if path.ends_with("/v1/traces") {
        let r = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
        return r
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len() as u64)
            .sum();
    }
    if path.ends_with("/api/v2/llmobs") {
        let v: serde_json::Value = serde_json::from_slice(body).expect("a JSON span payload");
        return v
            .as_array()
            .expect("a list of events")
            .iter()
            .map(|e| e["spans"].as_array().map_or(0, |s| s.len() as u64))
            .sum();
    }
    0
}

/// The child: a counting loopback intake, and its counts for each `count` line on stdin, until
/// stdin closes.
fn receive() {
    let intake = Intake::counting(count_spans);
    println!("{}", intake.url());
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
        println!("{} {}", intake.spans_counted(), intake.received().1);
    }
}
