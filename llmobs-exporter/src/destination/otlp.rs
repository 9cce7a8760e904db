//! The OTLP destination: spans as OTLP/HTTP `ExportTraceServiceRequest`s (protobuf, or
//! OTLP/JSON) to `{endpoint}/v1/traces`, evaluations as `gen_ai.evaluation.result` log records
//! to `{endpoint}/v1/logs`. The messages are `opentelemetry-proto`'s generated ones; the request
//! goes out with the same blocking HTTP client as the Datadog destination, from the pipeline's
//! thread, so no async runtime is involved.
//!
//! Each trace handed over becomes one `ResourceSpans` item (its spans under one resource, one
//! per ml_app in the rare trace that mixes them). Items are whole top-level fields of the
//! request message, so a body is their plain concatenation in protobuf, and the pipeline packs
//! as many traces as fit under the payload size limit into one request.

mod attributes;
mod convert;
mod proto;

use std::collections::BTreeMap;
use std::io::Write;

use llmobs_core::{EvaluationMetric, SpanEvent};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use crate::config::otlp::{OtlpProtocol, OtlpSettings, DEFAULT_TIMEOUT};
use crate::config::Config;
use crate::destination::{Destination, Framing, Payload, PayloadKind, Payloads, Sent};
use crate::retry::Verdict;
use crate::transport::{client, post};

use attributes::Scratch;
use convert::{kv, s};

/// Sends to an OTLP/HTTP receiver.
pub(crate) struct Otlp {
    http: ureq::Agent,
    traces_url: String,
    logs_url: Option<String>,
    headers: Vec<(String, String)>,
    protocol: OtlpProtocol,
    gzip: bool,
    /// `service.name` when it is set (`OTEL_SERVICE_NAME`, or in `OTEL_RESOURCE_ATTRIBUTES`);
    /// else each span's ml_app is.
    service_name: Option<String>,
    /// Whether the resource attributes name a Phoenix project; else the ml_app does.
    project_given: bool,
    /// The resource attributes every request carries, `service.name` aside.
    resource: Vec<KeyValue>,
    /// The configured ml_app, for spans that set none.
    ml_app: String,
    /// Evaluations joined on a tag have no span to go with: said once.
    warned_tag_join: bool,
    /// The encoded Resource message of each ml_app seen, and of the instrumentation scope.
    resources: BTreeMap<String, Vec<u8>>,
    scope: Vec<u8>,
    /// Buffers reused from trace to trace: attribute text, a span's name, the encoded spans of
    /// one trace and their lengths.
    scratch: Scratch,
    name: String,
    spans: Vec<u8>,
    lens: Vec<usize>,
}

impl Otlp {
    /// `None` when no endpoint is set.
    pub(crate) fn new(config: &Config) -> Option<Otlp> {
        let settings: &OtlpSettings = &config.otlp;
        let traces_url = settings.traces_url()?;
        let mut resource = Vec::new();
        let mut service_name = settings.service_name.clone();
        let mut project_given = false;
        for (k, v) in &settings.resource {
            match k.as_str() {
                "service.name" => {
                    service_name.get_or_insert_with(|| v.clone());
                }
                _ => {
                    project_given |= k == "openinference.project.name";
                    resource.push(kv(k.as_str(), s(v.as_str())));
                }
            }
        }
        let given = |key: &str| settings.resource.iter().any(|(k, _)| k == key);
        if !given("deployment.environment.name") {
            if let Some(env) = &config.env {
                resource.push(kv("deployment.environment.name", s(env.as_str())));
            }
        }
        if !given("service.version") {
            if let Some(v) = &config.version {
                resource.push(kv("service.version", s(v.as_str())));
            }
        }
        resource.push(kv("telemetry.sdk.name", s("llmobs")));
        resource.push(kv("telemetry.sdk.language", s("rust")));
        resource.push(kv("telemetry.sdk.version", s(env!("CARGO_PKG_VERSION"))));
        let timeout = settings.timeout.unwrap_or(DEFAULT_TIMEOUT);
        Some(Otlp {
            http: client(timeout).build().new_agent(),
            traces_url,
            logs_url: settings.logs_url(),
            headers: settings.headers.clone(),
            protocol: settings.protocol,
            gzip: settings.gzip,
            service_name,
            project_given,
            resource,
            ml_app: config.resolved_ml_app(),
            warned_tag_join: false,
            resources: BTreeMap::new(),
            scope: prost::Message::encode_to_vec(&convert::scope()),
            scratch: Scratch::default(),
            name: String::new(),
            spans: Vec::new(),
            lens: Vec::new(),
        })
    }

