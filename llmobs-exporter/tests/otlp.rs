//! The OTLP destination over real HTTP to a loopback receiver: the bodies are decoded with the
//! generated OTLP messages and checked for both attribute conventions (GenAI and
//! OpenInference), and delivery follows the shared policy (retry, partial success, gzip, JSON).

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use common::{span, Intake, Reply};
use llmobs_core::{
    Document, EvalScope, EvaluationMetric, EvaluationValue, ExportedSpan, JoinOn, Message, Sink,
    SpanError, SpanEvent, SpanIo, SpanKind, ToolCall, ToolDefinition, ToolResult,
};
use llmobs_exporter::{Config, Exporter, Mode, OtlpProtocol};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};

const FLUSH: Duration = Duration::from_secs(20);

fn config(intake: &Intake) -> Config {
    Config::default()
        .ml_app("otlp-app")
        .env("test")
        .mode(Mode::Otlp)
        .otlp_endpoint(intake.url())
        .interval(Duration::from_secs(3600))
        .initial_backoff(Duration::from_millis(10))
}

/// A chat trace: a workflow root, an agent, an LLM call with tool calls, a tool, a retrieval,
/// an embedding, and a failed task.
fn chat_trace() -> Vec<SpanEvent> {
    let mut root = span(SpanKind::Workflow, "handle_request");
    root.session_id = Some("session-7".into());
    root.annotations_mut().input = Some(SpanIo::Value(json!("Where is my sofa?")));
    root.annotations_mut().output = Some(SpanIo::Value(json!({"answer": "on its way"})));
    root.annotations_mut()
        .tags
        .insert("user_id".into(), "u-42".into());
    root.annotations_mut()
        .metadata
        .insert("channel".into(), json!("web"));
    let child = |kind, name: &str, parent: &SpanEvent, n: u64| {
        let mut c = span(kind, name);
        c.trace_id = parent.trace_id;
        c.parent_id = Some(parent.span_id);
        c.session_id = parent.session_id.clone();
        c.start_ns = parent.start_ns + n;
        c
    };
    let agent = child(SpanKind::Agent, "support_agent", &root, 1);
    let mut llm = child(SpanKind::Llm, "plan", &agent, 2);
    {
        let a = llm.annotations_mut();
        a.model_name = Some("gpt-4o-mini".into());
        a.model_provider = Some("openai".into());
        a.input = Some(SpanIo::Messages(vec![
            Message::system("You help customers."),
            Message::user("Where is my sofa?"),
        ]));
        let mut call = Message::assistant("");
        call.tool_calls = vec![ToolCall::function("track_order", json!({"order": "A1"}))];
        call.tool_calls[0].tool_id = Some("call-1".into());
        a.output = Some(SpanIo::Messages(vec![call]));
        // As `annotate().metric(..)` records them: f64.
        a.metrics.insert("input_tokens".into(), f64n(120.0));
        a.metrics.insert("output_tokens".into(), f64n(18.0));
        a.metrics.insert("total_tokens".into(), f64n(138.0));
        a.tool_definitions = vec![
            ToolDefinition::new("track_order")
                .description("Where an order is")
                .schema(json!({"type": "object", "properties": {"order": {"type": "string"}}})),
            ToolDefinition::new("cancel_order"),
        ];
    }
    let mut tool = child(SpanKind::Tool, "track_order", &agent, 3);
    tool.annotations_mut().input = Some(SpanIo::Value(json!({"order": "A1"})));
    tool.annotations_mut().output = Some(SpanIo::Value(json!("shipped")));
    let mut answer = child(SpanKind::Llm, "answer", &agent, 4);
    {
        let a = answer.annotations_mut();
        a.model_name = Some("gpt-4o-mini".into());
        let mut result = Message::new("tool", "");
        result.tool_results = vec![ToolResult::function("track_order", "shipped")];
        result.tool_results[0].tool_id = Some("call-1".into());
        a.input = Some(SpanIo::Messages(vec![result]));
        a.output = Some(SpanIo::Messages(vec![Message::assistant(
            "It ships today.",
        )]));
    }
    let mut retrieval = child(SpanKind::Retrieval, "search_faq", &root, 5);
    retrieval.annotations_mut().input = Some(SpanIo::Value(json!("delivery times")));
    let mut doc = Document::text("Sofas ship in 3 days.");
    doc.id = Some("faq-3".into());
    doc.score = Some(0.75);
    doc.name = Some("FAQ \"delivery\"".into());
    retrieval.annotations_mut().output = Some(SpanIo::Documents(vec![doc]));
    let mut embed = child(SpanKind::Embedding, "embed_query", &retrieval, 6);
    embed.annotations_mut().model_name = Some("text-embedding-3-small".into());
    embed.annotations_mut().input = Some(SpanIo::Documents(vec![Document::text("delivery")]));
    let mut failed = child(SpanKind::Task, "format", &root, 7);
    failed.error = Some(Box::new(SpanError::new("FormatError", "bad template")));
    vec![root, agent, llm, tool, answer, retrieval, embed, failed]
}

