//! CPU time per delivered span over OTLP: llmobs's OTLP destination against the OpenTelemetry
//! SDK with its `opentelemetry-otlp` exporter, both sending the same spans as `http/protobuf` to
//! the same loopback receiver.
//!
//! - The workload is one realistic request, repeated: a workflow, an annotated LLM call (two
//!   messages, three token metrics) and a task with a captured argument and return value.
//! - The OpenTelemetry side sends exactly the spans llmobs sends: the names, kinds and
//!   attributes (both conventions) are read from a request body of the llmobs destination, and
//!   each span is started with them, as an application setting those attributes would. It clones
//!   prepared attribute lists, where llmobs builds its annotations from the values; that favours
//!   the SDK.
//! - The SDK runs as its documentation sets it up outside tests: the batch span processor on its
//!   own thread, the HTTP exporter with reqwest's blocking client. Both queues hold a whole round,
//!   so neither side drops anything, and a round counts only when the receiver got every span.
//! - The receiver runs in a child process (this program, started again), so the time measured,
//!   `getrusage` of this process, is the sender's alone: the application's threads and every
//!   thread the tracer starts, recording, converting, encoding and posting.
//!
//! Rounds alternate between the two, so a change in the host's speed falls on both.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use llmobs_bench::intake::Intake;
use llmobs_bench::{results, thread_cpu, workload as w};
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

/// Requests per measured round (three spans each).
const TRACES: usize = 10_000;
const ROUNDS: usize = 3;
const RECEIVER_VAR: &str = "LLMOBS_BENCH_OTLP_RECEIVER";
const QUESTION: &str = "When does my sofa ship?";

fn main() {
    if std::env::var_os(RECEIVER_VAR).is_some() {
        return receive();
    }
    // `cargo bench` passes criterion's arguments; a filter that does not name this bench skips it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "otlp".contains(a.as_str())) {
        return;
    }
    let mut receiver = Receiver::start();
    let template = template();
    let spans_per_trace = template.len() as u64;

    // llmobs: the process-wide pipeline with the OTLP destination alone.
    let _guard = llmobs::Config::default()
        .mode(Mode::Otlp)
        .otlp_endpoint(receiver.url.clone())
        .otlp_evaluations(false)
        .ml_app("llmobs-bench")
        .queue_max_spans(TRACES * 3 * 2)
        .init()
        .expect("start llmobs with the OTLP destination");
    // The SDK: batch span processor + OTLP/HTTP exporter to the same receiver.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", receiver.url))
        .build()
        .expect("build the OTLP exporter");
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(TRACES * 3 * 2)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            Resource::builder_empty()
                .with_service_name("llmobs-bench")
                .build(),
        )
        .build();
    let tracer = provider.tracer("llmobs-bench");

    let llmobs_round = |traces: usize| {
        for _ in 0..traces {
            std::hint::black_box(w::llmobs_request(QUESTION));
        }
        let report = llmobs::flush();
        assert!(!report.timed_out, "llmobs flush timed out: {report}");
    };
    let otel_round = |traces: usize| {
        for _ in 0..traces {
            otel_request(&tracer, &template);
        }
        // The SDK's `force_flush` exports one batch (512 spans) of what is queued: as many
        // calls as it takes to empty a full round (a call on an empty queue returns at once).
        for _ in 0..=(traces * template.len()).div_ceil(512) {
            provider.force_flush().expect("the SDK flushes");
        }
    };

    // The thread each side exports on (Linux truncates thread names to 15 bytes).
    let export_threads = ["llmobs-exporter", "OpenTelemetry.T"];
    // Warm-up: connections, lazily built state, the first allocations.
    let mut totals = [(0u64, 0u64, 0u64); 2]; // (CPU ns, export thread CPU ns, spans delivered)
    for traces in [200, TRACES] {
        let measured = traces == TRACES;
        for _ in 0..if measured { ROUNDS } else { 1 } {
            for (side, round) in [
                &llmobs_round as &dyn Fn(usize),
                &otel_round as &dyn Fn(usize),
            ]
            .into_iter()
            .enumerate()
            {
                let before = receiver.spans();
                let thread = thread_cpu::cpu_ns(export_threads[side]).unwrap_or(0);
                let cpu = cpu_ns();
                round(traces);
                let cpu = cpu_ns() - cpu;
                let thread = thread_cpu::cpu_ns(export_threads[side])
                    .unwrap_or(0)
                    .saturating_sub(thread);
                let delivered = receiver.spans() - before;
                let sent = traces as u64 * spans_per_trace;
                assert_eq!(delivered, sent, "side {side}: every span delivered");
                if measured {
                    totals[side].0 += cpu;
                    totals[side].1 += thread;
                    totals[side].2 += delivered;
                    eprintln!(
                        "otlp {}: {:.0} ns CPU per delivered span, {:.0} of it on the export \
                         thread ({delivered} spans)",
                        ["llmobs", "opentelemetry-otlp"][side],
                        cpu as f64 / delivered as f64,
                        thread as f64 / delivered as f64
                    );
                }
            }
        }
    }
    let per_span =
        |(cpu, thread, n): (u64, u64, u64)| (cpu as f64 / n as f64, thread as f64 / n as f64);
    let ((ours, ours_thread), (sdk, sdk_thread)) = (per_span(totals[0]), per_span(totals[1]));
    results::record("otlp_llmobs_cpu_ns_per_span", ours);
    results::record("otlp_sdk_cpu_ns_per_span", sdk);
    eprintln!(
        "otlp: llmobs {ours:.0} ns ({ours_thread:.0} on its export thread), opentelemetry-otlp \
         {sdk:.0} ns ({sdk_thread:.0} on its batch thread) CPU per delivered span ({} spans each)",
        totals[0].2
    );
    let _ = provider.shutdown();
    receiver.stop();
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

/// One span as the llmobs destination sent it.
struct SpanTemplate {
    name: String,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    parent: Option<usize>,
}

/// The spans of one request, as llmobs's OTLP destination sends them (root first).
fn template() -> Vec<SpanTemplate> {
    let spans = llmobs::testing::capture(|| w::llmobs_request(QUESTION));
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
    spans.sort_by_key(|s| !s.parent_span_id.is_empty());
    let ids: Vec<Vec<u8>> = spans.iter().map(|s| s.span_id.clone()).collect();
    spans
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
        .collect()
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

/// The request's spans through the OpenTelemetry API, nested as the template says.
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

/// The loopback receiver in a child process: it counts the spans of the OTLP requests it got.
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

    /// Spans received so far.
    fn spans(&mut self) -> u64 {
        writeln!(self.input, "count").expect("ask the receiver");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("its answer");
        line.trim().parse().expect("a count")
    }

    fn stop(mut self) {
        drop(self.input);
        let _ = self.child.wait();
    }
}

/// The child: a loopback intake answering 200, and a count of the spans it received for each
/// `count` line on stdin, until stdin closes.
fn receive() {
    let intake = Intake::start();
    println!("{}", intake.url());
    let mut counted = 0usize; // requests already decoded
    let mut spans = 0u64;
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
        let posts = intake.posts();
        for p in posts.iter().skip(counted) {
            if p.path.ends_with("/v1/traces") && p.status.is_some_and(|s| s < 300) {
                let r = ExportTraceServiceRequest::decode(p.body.as_slice()).expect("OTLP");
                spans += r
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len() as u64)
                    .sum::<u64>();
            }
        }
        counted = posts.len();
        println!("{spans}");
    }
}
