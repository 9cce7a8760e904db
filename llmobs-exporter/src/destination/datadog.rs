//! The Datadog destination: span events and evaluation metrics, encoded exactly as the
//! reference SDK encodes them, through the Agent's EVP proxy or straight to the intake.

use llmobs_core::{EvaluationMetric, SpanEvent};

use crate::config::{Config, Mode};
use crate::destination::{Destination, Framing, Payload, PayloadKind, Payloads, Sent};
use crate::encode::{framing, Encoder};
use crate::retry::classify_status;
use crate::transport::Transport;

/// Sends to the Agent ([`Mode::Agent`]) or the intake ([`Mode::Agentless`]).
pub(crate) struct Datadog {
    encoder: Encoder,
    transport: Transport,
    mode: Mode,
}

impl Datadog {
    pub(crate) fn new(config: &Config, mode: Mode) -> Self {
        Datadog {
            encoder: Encoder::new(config),
            transport: Transport::new(config, mode),
            mode,
        }
    }
}

impl Destination for Datadog {
    fn name(&self) -> String {
        let what = match self.mode {
            Mode::Agentless => "the Datadog intake",
            _ => "the Datadog Agent",
        };
        format!("{what} ({})", self.transport.url(PayloadKind::Spans))
    }

    fn framing(&self, kind: PayloadKind) -> Framing {
        framing(kind)
    }

    fn take_spans(&mut self, spans: &[SpanEvent], out: &mut Payloads<'_>) {
        add_spans(&self.encoder, spans, out);
    }

    fn take_evaluation(&mut self, metric: &EvaluationMetric, out: &mut Payloads<'_>) {
        add_evaluation(&self.encoder, metric, out);
    }

    fn send(&mut self, payload: &Payload) -> Sent {
        self.transport
            .send(payload.kind, &payload.body)
            .into_sent(classify_status, |_| Sent::Delivered)
    }
}

/// Adds each span as the intake's event (local mode writes the same).
pub(crate) fn add_spans(encoder: &Encoder, spans: &[SpanEvent], out: &mut Payloads<'_>) {
    // With sampling rules, each trace's decision comes from its root's tags.
    let decisions = encoder.sampler.has_rules().then(|| {
        encoder.sampler.decide_roots(spans, |root, decide| {
            decide(&encoder.tag_pairs(root, encoder.ml_app_of(root), false))
        })
    });
    for span in spans {
        let sampling = decisions
            .as_ref()
            .and_then(|d| d.get(&span.trace_id).copied())
            .unwrap_or_else(|| encoder.sampler.global(span.apm_trace_id));
        let mut truncated = false;
        out.add(PayloadKind::Spans, |body| {
            truncated = encoder.encode_sampled_into(span, sampling, body);
        });
        if truncated {
            out.count_truncated();
        }
    }
}

/// Adds the evaluation as the intake's metric object.
pub(crate) fn add_evaluation(encoder: &Encoder, metric: &EvaluationMetric, out: &mut Payloads<'_>) {
    let json = encoder.encode_eval(metric);
    out.add(PayloadKind::Evaluations, |body| {
        body.extend_from_slice(&json)
    });
}