fn decode_traces(intake: &Intake) -> Vec<Span> {
    let mut spans = Vec::new();
    for r in intake.requests() {
        if r.method == "POST" && r.path == "/v1/traces" && r.status == Some(200) {
            let req = ExportTraceServiceRequest::decode(r.body.as_slice()).expect("protobuf body");
            for rs in req.resource_spans {
                let res = attrs(&rs.resource.expect("resource").attributes);
                assert_eq!(res["service.name"], "otlp-app");
                assert_eq!(res["openinference.project.name"], "otlp-app");
                assert_eq!(res["deployment.environment.name"], "test");
                for ss in rs.scope_spans {
                    assert_eq!(ss.scope.as_ref().unwrap().name, "llmobs");
                    spans.extend(ss.spans);
                }
            }
        }
    }
    spans
}

/// A metric as `annotate().metric(..)` records it: from an `f64`.
fn f64n(v: f64) -> serde_json::Number {
    serde_json::Number::from_f64(v).expect("finite")
}

/// Attributes as text: strings as they are, integers as digits, doubles with a fraction or
/// exponent (`120.0`), lists in JSON.
fn attrs(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Any::StringValue(s)) => s.clone(),
                Some(Any::IntValue(i)) => i.to_string(),
                Some(Any::DoubleValue(d)) => format!("{d:?}"),
                Some(Any::BoolValue(b)) => b.to_string(),
                Some(Any::ArrayValue(a)) => {
                    let items: Vec<String> = a
                        .values
                        .iter()
                        .map(|v| match &v.value {
                            Some(Any::StringValue(s)) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .collect();
                    serde_json::to_string(&items).unwrap()
                }
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn by_name<'a>(spans: &'a [Span], name: &str) -> (&'a Span, HashMap<String, String>) {
    let s = spans
        .iter()
        .find(|s| attrs(&s.attributes)["llmobs.span.name"] == name)
        .unwrap_or_else(|| panic!("no span {name}"));
    (s, attrs(&s.attributes))
}

#[test]
fn spans_arrive_as_protobuf_with_both_conventions() {
    let intake = Intake::start();
    let exporter = Exporter::start(config(&intake)).expect("start");
    let trace = chat_trace();
    let ids: Vec<(u64, Option<u64>)> = trace
        .iter()
        .map(|s| (s.span_id.0, s.parent_id.map(|p| p.0)))
        .collect();
    let trace_id = trace[0].trace_id.0;
    exporter.send_spans(trace);
    let report = exporter.flush(FLUSH);
    assert_eq!((report.delivered, report.dropped), (8, 0), "{report:?}");
    assert_eq!(exporter.mode(), Some(Mode::Otlp));
    let req = &intake.requests()[0];
    assert_eq!(req.path, "/v1/traces");
    assert_eq!(req.header("content-type"), Some("application/x-protobuf"));

    let spans = decode_traces(&intake);
    assert_eq!(spans.len(), 8);
    // The Datadog destination's ids: one trace, the same parents.
    for (id, parent) in &ids {
        let s = spans
            .iter()
            .find(|s| s.span_id == id.to_be_bytes())
            .expect("every span, by its id");
        assert_eq!(s.trace_id, trace_id.to_be_bytes());
        assert_eq!(
            s.parent_span_id,
            parent.map(|p| p.to_be_bytes().to_vec()).unwrap_or_default()
        );
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0);
    }

    let (root, a) = by_name(&spans, "handle_request");
    assert_eq!(root.name, "invoke_workflow handle_request");
    assert_eq!(a["openinference.span.kind"], "CHAIN");
    assert_eq!(a["gen_ai.operation.name"], "invoke_workflow");
    assert_eq!(a["gen_ai.workflow.name"], "handle_request");
    assert_eq!(a["input.value"], "Where is my sofa?");
    assert_eq!(a["input.mime_type"], "text/plain");
    assert_eq!(a["output.value"], r#"{"answer":"on its way"}"#);
    assert_eq!(a["output.mime_type"], "application/json");
    assert_eq!(a["session.id"], "session-7");
    assert_eq!(a["gen_ai.conversation.id"], "session-7");
    assert_eq!(a["user.id"], "u-42");
    assert_eq!(a["tag.tags"], r#"["user_id:u-42"]"#);
    assert_eq!(a["metadata"], r#"{"channel":"web"}"#);

    let (agent, a) = by_name(&spans, "support_agent");
    assert_eq!(agent.name, "invoke_agent support_agent");
    assert_eq!(a["openinference.span.kind"], "AGENT");
    assert_eq!(a["gen_ai.operation.name"], "invoke_agent");
    assert_eq!(a["gen_ai.agent.name"], "support_agent");

    let (llm, a) = by_name(&spans, "plan");
    assert_eq!(llm.name, "chat gpt-4o-mini");
    assert_eq!(llm.kind, 3, "CLIENT");
    assert_eq!(a["openinference.span.kind"], "LLM");
    assert_eq!(a["gen_ai.operation.name"], "chat");
    assert_eq!(a["gen_ai.request.model"], "gpt-4o-mini");
    assert_eq!(a["gen_ai.provider.name"], "openai");
    assert_eq!(a["llm.model_name"], "gpt-4o-mini");
    assert_eq!(a["llm.provider"], "openai");
    // Integers, as both conventions type token counts, though metrics are recorded as f64.
    assert_eq!(a["gen_ai.usage.input_tokens"], "120");
    assert_eq!(a["gen_ai.usage.output_tokens"], "18");
    assert_eq!(a["llm.token_count.prompt"], "120");
    assert_eq!(a["llm.token_count.completion"], "18");
    assert_eq!(a["llm.token_count.total"], "138");
    assert_eq!(a["llm.input_messages.0.message.role"], "system");
    assert_eq!(
        a["llm.input_messages.1.message.content"],
        "Where is my sofa?"
    );
    let call = "llm.output_messages.0.message.tool_calls.0.tool_call";
    assert_eq!(a[&format!("{call}.function.name")], "track_order");
    assert_eq!(
        a[&format!("{call}.function.arguments")],
        r#"{"order":"A1"}"#
    );
    assert_eq!(a[&format!("{call}.id")], "call-1");
    assert_eq!(
        a["llm.tools.0.tool.json_schema"],
        r#"{"function":{"description":"Where an order is","name":"track_order","parameters":{"properties":{"order":{"type":"string"}},"type":"object"}},"type":"function"}"#
    );
    assert_eq!(
        a["llm.tools.1.tool.json_schema"],
        r#"{"function":{"description":null,"name":"cancel_order","parameters":null},"type":"function"}"#
    );
    let input: Value = serde_json::from_str(&a["gen_ai.input.messages"]).unwrap();
    assert_eq!(
        input,
        json!([
            {"role": "system", "parts": [{"type": "text", "content": "You help customers."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Where is my sofa?"}]},
        ])
    );
    let output: Value = serde_json::from_str(&a["gen_ai.output.messages"]).unwrap();
    assert_eq!(
        output,
        json!([{"role": "assistant", "finish_reason": "tool_call", "parts": [
            {"type": "tool_call", "id": "call-1", "name": "track_order", "arguments": {"order": "A1"}}
        ]}])
    );

    let (_, a) = by_name(&spans, "answer");
    let input: Value = serde_json::from_str(&a["gen_ai.input.messages"]).unwrap();
    assert_eq!(
        input,
        json!([{"role": "tool", "parts": [
            {"type": "tool_call_response", "id": "call-1", "response": "shipped"}
        ]}])
    );
    assert_eq!(a["llm.input_messages.0.message.tool_call_id"], "call-1");
    assert_eq!(a["llm.input_messages.0.message.content"], "shipped");

    let (tool, a) = by_name(&spans, "track_order");
    assert_eq!(tool.name, "execute_tool track_order");
    assert_eq!(a["openinference.span.kind"], "TOOL");
    assert_eq!(a["gen_ai.tool.name"], "track_order");
    assert_eq!(a["tool.name"], "track_order");
    assert_eq!(a["gen_ai.tool.call.arguments"], r#"{"order":"A1"}"#);
    assert_eq!(a["gen_ai.tool.call.result"], "shipped");

    let (retrieval, a) = by_name(&spans, "search_faq");
    assert_eq!(retrieval.name, "search_faq");
    assert_eq!(a["openinference.span.kind"], "RETRIEVER");
    // Datadog would read a GenAI retrieval operation as a workflow.
    assert!(!a.contains_key("gen_ai.operation.name"));
    assert_eq!(a["input.value"], "delivery times");
    assert_eq!(
        a["retrieval.documents.0.document.content"],
        "Sofas ship in 3 days."
    );
    assert_eq!(a["retrieval.documents.0.document.id"], "faq-3");
    assert_eq!(a["retrieval.documents.0.document.score"], "0.75");
    assert_eq!(
        a["retrieval.documents.0.document.metadata"],
        r#"{"name":"FAQ \"delivery\""}"#
    );

    let (embed, a) = by_name(&spans, "embed_query");
    assert_eq!(embed.name, "embeddings text-embedding-3-small");
    assert_eq!(a["openinference.span.kind"], "EMBEDDING");
    assert_eq!(a["embedding.model_name"], "text-embedding-3-small");
    assert_eq!(a["embedding.embeddings.0.embedding.text"], "delivery");

    let (failed, a) = by_name(&spans, "format");
    assert_eq!(failed.name, "format");
    assert!(!a.contains_key("gen_ai.operation.name"));
    assert_eq!(a["error.type"], "FormatError");
    let status = failed.status.as_ref().expect("status");
    assert_eq!((status.code, status.message.as_str()), (2, "bad template"));
    let ev = &failed.events[0];
    assert_eq!(ev.name, "exception");
    assert_eq!(attrs(&ev.attributes)["exception.message"], "bad template");
}

#[test]
fn evaluations_go_to_the_logs_endpoint_as_genai_evaluation_events() {
    let intake = Intake::start();
    let exporter = Exporter::start(config(&intake)).expect("start");
    exporter.send_evaluation(EvaluationMetric {
        label: "helpfulness".into(),
        value: EvaluationValue::Score(serde_json::Number::from_f64(0.9).unwrap()),
        join_on: JoinOn::Span(ExportedSpan {
            span_id: "42".into(),
            trace_id: "6b02447200000000000000000000002a".into(),
        }),
        ml_app: "otlp-app".into(),
        timestamp_ms: 1_700_000_000_000,
        tags: vec![],
        eval_scope: EvalScope::Span,
        assessment: None,
        reasoning: Some("answered the question".into()),
        metadata: None,
        submitter: None,
    });
    let report = exporter.flush(FLUSH);
    assert_eq!((report.delivered, report.dropped), (1, 0), "{report:?}");
    let req = intake.requests().pop().unwrap();
    assert_eq!(req.path, "/v1/logs");
    let logs = ExportLogsServiceRequest::decode(req.body.as_slice()).expect("protobuf");
    let rec = &logs.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(rec.event_name, "gen_ai.evaluation.result");
    assert_eq!(rec.span_id, 42u64.to_be_bytes());
    assert_eq!(
        rec.trace_id,
        0x6b02447200000000000000000000002au128.to_be_bytes()
    );
    let a = attrs(&rec.attributes);
    assert_eq!(a["gen_ai.evaluation.name"], "helpfulness");
    assert_eq!(a["gen_ai.evaluation.score.value"], "0.9");
    assert_eq!(a["gen_ai.evaluation.explanation"], "answered the question");
}

#[test]
fn retries_like_every_destination_and_counts_partial_success() {
    let intake = Intake::start();
    let rejected_one = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "span too old".into(),
        }),
    }
    .encode_to_vec();
    intake.script([
        Reply::Status(502),
        Reply::RetryAfter(429, "0"),
        Reply::Body(200, rejected_one),
        Reply::Status(400),
    ]);
    let exporter = Exporter::start(config(&intake)).expect("start");
    exporter.send_spans(chat_trace());
    let report = exporter.flush(FLUSH);
    assert_eq!((report.delivered, report.dropped), (7, 1), "{report:?}");
    let stats = exporter.stats();
    assert_eq!(stats.spans_dropped.payload_rejected, 1);
    assert_eq!(stats.retries, 2);
    // A 400 is not retried: the next trace is dropped after one attempt.
    exporter.send_spans(chat_trace());
    let report = exporter.flush(FLUSH);
    assert_eq!(report.dropped, 8, "{report:?}");
    assert_eq!(intake.requests().len(), 4);
}

#[test]
fn gzip_and_json_when_configured() {
    let intake = Intake::start();
    let exporter = Exporter::start(
        config(&intake)
            .otlp_gzip(true)
            .otlp_protocol(OtlpProtocol::HttpJson)
            .otlp_header("dd-otlp-source", "llmobs")
            .otlp_service_name("store")
            .otlp_resource_attribute("openinference.project.name", "furnish"),
    )
    .expect("start");
    exporter.send_spans(chat_trace());
    exporter.send_spans(chat_trace());
    let report = exporter.flush(FLUSH);
    assert_eq!(report.delivered, 16, "{report:?}");
    let req = intake.requests().pop().unwrap();
    assert_eq!(req.header("content-encoding"), Some("gzip"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("dd-otlp-source"), Some("llmobs"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(req.body.as_slice())
        .read_to_string(&mut text)
        .expect("gzip");
    let body: Value = serde_json::from_str(&text).expect("OTLP/JSON");
    let rs = body["resourceSpans"].as_array().expect("resourceSpans");
    assert_eq!(rs.len(), 2, "one resource per trace, both in one request");
    let res = &rs[0]["resource"]["attributes"];
    assert_eq!(res[0]["key"], "service.name");
    assert_eq!(res[0]["value"]["stringValue"], "store");
    assert_eq!(res[1]["key"], "openinference.project.name");
    assert_eq!(res[1]["value"]["stringValue"], "furnish");
    let span = &rs[0]["scopeSpans"][0]["spans"][0];
    // OTLP/JSON ids are hex, not base64.
    assert_eq!(span["traceId"].as_str().unwrap().len(), 32);
    assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
}

#[test]
fn beside_the_datadog_destination_both_get_every_span() {
    let datadog = Intake::start();
    let otlp = Intake::start();
    let exporter =
        Exporter::start(config(&otlp).mode(Mode::Agent).agent_url(datadog.url())).expect("start");
    exporter.send_spans(chat_trace());
    let report = exporter.flush(FLUSH);
    assert_eq!(report.delivered, 8, "{report:?}");
    assert_eq!(datadog.span_events().len(), 8);
    assert_eq!(decode_traces(&otlp).len(), 8);
}

#[test]
fn an_otlp_endpoint_alone_needs_no_datadog_settings() {
    let otlp = Intake::start();
    // Nothing of Datadog's is set and no Agent answers at the probed address.
    let closed = common::closed_port_url();
    let exporter = Exporter::start(
        Config::from_lookup(|v| match v {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(otlp.url()),
            "OTEL_SERVICE_NAME" => Some("otlp-app".into()),
            _ => None,
        })
        .unwrap()
        .probe_agent_at(closed)
        .interval(Duration::from_secs(3600)),
    )
    .expect("start");
    exporter.send_spans(chat_trace());
    assert_eq!(exporter.flush(FLUSH).delivered, 8);
    assert_eq!(exporter.mode(), Some(Mode::Otlp));
    assert_eq!(otlp.requests()[0].path, "/v1/traces");
}

#[test]
fn bad_otlp_settings_are_refused_with_what_to_do() {
    let e = Exporter::start(Config::default().mode(Mode::Otlp)).unwrap_err();
    assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{e}");
    let e = Exporter::start(Config::default().otlp_endpoint("localhost:4318")).unwrap_err();
    assert!(e.to_string().contains("http://"), "{e}");
}