    /// The resource of spans and evaluations of `ml_app`.
    fn resource(&self, ml_app: &str) -> Resource {
        let mut attributes = Vec::with_capacity(self.resource.len() + 2);
        let service = self.service_name.as_deref().unwrap_or(ml_app);
        attributes.push(kv("service.name", s(service)));
        if !self.project_given {
            // Phoenix files traces by project: one per ml_app.
            attributes.push(kv("openinference.project.name", s(ml_app)));
        }
        attributes.extend(self.resource.iter().cloned());
        Resource {
            attributes,
            ..Default::default()
        }
    }

    fn write<M: prost::Message + serde::Serialize>(&self, item: &M, body: &mut Vec<u8>) {
        match self.protocol {
            // Field 1 of both request messages (`resource_spans`, `resource_logs`).
            OtlpProtocol::HttpProtobuf => prost::encoding::message::encode(1, item, body),
            _ => {
                // Serializing generated messages to memory cannot fail.
                let _ = serde_json::to_writer(body, item);
            }
        }
    }
}

impl Destination for Otlp {
    fn name(&self) -> String {
        format!("the OTLP receiver ({})", self.traces_url)
    }

    fn framing(&self, kind: PayloadKind) -> Framing {
        match (self.protocol, kind) {
            (OtlpProtocol::HttpProtobuf, _) => Framing::default(),
            (_, PayloadKind::Spans) => json_framing("resourceSpans"),
            (_, _) => json_framing("resourceLogs"),
        }
    }

