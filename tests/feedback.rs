//! `submit_feedback`: targets, validation in the reference's order, defaults, and that feedback
//! reaches the test capture beside evaluations (the wire layout is checked against the reference
//! capture in llmobs-exporter's golden tests).

use llmobs::testing::Capture;
use llmobs::{
    Assessment, EvaluationValue, ExportedSpan, Feedback, FeedbackError, JoinOn, Submitter,
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

fn user() -> Submitter {
    Submitter::new("user-1").kind("end_user")
}

#[test]
fn every_target_and_value_type_reaches_the_capture() {
    let (answer, cap) = under_capture(|| {
        let answer = {
            let _chat = llmobs::llm("chat").start();
            llmobs::export_span(None).unwrap()
        };
        let sent = [
            Feedback::boolean("thumbs", true)
                .submitter(user())
                .span(&answer),
            Feedback::score("rating", 4)
                .submitter(user())
                .trace_id(answer.trace_id.clone()),
            Feedback::categorical("mood", "happy")
                .submitter(user())
                .session_id("s-1"),
            Feedback::json("form", json!({"a": 1}))
                .submitter(user())
                .join_key("order-9"),
            Feedback::text("comment", "thanks")
                .submitter(user())
                .span_id("77"),
        ];
        for f in sent {
            llmobs::submit_feedback(f).unwrap();
        }
        answer
    });
    let got = cap.evaluations();
    assert_eq!(got.len(), 5);
    // A span target sends its id alone, as the reference does.
    assert_eq!(got[0].join_on, JoinOn::SpanId(answer.span_id.clone()));
    assert_eq!(got[1].join_on, JoinOn::TraceId(answer.trace_id.clone()));
    assert_eq!(got[2].join_on, JoinOn::SessionId("s-1".into()));
    assert_eq!(got[3].join_on, JoinOn::FeedbackJoinKey("order-9".into()));
    assert_eq!(got[4].join_on, JoinOn::SpanId("77".into()));
    let types: Vec<&str> = got.iter().map(|m| m.value.metric_type()).collect();
    assert_eq!(types, ["boolean", "score", "categorical", "json", "text"]);
    assert_eq!(got[4].value, EvaluationValue::Text("thanks".into()));
    for m in &got {
        assert_eq!(m.submitter.as_ref(), Some(&user()));
        assert_eq!(m.metadata, None);
    }
}

#[test]
fn defaults_ml_app_tags_and_timestamp() {
    let before = llmobs_core::now_epoch_ns() / 1_000_000;
    let ((), cap) = under_capture(|| {
        // Feedback does not take the ml_app of the span it is submitted in: it usually arrives
        // outside the request, and the reference uses the configured ml_app.
        let _wf = llmobs::workflow("wf").ml_app("other-app").start();
        llmobs::submit_feedback(
            Feedback::boolean("thumbs", false)
                .submitter(Submitter::new("u"))
                .span_id("1")
                .tag("source", "web")
                .tag("n", 1)
                .timestamp_ms(0)
                .assessment(Assessment::Fail)
                .reasoning("wrong size"),
        )
        .unwrap();
        llmobs::submit_feedback(
            Feedback::boolean("thumbs", true)
                .submitter(Submitter::new("u"))
                .span_id("1")
                .ml_app("feedback-app")
                .timestamp_ms(1_700_000_000_000),
        )
        .unwrap();
    });
    let got = cap.evaluations();
    let configured = llmobs_core::default_ml_app().to_string();
    assert_eq!(got[0].ml_app, configured);
    assert_eq!(
        got[0].tags,
        [
            format!("ml_app:{configured}"),
            "source:web".into(),
            "n:1".into()
        ]
    );
    // 0 means now, as in the reference.
    assert!(got[0].timestamp_ms >= before, "{}", got[0].timestamp_ms);
    assert_eq!(got[0].assessment, Some(Assessment::Fail));
    assert_eq!(got[0].reasoning.as_deref(), Some("wrong size"));
    assert_eq!(got[0].submitter.as_ref().unwrap().kind, None);
    assert_eq!(got[1].ml_app, "feedback-app");
    assert_eq!(got[1].tags, ["ml_app:feedback-app"]);
    assert_eq!(got[1].timestamp_ms, 1_700_000_000_000);
}

#[test]
fn invalid_feedback_is_rejected_with_advice_and_sends_nothing() {
    let ok = || {
        Feedback::boolean("thumbs", true)
            .submitter(user())
            .span_id("1")
    };
    let cases: Vec<(Feedback, FeedbackError, &str)> = vec![
        (
            Feedback::boolean("x", true).submitter(user()),
            FeedbackError::TargetCount { given: 0 },
            "exactly one of .span",
        ),
        (
            ok().trace_id("2"),
            FeedbackError::TargetCount { given: 2 },
            "2 were given",
        ),
        (
            Feedback::boolean("x", true).submitter(user()).span_id(""),
            FeedbackError::EmptyTarget { target: "span_id" },
            "span_id is empty",
        ),
        (
            Feedback::boolean("x", true).submitter(user()).join_key(""),
            FeedbackError::EmptyTarget {
                target: "feedback_join_key",
            },
            "feedback_join_key is empty",
        ),
        (
            Feedback::boolean("x", true).span_id("1"),
            FeedbackError::NoSubmitter,
            ".submitter(Submitter::new",
        ),
        (
            Feedback::boolean("x", true)
                .submitter(Submitter::new(""))
                .span_id("1"),
            FeedbackError::EmptySubmitterId,
            "submitter id is empty",
        ),
        (
            Feedback::boolean("", true).submitter(user()).span_id("1"),
            FeedbackError::EmptyLabel,
            "label is empty",
        ),
        (
            Feedback::boolean("a.b", true)
                .submitter(user())
                .span_id("1"),
            FeedbackError::LabelContainsDot {
                label: "a.b".into(),
            },
            "use '_' instead",
        ),
        (
            Feedback::score("x", f64::NAN)
                .submitter(user())
                .span_id("1"),
            FeedbackError::NonFiniteScore { value: f64::NAN },
            "finite",
        ),
        (
            Feedback::json("x", json!([1]))
                .submitter(user())
                .span_id("1"),
            FeedbackError::JsonNotObject,
            "JSON object",
        ),
    ];
    let ((), cap) = under_capture(|| {
        for (feedback, expected, advice) in cases {
            let err = llmobs::submit_feedback(feedback).unwrap_err();
            match (&err, &expected) {
                // NaN is not equal to itself.
                (FeedbackError::NonFiniteScore { value }, FeedbackError::NonFiniteScore { .. }) => {
                    assert!(value.is_nan())
                }
                _ => assert_eq!(err, expected),
            }
            assert!(err.to_string().contains(advice), "{err}");
        }
    });
    assert!(cap.evaluations().is_empty());
}

#[test]
fn with_nothing_recorded_feedback_is_accepted_and_dropped() {
    // LLM Observability is off in this test process and no capture is in scope.
    llmobs::submit_feedback(Feedback::boolean("thumbs", true).span_id("1")).unwrap();
    // A span that was not recorded: accepted and dropped under a capture too.
    let unrecorded = ExportedSpan {
        span_id: String::new(),
        trace_id: String::new(),
    };
    let ((), cap) = under_capture(|| {
        llmobs::submit_feedback(
            Feedback::boolean("thumbs", true)
                .submitter(user())
                .span(&unrecorded),
        )
        .unwrap();
    });
    assert!(cap.evaluations().is_empty());
}
