//! `export_span` and `submit_evaluation`: ids in the reference's format, validation, ml_app
//! resolution, tag order, and delivery to a test capture or the installed sink.

use std::sync::{Arc, Mutex};

use llmobs::testing::Capture;
use llmobs::{
    Assessment, EvalScope, Evaluation, EvaluationError, EvaluationMetric, EvaluationValue,
    ExportError, ExportedSpan, JoinOn,
};
use serde_json::json;

fn under_capture<R>(f: impl FnOnce() -> R) -> (R, Capture) {
    let cap = Capture::new();
    let r = {
        let _g = cap.context().attach();
        f()
    };
    (r, cap)
}

#[test]
fn export_span_gives_decimal_span_id_and_hex_trace_id() {
    let (exported, cap) = under_capture(|| {
        let _wf = llmobs::workflow("wf").start();
        let _chat = llmobs::llm("chat").start();
        llmobs::export_span(None).unwrap()
    });
    let chat = &cap.spans()[1];
    assert_eq!(exported.span_id, chat.span_id.0.to_string());
    assert_eq!(exported.trace_id, format!("{:032x}", chat.trace_id.0));
    assert_eq!(
        serde_json::to_value(&exported).unwrap(),
        json!({"span_id": exported.span_id, "trace_id": exported.trace_id})
    );
}

#[test]
fn export_span_of_a_given_span() {
    under_capture(|| {
        let wf = llmobs::workflow("wf").start();
        let current = {
            let _t = llmobs::task("t").start();
            llmobs::export_span(None).unwrap()
        };
        let outer = llmobs::export_span(Some(&wf)).unwrap();
        assert_ne!(current.span_id, outer.span_id);
        assert_eq!(current.trace_id, outer.trace_id);
        let bg = llmobs::task("bg").start_detached();
        let from_thread = std::thread::scope(|s| {
            s.spawn(|| llmobs::export_span(Some(&bg)).unwrap())
                .join()
                .unwrap()
        });
        assert_eq!(from_thread.trace_id, outer.trace_id);
    });
}

#[test]
fn export_span_errors_say_what_to_do() {
    under_capture(|| {
        let err = llmobs::export_span(None).unwrap_err();
        assert_eq!(err, ExportError::NoActiveSpan);
        assert!(err.to_string().contains("Some(&span)"), "{err}");
    });
    // A span that is not recorded has empty ids, which evaluations accept and drop.
    let ids = llmobs::export_span(Some(&llmobs::Span::noop())).unwrap();
    assert!(!ids.is_recorded());
    let ((), cap) = under_capture(|| {
        llmobs::submit_evaluation(Evaluation::score("x", 1).span(&ids)).unwrap();
    });
    assert!(cap.evaluations().is_empty());
}

#[test]
fn each_metric_type_reaches_the_capture() {
    let ((), cap) = under_capture(|| {
        let _chat = llmobs::llm("chat").ml_app("furnish-hub").start();
        let span = llmobs::export_span(None).unwrap();
        llmobs::submit_evaluation(
            Evaluation::score("harmfulness", 10)
                .span(&span)
                .tag("evaluator", "custom")
                .tag("ver", 2),
        )
        .unwrap();
        llmobs::submit_evaluation(Evaluation::categorical("sentiment", "positive").span(&span))
            .unwrap();
        llmobs::submit_evaluation(Evaluation::boolean("grounded", true).span(&span)).unwrap();
        llmobs::submit_evaluation(
            Evaluation::json("checks", json!({"a": 1, "b": [1, 2]})).span(&span),
        )
        .unwrap();
    });
    let evals = cap.evaluations();
    assert_eq!(evals.len(), 4);
    let types: Vec<_> = evals.iter().map(|e| e.value.metric_type()).collect();
    assert_eq!(types, ["score", "categorical", "boolean", "json"]);
    let first = &evals[0];
    assert_eq!(first.label, "harmfulness");
    assert_eq!(
        first.value,
        EvaluationValue::Score(serde_json::Number::from(10))
    );
    assert_eq!(first.ml_app, "furnish-hub", "the current span's ml_app");
    assert_eq!(
        first.tags,
        ["ml_app:furnish-hub", "evaluator:custom", "ver:2"],
        "ml_app first, then user tags in insertion order"
    );
    assert_eq!(first.eval_scope, EvalScope::Span);
    assert!(matches!(&first.join_on, JoinOn::Span(ExportedSpan { .. })));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(first.timestamp_ms.abs_diff(now_ms) < 60_000);
    assert_eq!(
        evals[3].value,
        EvaluationValue::Json(json!({"a": 1, "b": [1, 2]}))
    );
}