    fn take_spans(&mut self, spans: &[SpanEvent], out: &mut Payloads<'_>) {
        let mut by_app: BTreeMap<&str, Vec<&SpanEvent>> = BTreeMap::new();
        for span in spans {
            let app = span.ml_app.as_deref().unwrap_or(&self.ml_app);
            by_app.entry(app).or_default().push(span);
        }
        for (app, spans) in by_app {
            let n = spans.len() as u64;
            if self.protocol == OtlpProtocol::HttpProtobuf {
                // Straight into the body (see `proto`).
                self.spans.clear();
                self.lens.clear();
                for span in spans {
                    let start = self.spans.len();
                    proto::write_span(span, &mut self.spans, &mut self.scratch, &mut self.name);
                    self.lens.push(self.spans.len() - start);
                }
                if !self.resources.contains_key(app) {
                    let resource = prost::Message::encode_to_vec(&self.resource(app));
                    self.resources.insert(app.to_owned(), resource);
                }
                let resource = &self.resources[app];
                let (scope, encoded, lens) = (&self.scope, &self.spans, &self.lens);
                out.add_group(PayloadKind::Spans, n, |body| {
                    proto::write_resource_spans(body, resource, scope, encoded, lens)
                });
                continue;
            }
            let spans = spans
                .into_iter()
                .map(|s| convert::span(s, &mut self.scratch))
                .collect();
            let item = ResourceSpans {
                resource: Some(self.resource(app)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(convert::scope()),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            };
            out.add_group(PayloadKind::Spans, n, |body| self.write(&item, body));
        }
    }

    fn take_evaluation(&mut self, metric: &EvaluationMetric, out: &mut Payloads<'_>) {
        if self.logs_url.is_none() {
            return;
        }
        let Some(record) = convert::evaluation(metric) else {
            // Feedback is declined too, by design (docs/otlp.md): the warning is for
            // evaluations that could be sent had they been joined on a span.
            if metric.submitter.is_none() && !self.warned_tag_join {
                self.warned_tag_join = true;
                log::warn!(
                    "llmobs: evaluations joined on a tag are not sent over OTLP (they have no \
                     span to attach to); join them on a span"
                );
            }
            return;
        };
        let app = if metric.ml_app.is_empty() {
            self.ml_app.clone()
        } else {
            metric.ml_app.clone()
        };
        let item = ResourceLogs {
            resource: Some(self.resource(&app)),
            scope_logs: vec![ScopeLogs {
                scope: Some(convert::scope()),
                log_records: vec![record],
                ..Default::default()
            }],
            ..Default::default()
        };
        out.add(PayloadKind::Evaluations, |body| self.write(&item, body));
    }

    fn send(&mut self, payload: &Payload) -> Sent {
        let url = match payload.kind {
            PayloadKind::Spans => &self.traces_url,
            _ => match &self.logs_url {
                Some(u) => u,
                None => return Sent::Delivered,
            },
        };
        let content_type = match self.protocol {
            OtlpProtocol::HttpProtobuf => "application/x-protobuf",
            _ => "application/json",
        };
        let mut req = self
            .http
            .post(url)
            .header("Content-Type", content_type)
            .header(
                "User-Agent",
                concat!("llmobs-rust/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let gzipped;
        let body: &[u8] = if self.gzip {
            req = req.header("Content-Encoding", "gzip");
            gzipped = gzip(&payload.body);
            &gzipped
        } else {
            &payload.body
        };
        post(req, body).into_sent(classify, |body| {
            match self.partial_success(payload.kind, body) {
                Some((rejected, reason)) if rejected > 0 => {
                    Sent::PartlyRejected { rejected, reason }
                }
                _ => Sent::Delivered,
            }
        })
    }
}

impl Otlp {
    /// What a successful response says was refused (OTLP `partial_success`), if anything.
    fn partial_success(&self, kind: PayloadKind, body: &[u8]) -> Option<(u64, String)> {
        if body.is_empty() {
            return None;
        }
        let (rejected, message) = match (self.protocol, kind) {
            (OtlpProtocol::HttpProtobuf, PayloadKind::Spans) => {
                let p = <ExportTraceServiceResponse as prost::Message>::decode(body)
                    .ok()?
                    .partial_success?;
                (p.rejected_spans, p.error_message)
            }
            (OtlpProtocol::HttpProtobuf, _) => {
                let p = <ExportLogsServiceResponse as prost::Message>::decode(body)
                    .ok()?
                    .partial_success?;
                (p.rejected_log_records, p.error_message)
            }
            (_, PayloadKind::Spans) => {
                let p = serde_json::from_slice::<ExportTraceServiceResponse>(body)
                    .ok()?
                    .partial_success?;
                (p.rejected_spans, p.error_message)
            }
            (_, _) => {
                let p = serde_json::from_slice::<ExportLogsServiceResponse>(body)
                    .ok()?
                    .partial_success?;
                (p.rejected_log_records, p.error_message)
            }
        };
        let reason = if message.is_empty() {
            "no reason given".to_owned()
        } else {
            message
        };
        Some((u64::try_from(rejected).unwrap_or(0), reason))
    }
}

/// The OTLP/HTTP rule: 429, 502, 503 and 504 are worth another attempt; any other failure
/// would fail again (a 400 is a body the receiver cannot take).
fn classify(code: u16) -> Verdict {
    match code {
        200..=299 => Verdict::Delivered,
        429 | 502 | 503 | 504 => Verdict::Retry,
        _ => Verdict::Reject,
    }
}

fn json_framing(field: &str) -> Framing {
    Framing {
        prefix: format!("{{\"{field}\":[").into_bytes(),
        separator: b",".to_vec(),
        suffix: b"]}".to_vec(),
        ..Framing::default()
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to memory cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}