#[test]
fn optional_fields_and_tag_joins() {
    let ((), cap) = under_capture(|| {
        llmobs::submit_evaluation(
            Evaluation::score("quality", 0.75)
                .join_tag("conv", "c-1")
                .ml_app("eval-app")
                .timestamp_ms(1_700_000_000_000)
                .assessment(Assessment::Pass)
                .reasoning("looks fine")
                .metadata("judge", "gpt")
                .metadata("n", 1)
                .eval_scope(EvalScope::Trace),
        )
        .unwrap();
    });
    let e: &EvaluationMetric = &cap.evaluations()[0];
    assert_eq!(
        e.join_on,
        JoinOn::Tag {
            key: "conv".into(),
            value: "c-1".into()
        }
    );
    assert_eq!(e.ml_app, "eval-app");
    assert_eq!(e.tags, ["ml_app:eval-app"]);
    assert_eq!(e.timestamp_ms, 1_700_000_000_000);
    assert_eq!(e.assessment, Some(Assessment::Pass));
    assert_eq!(e.reasoning.as_deref(), Some("looks fine"));
    assert_eq!(
        serde_json::Value::Object(e.metadata.clone().unwrap()),
        json!({"judge": "gpt", "n": 1})
    );
    assert_eq!(e.eval_scope, EvalScope::Trace);
}

#[test]
fn ml_app_falls_back_to_the_configured_default() {
    let ((), cap) = under_capture(|| {
        llmobs::submit_evaluation(Evaluation::boolean("ok", true).join_tag("k", "v")).unwrap();
    });
    // Nothing configured an ml_app in this test process: the reference's default applies.
    assert_eq!(cap.evaluations()[0].ml_app, "unnamed-ml-app");
}

#[test]
fn invalid_evaluations_are_rejected_with_advice() {
    let span = ExportedSpan {
        span_id: "1".into(),
        trace_id: "6b024472000000005f2fe6dfc0f4405d".into(),
    };
    let cases: Vec<(Evaluation, EvaluationError, &str)> = vec![
        (
            Evaluation::score("", 1).span(&span),
            EvaluationError::EmptyLabel,
            "name",
        ),
        (
            Evaluation::score("bad.label", 1).span(&span),
            EvaluationError::LabelContainsDot {
                label: "bad.label".into(),
            },
            "'_'",
        ),
        (
            Evaluation::score("x", 1),
            EvaluationError::NoJoin,
            "export_span",
        ),
        (
            Evaluation::score("x", 1).span(&span).join_tag("k", "v"),
            EvaluationError::BothJoins,
            "exactly one",
        ),
        (
            Evaluation::score("x", f64::NAN).span(&span),
            EvaluationError::NonFiniteScore { value: f64::NAN },
            "finite",
        ),
        (
            Evaluation::json("x", json!([1, 2])).span(&span),
            EvaluationError::JsonNotObject,
            "object",
        ),
        (
            Evaluation::score("x", 1).span(&ExportedSpan {
                span_id: "1".into(),
                trace_id: String::new(),
            }),
            EvaluationError::InvalidSpan,
            "export_span",
        ),
    ];
    let ((), cap) = under_capture(|| {
        for (eval, expected, advice) in cases {
            let err = llmobs::submit_evaluation(eval).unwrap_err();
            match (&err, &expected) {
                // NaN != NaN: compare the variant only.
                (
                    EvaluationError::NonFiniteScore { .. },
                    EvaluationError::NonFiniteScore { .. },
                ) => {}
                _ => assert_eq!(err, expected),
            }
            assert!(err.to_string().contains(advice), "{err}");
        }
        let bad: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = llmobs::submit_evaluation(
            Evaluation::boolean("x", true)
                .span(&span)
                .metadata("grid", bad),
        )
        .unwrap_err();
        assert!(matches!(err, EvaluationError::MetadataNotJson { ref key, .. } if key == "grid"));
    });
    assert!(
        cap.evaluations().is_empty(),
        "rejected evaluations are not sent"
    );
}

#[derive(Default)]
struct RecordingSink(Mutex<Vec<EvaluationMetric>>);

impl llmobs_core::Sink for RecordingSink {
    fn send_spans(&self, _spans: llmobs_core::SpanBatch) {}
    fn send_evaluation(&self, metric: EvaluationMetric) {
        self.0.lock().unwrap().push(metric);
    }
}

#[test]
fn outside_a_capture_evaluations_go_to_the_sink() {
    let sink = Arc::new(RecordingSink::default());
    let previous = llmobs_core::set_sink(Some(sink.clone()));
    llmobs_core::set_enabled(true);
    let r = llmobs::submit_evaluation(Evaluation::categorical("tone", "calm").join_tag("k", "v"));
    llmobs_core::set_enabled(false);
    llmobs_core::set_sink(previous);
    r.unwrap();
    let got = sink.0.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].label, "tone");
}
