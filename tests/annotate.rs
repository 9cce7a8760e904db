//! `llmobs::annotate()`: what it records, what it rejects, and that a rejected annotation
//! leaves the span untouched.

use std::collections::HashMap;

use llmobs::testing::capture;
use llmobs::{
    AnnotateError, Document, Message, Prompt, SpanIo, SpanKind, ToolCall, ToolDefinition,
};
use serde_json::json;

#[test]
fn llm_span_records_everything() {
    let spans = capture(|| {
        let _chat = llmobs::llm("chat")
            .model_name("gpt-4o-mini")
            .model_provider("openai")
            .start();
        llmobs::annotate()
            .input_messages([Message::system("be brief"), Message::user("hi")])
            .output_messages([Message::assistant("").tool_calls([ToolCall::function(
                "lookup",
                json!({"sku": "S1"}),
            )
            .id("t1")])])
            .metadata("temperature", 0.7)
            .metric("input_tokens", 4)
            .metric("output_tokens", 6u64)
            .tag("host", "h1")
            .prompt(
                Prompt::template("Answer {{question}}")
                    .id("support")
                    .variable("question", "q"),
            )
            .tool_definitions([ToolDefinition::new("lookup").description("finds a sku")])
            .apply()
            .unwrap();
    });
    let s = &spans[0];
    let a = s.annotations();
    let input = s.input().and_then(SpanIo::as_messages).unwrap();
    assert_eq!(input.len(), 2);
    assert_eq!(input[1], Message::user("hi"));
    let output = s.output().and_then(SpanIo::as_messages).unwrap();
    assert_eq!(output[0].tool_calls[0].name, "lookup");
    assert_eq!(a.metadata["temperature"], json!(0.7));
    assert_eq!(s.metric("input_tokens"), Some(4.0));
    assert_eq!(a.metrics["input_tokens"], serde_json::Number::from(4));
    assert_eq!(s.metric("output_tokens"), Some(6.0));
    assert_eq!(s.tag("host"), Some("h1"));
    assert_eq!(a.prompt.as_ref().unwrap().id.as_deref(), Some("support"));
    assert!(a.prompt_annotated);
    assert_eq!(a.tool_definitions.len(), 1);
}

#[test]
fn metadata_metrics_and_tags_merge_across_calls() {
    let spans = capture(|| {
        let _t = llmobs::task("t").start();
        llmobs::annotate()
            .metadata("a", 1)
            .metadata("b", "x")
            .metric("m", 1)
            .tag("k", "v1")
            .apply()
            .unwrap();
        llmobs::annotate()
            .metadata("b", "y")
            .metric("m", 2.5)
            .tag("k", "v2")
            .tag("n", 7)
            .apply()
            .unwrap();
    });
    let a = spans[0].annotations();
    assert_eq!(a.metadata["a"], json!(1));
    assert_eq!(a.metadata["b"], json!("y"));
    assert_eq!(spans[0].metric("m"), Some(2.5));
    assert_eq!(spans[0].tag("k"), Some("v2"));
    assert_eq!(spans[0].tag("n"), Some("7"));
}

#[test]
fn a_later_annotation_keeps_what_it_does_not_replace() {
    let spans = capture(|| {
        let _chat = llmobs::llm("chat")
            .model_name("gpt-4o-mini")
            .model_provider("openai")
            .start();
        llmobs::annotate()
            .input_messages([Message::user("hi")])
            .output_messages([Message::assistant("draft")])
            .prompt(Prompt::template("Say {{x}}").id("p1"))
            .tool_definitions([ToolDefinition::new("lookup")])
            .metric("input_tokens", 3)
            .apply()
            .unwrap();
        llmobs::annotate()
            .output_messages([Message::assistant("final")])
            .metric("output_tokens", 5)
            .apply()
            .unwrap();
    });
    let s = &spans[0];
    let a = s.annotations();
    assert_eq!(s.model_name(), Some("gpt-4o-mini"));
    assert_eq!(s.model_provider(), Some("openai"));
    let input = s.input().and_then(SpanIo::as_messages).unwrap();
    assert_eq!(input, [Message::user("hi")]);
    let output = s.output().and_then(SpanIo::as_messages).unwrap();
    assert_eq!(output, [Message::assistant("final")]);
    assert_eq!(a.prompt.as_ref().unwrap().id.as_deref(), Some("p1"));
    assert!(a.prompt_annotated);
    assert_eq!(a.tool_definitions.len(), 1);
    assert_eq!(s.metric("input_tokens"), Some(3.0));
    assert_eq!(s.metric("output_tokens"), Some(5.0));

    let spans = capture(|| {
        let _chat = llmobs::llm("chat").start();
        llmobs::annotate()
            .tool_definitions([ToolDefinition::new("lookup")])
            .apply()
            .unwrap();
        llmobs::annotate()
            .tool_definitions(Vec::new())
            .apply()
            .unwrap();
    });
    assert!(spans[0].annotations().tool_definitions.is_empty());
}

#[test]
fn dotted_metric_keys_are_rewritten() {
    let spans = capture(|| {
        let _t = llmobs::task("t").start();
        llmobs::annotate().metric("a.b.c", 1).apply().unwrap();
    });
    assert_eq!(spans[0].metric("a_b_c"), Some(1.0));
    assert_eq!(spans[0].metric("a.b.c"), None);
}

#[test]
fn a_rejected_annotation_records_nothing() {
    let spans = capture(|| {
        let _t = llmobs::task("t").start();
        let err = llmobs::annotate()
            .input(&"kept out")
            .metadata("valid", true)
            .tag("valid", "yes")
            .metric("bad", f64::NAN)
            .apply()
            .unwrap_err();
        assert!(matches!(err, AnnotateError::NonFiniteMetric { ref key, .. } if key == "bad"));
        assert!(err.to_string().contains("finite"), "{err}");
    });
    let s = &spans[0];
    assert!(s.input().is_none());
    assert!(s.annotations().metadata.is_empty());
    assert_eq!(s.tag("valid"), None);
    assert_eq!(
        s.status(),
        "ok",
        "a failed annotation never marks the span as an error"
    );
}

#[test]
fn infinite_metrics_are_rejected() {
    capture(|| {
        let _t = llmobs::task("t").start();
        let err = llmobs::annotate()
            .metric("x", f32::INFINITY)
            .apply()
            .unwrap_err();
        assert!(matches!(err, AnnotateError::NonFiniteMetric { .. }));
    });
}

#[test]
fn messages_only_on_llm_spans() {
    for kind in SpanKind::ALL {
        capture(|| {
            let _s = llmobs::SpanBuilder::new(kind, "s").start();
            let r = llmobs::annotate()
                .input_messages([Message::user("hi")])
                .apply();
            let r2 = llmobs::annotate()
                .output_messages([Message::assistant("yo")])
                .apply();
            if kind == SpanKind::Llm {
                assert_eq!(r, Ok(()));
                assert_eq!(r2, Ok(()));
            } else {
                let err = r.unwrap_err();
                assert_eq!(
                    err,
                    AnnotateError::MessagesOnNonLlmSpan {
                        field: "input_messages",
                        kind
                    }
                );
                assert!(err.to_string().contains("`input`"), "{err}");
                assert!(matches!(
                    r2,
                    Err(AnnotateError::MessagesOnNonLlmSpan {
                        field: "output_messages",
                        ..
                    })
                ));
            }
        });
    }
}

#[test]
fn documents_only_where_the_kind_takes_them() {
    for kind in SpanKind::ALL {
        capture(|| {
            let _s = llmobs::SpanBuilder::new(kind, "s").start();
            let input = llmobs::annotate()
                .input_documents([Document::text("a")])
                .apply();
            let output = llmobs::annotate()
                .output_documents([Document::text("b").score(0.5)])
                .apply();
            assert_eq!(
                input.is_ok(),
                kind == SpanKind::Embedding,
                "{kind}: {input:?}"
            );
            assert_eq!(
                output.is_ok(),
                kind == SpanKind::Retrieval,
                "{kind}: {output:?}"
            );
            if let Err(e) = input {
                assert_eq!(
                    e,
                    AnnotateError::DocumentsOnWrongKind {
                        field: "input_documents",
                        kind,
                        expected: SpanKind::Embedding
                    }
                );
            }
        });
    }
}

#[test]
fn values_follow_the_span_kind() {
    let spans = capture(|| {
        {
            let _l = llmobs::llm("chat").start();
            llmobs::annotate()
                .input(&"hello")
                .output(&json!([{"role": "assistant", "content": "hi"}]))
                .apply()
                .unwrap();
        }
        {
            let _e = llmobs::embedding("embed").start();
            llmobs::annotate()
                .input(&json!(["a", {"text": "b"}]))
                .output(&[0.1, 0.2])
                .apply()
                .unwrap();
        }
        {
            let _r = llmobs::retrieval("search").start();
            llmobs::annotate()
                .input(&"sofa")
                .output(&json!([{"text": "doc", "score": 0.9, "id": "d1"}]))
                .apply()
                .unwrap();
        }
        {
            let _w = llmobs::workflow("wf").start();
            llmobs::annotate()
                .input(&json!({"q": 1}))
                .output(&"text")
                .apply()
                .unwrap();
        }
    });
    assert_eq!(
        spans[0].input().and_then(SpanIo::as_messages).unwrap(),
        [Message::new("", "hello")]
    );
    assert_eq!(
        spans[0].output().and_then(SpanIo::as_messages).unwrap()[0].role,
        "assistant"
    );
    assert_eq!(
        spans[1]
            .input()
            .and_then(SpanIo::as_documents)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(spans[1].output_text().as_deref(), Some("[0.1, 0.2]"));
    assert_eq!(spans[2].input_text().as_deref(), Some("sofa"));
    let docs = spans[2].output().and_then(SpanIo::as_documents).unwrap();
    assert_eq!(docs[0].id.as_deref(), Some("d1"));
    assert_eq!(spans[3].input_text().as_deref(), Some(r#"{"q": 1}"#));
    assert_eq!(spans[3].output_text().as_deref(), Some("text"));
}

#[test]
fn values_that_do_not_fit_the_kind_are_rejected() {
    capture(|| {
        let _l = llmobs::llm("chat").start();
        let err = llmobs::annotate()
            .input(&json!([{"role": "user", "content": 5}]))
            .apply()
            .unwrap_err();
        assert!(matches!(
            err,
            AnnotateError::InvalidIo {
                field: "input",
                kind: SpanKind::Llm,
                ..
            }
        ));
        assert!(err.to_string().contains("input_messages"), "{err}");
        assert!(llmobs::annotate().input(&123).apply().is_err());
    });
    capture(|| {
        let _e = llmobs::embedding("e").start();
        assert!(llmobs::annotate().input(&[1, 2]).apply().is_err());
    });
    capture(|| {
        let _r = llmobs::retrieval("r").start();
        let err = llmobs::annotate()
            .output(&json!([{"text": "a", "score": "high"}]))
            .apply()
            .unwrap_err();
        assert!(err.to_string().contains("score"), "{err}");
    });
}

#[test]
fn no_active_span_says_to_use_apply_to() {
    capture(|| {
        let err = llmobs::annotate().tag("a", "b").apply().unwrap_err();
        assert_eq!(err, AnnotateError::NoActiveSpan);
        assert!(err.to_string().contains("apply_to"), "{err}");
    });
}

#[test]
fn annotating_with_the_sdk_off_is_a_no_op() {
    // No capture and no init(): nothing is recorded, and instrumented code must not fail.
    assert_eq!(llmobs::annotate().tag("a", "b").apply(), Ok(()));
    assert_eq!(
        llmobs::annotate()
            .tag("a", "b")
            .apply_to(&llmobs::Span::noop()),
        Ok(())
    );
}

#[test]
fn prompts_need_exactly_one_template() {
    capture(|| {
        let _l = llmobs::llm("chat").start();
        let mut both = Prompt::template("a");
        both.chat_template = Some(vec![Message::system("b")]);
        let err = llmobs::annotate().prompt(both).apply().unwrap_err();
        assert!(matches!(err, AnnotateError::InvalidPrompt { .. }));
        assert!(err.to_string().contains("exactly one"), "{err}");
        let err = llmobs::annotate()
            .prompt(Prompt::default())
            .apply()
            .unwrap_err();
        assert!(matches!(err, AnnotateError::InvalidPrompt { .. }));
        llmobs::annotate()
            .prompt(Prompt::chat_template([Message::system(
                "You are {{persona}}",
            )]))
            .apply()
            .unwrap();
    });
}

#[test]
fn a_prompt_on_another_kind_is_recorded_for_the_exporter_to_drop() {
    let spans = capture(|| {
        let _t = llmobs::task("t").start();
        llmobs::annotate()
            .prompt(Prompt::template("x"))
            .apply()
            .unwrap();
    });
    assert!(spans[0].annotations().prompt_annotated);
}

#[test]
fn tool_definitions_without_a_name_are_skipped() {
    let spans = capture(|| {
        let _l = llmobs::llm("chat").start();
        llmobs::annotate()
            .tool_definitions([
                ToolDefinition::new("a"),
                ToolDefinition::new(""),
                ToolDefinition::new("b"),
            ])
            .apply()
            .unwrap();
    });
    let names: Vec<_> = spans[0]
        .annotations()
        .tool_definitions
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn reserved_and_unserializable_metadata_are_rejected() {
    capture(|| {
        let _t = llmobs::task("t").start();
        let err = llmobs::annotate().metadata("_dd", 1).apply().unwrap_err();
        assert_eq!(err, AnnotateError::ReservedMetadataKey);
        let bad: HashMap<(i32, i32), i32> = HashMap::from([((1, 2), 3)]);
        let err = llmobs::annotate()
            .metadata("grid", &bad)
            .apply()
            .unwrap_err();
        assert!(matches!(err, AnnotateError::NotSerializable { .. }));
        assert!(err.to_string().contains("grid"), "{err}");
    });
}

#[test]
fn apply_to_a_span_that_is_not_the_current_one() {
    let spans = capture(|| {
        let outer = llmobs::workflow("outer").start();
        let _inner = llmobs::task("inner").start();
        llmobs::annotate()
            .tag("who", "outer")
            .apply_to(&outer)
            .unwrap();
        llmobs::annotate().tag("who", "inner").apply().unwrap();
    });
    assert_eq!(spans[0].tag("who"), Some("outer"));
    assert_eq!(spans[1].tag("who"), Some("inner"));
}

#[test]
fn apply_to_a_detached_span_from_another_thread() {
    let spans = capture(|| {
        let bg = llmobs::task("bg").start_detached();
        std::thread::scope(|s| {
            s.spawn(|| {
                llmobs::annotate().output(&"done").apply_to(&bg).unwrap();
                // This thread has no current span of its own.
                assert_eq!(
                    llmobs::annotate().tag("a", "b").apply(),
                    Ok(()),
                    "no capture in scope on this thread: a no-op"
                );
            });
        });
        bg.in_scope(|| llmobs::annotate().tag("entered", "yes").apply().unwrap());
        bg.finish();
    });
    assert_eq!(spans[0].output_text().as_deref(), Some("done"));
    assert_eq!(spans[0].tag("entered"), Some("yes"));
}

#[test]
fn explicit_io_wins_over_automatic_capture() {
    let spans = capture(|| {
        let t = llmobs::task("t").start();
        llmobs::annotate()
            .input(&"explicit in")
            .output(&"explicit out")
            .apply()
            .unwrap();
        let mut args = llmobs::__private::CapturedArgs::new();
        args.arg("x", Some(json!(1)));
        t.record_input(args);
        t.record_outcome(&(), |_, want_output| {
            assert!(
                !want_output,
                "automatic capture is skipped after an explicit output"
            );
            llmobs::__private::Outcome::output(Some(json!("auto")))
        });
    });
    assert_eq!(spans[0].input_text().as_deref(), Some("explicit in"));
    assert_eq!(spans[0].output_text().as_deref(), Some("explicit out"));
}

mod properties {
    use proptest::prelude::*;

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Whatever the strings and numbers, annotating returns a value (never panics), and it
        /// fails exactly when the reference would refuse the data.
        #[test]
        fn arbitrary_annotations_never_panic(
            kind in 0usize..7,
            key in ".{0,20}",
            text in ".{0,60}",
            value in number(),
        ) {
            let kind = llmobs::SpanKind::ALL[kind];
            let spans = llmobs::testing::capture(|| {
                let _s = llmobs::SpanBuilder::new(kind, "s").start();
                let r = llmobs::annotate()
                    .input(&text)
                    .output(&text)
                    .metadata(key.clone(), &text)
                    .metric(key.clone(), value)
                    .tag(key.clone(), &text)
                    .apply();
                let should_fail = key == "_dd" || !value.is_finite();
                assert_eq!(r.is_err(), should_fail, "{r:?}");
            });
            prop_assert_eq!(spans.len(), 1);
        }

        #[test]
        fn arbitrary_evaluations_never_panic(label in ".{0,20}", text in ".{0,40}", value in number()) {
            let cap = llmobs::testing::Capture::new();
            let _g = cap.context().attach();
            let r = llmobs::submit_evaluation(
                llmobs::Evaluation::score(label.clone(), value).join_tag(text.clone(), text.clone()).tag(&text, &text),
            );
            let should_fail = label.is_empty() || label.contains('.') || !value.is_finite();
            prop_assert_eq!(r.is_err(), should_fail);
        }
    }
}

#[test]
fn a_non_finite_document_score_is_an_error_and_records_nothing() {
    let spans = llmobs::testing::capture(|| {
        let _r = llmobs::retrieval("search").start();
        let err = llmobs::annotate()
            .output_documents([llmobs::Document::text("a").score(f64::NAN)])
            .apply()
            .unwrap_err();
        assert!(
            matches!(err, llmobs::AnnotateError::NonFiniteScore { index: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("finite"));
    });
    assert!(spans[0].output().is_none());
}

/// Under `capture()` the outermost span hangs off the capture's context and has a full record
/// from the start; the spans under it are slots, which is what these tests annotate.
#[test]
fn annotations_held_in_a_slot_survive_the_record_being_built_later() {
    let spans = capture(|| {
        let _outer = llmobs::workflow("outer").start();
        let _root = llmobs::workflow("root").start();
        llmobs::annotate().metric("m", 1).apply().unwrap();
        {
            let _step = llmobs::task(format!("step-{}", 1)).start();
            llmobs::annotate().output(&"done").apply().unwrap();
            {
                let _leaf = llmobs::agent("leaf").start();
            }
        }
        // A session needs the root's full record: what its slot held moves into it.
        llmobs::annotate()
            .session_id("s-1")
            .tag("k", "v")
            .apply()
            .unwrap();
        let err = llmobs::annotate()
            .metric("m", f64::NAN)
            .apply()
            .unwrap_err();
        assert!(matches!(err, AnnotateError::NonFiniteMetric { .. }));
    });
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    let (root, step, leaf) = (by_name("root"), by_name("step-1"), by_name("leaf"));
    assert_eq!(root.metric("m"), Some(1.0));
    assert_eq!(root.tag("k"), Some("v"));
    assert_eq!(root.session_id.as_deref(), Some("s-1"));
    assert_eq!(step.output_text().as_deref(), Some("done"));
    assert_eq!(step.parent_id, Some(root.span_id));
    assert_eq!(leaf.parent_id, Some(step.span_id));
    assert_eq!(step.trace_id, root.trace_id);
    // Finished before the session was set: they keep what they had, as in the reference.
    assert_eq!(step.session_id, None);
}

#[test]
fn a_span_named_at_run_time_inherits_what_its_ancestors_hold_when_it_finishes() {
    let spans = capture(|| {
        let _outer = llmobs::workflow("outer").start();
        let root = llmobs::workflow("root").start();
        {
            let _step = llmobs::task(format!("step-{}", 2)).start();
            llmobs::annotate()
                .session_id("s-2")
                .apply_to(&root)
                .unwrap();
            let _child = llmobs::tool("child").start();
        }
        root.finish();
    });
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    assert_eq!(by_name("step-2").session_id.as_deref(), Some("s-2"));
    assert_eq!(by_name("child").session_id.as_deref(), Some("s-2"));
    assert_eq!(by_name("child").parent_id, Some(by_name("step-2").span_id));
}

#[test]
fn explicit_output_in_a_slot_stops_automatic_capture_and_a_spare_box_carries_nothing() {
    #[llmobs::task]
    fn answer() -> &'static str {
        llmobs::annotate().output(&"explicit").apply().unwrap();
        "returned"
    }
    let spans = capture(|| {
        let _outer = llmobs::workflow("outer").start();
        {
            // Its first annotation empties the model box, which the thread keeps.
            let _chat = llmobs::llm("chat").model_name("m").start();
            llmobs::annotate()
                .metric("input_tokens", 1)
                .apply()
                .unwrap();
        }
        answer();
        let _t = llmobs::task("after").start();
        llmobs::annotate().metric("n", 2).apply().unwrap();
    });
    let by_name = |n: &str| spans.iter().find(|s| s.name == n).unwrap();
    assert_eq!(by_name("chat").model_name(), Some("m"));
    assert_eq!(by_name("chat").metric("input_tokens"), Some(1.0));
    assert_eq!(by_name("answer").output_text().as_deref(), Some("explicit"));
    let after = by_name("after");
    assert_eq!(after.model_name(), None);
    assert_eq!(after.metric("input_tokens"), None);
    assert_eq!(after.annotations().metrics.len(), 1);
}

#[test]
fn a_model_span_keeps_its_model_with_or_without_annotations() {
    let spans = capture(|| {
        {
            let _bare = llmobs::llm("bare").model_name("m1").start();
        }
        let _chat = llmobs::embedding("embed")
            .model_name("m2")
            .model_provider("Acme")
            .start();
        llmobs::annotate()
            .input_documents([Document::text("a")])
            .apply()
            .unwrap();
    });
    assert_eq!(spans[0].model_name(), Some("m1"));
    assert_eq!(spans[0].model_provider(), Some("unknown"));

    // With a session override the span has a full record from the start; the model is kept
    // through its annotation all the same.
    let with_session = capture(|| {
        let _outer = llmobs::workflow("outer").start();
        let _chat = llmobs::llm("chat")
            .model_name("m3")
            .session_id("s-3")
            .start();
        llmobs::annotate()
            .metric("input_tokens", 2)
            .apply()
            .unwrap();
    });
    let chat = with_session.iter().find(|s| s.name == "chat").unwrap();
    assert_eq!(
        (chat.model_name(), chat.model_provider()),
        (Some("m3"), Some("unknown"))
    );
    assert_eq!(chat.session_id.as_deref(), Some("s-3"));
    assert_eq!(chat.metric("input_tokens"), Some(2.0));
    assert_eq!(spans[1].model_name(), Some("m2"));
    assert_eq!(spans[1].model_provider(), Some("acme"));
    assert_eq!(spans[1].annotations().model_name.as_deref(), Some("m2"));
    assert!(spans[1].input().and_then(SpanIo::as_documents).is_some());
}

/// Annotations of different kinds (messages and metrics, values, a full record made in between)
/// apply in the order they were made.
#[test]
fn successive_annotations_apply_in_the_order_they_were_made() {
    let spans = capture(|| {
        let _root = llmobs::workflow("root").start();
        let _chat = llmobs::llm("chat").model_name("m").start();
        llmobs::annotate()
            .input_messages([Message::user("first")])
            .metric("input_tokens", 1)
            .metric("cost_usd", 0.5)
            .apply()
            .unwrap();
        // A value replaces the input; the metrics stay.
        llmobs::annotate().input(&"second").apply().unwrap();
        // A later metric wins, output set.
        llmobs::annotate()
            .metric("input_tokens", 2)
            .output_messages([Message::assistant("out")])
            .apply()
            .unwrap();
        // Direct, with a session (the span gets its full record now).
        llmobs::annotate()
            .tag("k", "v")
            .session_id("s-9")
            .apply()
            .unwrap();
        // After the span got its full record: applied to it.
        llmobs::annotate()
            .metric("input_tokens", 3)
            .apply()
            .unwrap();
    });
    let chat = spans.iter().find(|s| s.name == "chat").unwrap();
    assert_eq!(
        chat.input().and_then(SpanIo::as_messages).unwrap(),
        [Message::new("", "second")]
    );
    assert_eq!(
        chat.output().and_then(SpanIo::as_messages).unwrap(),
        [Message::assistant("out")]
    );
    assert_eq!(chat.metric("input_tokens"), Some(3.0));
    assert_eq!(chat.metric("cost_usd"), Some(0.5));
    assert_eq!(chat.tag("k"), Some("v"));
    assert_eq!(chat.session_id.as_deref(), Some("s-9"));
    assert_eq!(chat.model_name(), Some("m"));
}

#[test]
fn a_message_with_tool_calls_keeps_the_list_in_order() {
    let call = ToolCall::function("lookup", json!({"sku": "S1"}));
    let spans = capture(|| {
        // Under a plain root, so that the chat span is a compact slot (a span started straight
        // under a test capture gets its full record at once).
        let _root = llmobs::workflow("root").start();
        let _chat = llmobs::llm("chat").model_name("m").start();
        llmobs::annotate()
            .metric("input_tokens", 7)
            .input_messages([
                Message::system("sys"),
                Message::assistant("").tool_calls([call.clone()]),
                Message::new("critic", "odd role"),
                Message::user("last"),
            ])
            .apply()
            .unwrap();
    });
    let chat = spans.iter().find(|s| s.name == "chat").unwrap();
    let input = chat.input().and_then(SpanIo::as_messages).unwrap();
    assert_eq!(
        input,
        [
            Message::system("sys"),
            Message::assistant("").tool_calls([call]),
            Message::new("critic", "odd role"),
            Message::user("last"),
        ]
    );
    assert_eq!(chat.metric("input_tokens"), Some(7.0));
}

#[test]
fn a_span_annotated_over_and_over_keeps_the_last_annotation() {
    // A streamed reply re-annotated on every chunk: each annotation replaces the one before.
    let chunk = "y".repeat(4096);
    let spans = capture(|| {
        let _root = llmobs::workflow("root").start();
        let _chat = llmobs::llm("chat").model_name("m").start();
        let mut reply = String::new();
        for i in 0..200u64 {
            reply.push_str(&chunk[..20]);
            llmobs::annotate()
                .output_messages([Message::assistant(format!("{reply}{chunk}"))])
                .metric("output_tokens", i)
                .apply()
                .unwrap();
        }
    });
    let chat = spans.iter().find(|s| s.name == "chat").unwrap();
    let out = chat.output().and_then(SpanIo::as_messages).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].content.len(), 200 * 20 + 4096);
    assert_eq!(chat.metric("output_tokens"), Some(199.0));
}

#[test]
fn annotations_of_many_spans_survive_a_partial_flush() {
    // Far more children than a thread buffers before handing the finished ones over while the
    // root stays open: that hand-over renumbers the slots that stay.
    let spans = capture(|| {
        let _root = llmobs::workflow("root").start();
        llmobs::annotate()
            .metric("input_tokens", 1)
            .apply()
            .unwrap();
        for i in 0..1300u64 {
            let _c = llmobs::llm("call").model_name("m").start();
            llmobs::annotate()
                .output_messages([Message::assistant(format!("reply {i}"))])
                .metric("output_tokens", i)
                .apply()
                .unwrap();
        }
        llmobs::annotate()
            .metric("total_tokens", 2)
            .apply()
            .unwrap();
    });
    assert_eq!(spans.len(), 1301);
    let root = spans.iter().find(|s| s.name == "root").unwrap();
    assert_eq!(
        (root.metric("input_tokens"), root.metric("total_tokens")),
        (Some(1.0), Some(2.0))
    );
    let mut seen = 0;
    for s in spans.iter().filter(|s| s.name == "call") {
        let n = s.metric("output_tokens").unwrap();
        let text = &s.output().and_then(SpanIo::as_messages).unwrap()[0].content;
        assert_eq!(text, &format!("reply {n}"));
        assert_eq!(s.parent_id, Some(root.span_id));
        seen += 1;
    }
    assert_eq!(seen, 1300);
}

#[test]
fn a_literal_model_on_the_attribute_is_recorded_and_annotations_join_it() {
    #[llmobs::llm(model_name = "gpt-4o-mini", model_provider = "OpenAI")]
    fn chat(q: &str) -> String {
        llmobs::annotate()
            .input_messages([Message::user(q)])
            .metric("input_tokens", 3)
            .apply()
            .unwrap();
        format!("re: {q}")
    }
    #[llmobs::embedding(model_name = "e5")]
    fn embed() {}
    let spans = capture(|| {
        {
            // Slots under a plain root: the model, the annotation and the returned text wait in
            // the slot's annotations box.
            let _root = llmobs::workflow("root").start();
            chat("q1");
            embed();
        }
        // Straight under the capture, a span gets its full record at once: the general way.
        chat("q2");
    });
    // As a slot (q1) or a full record (q2), the same record: the model, the annotation, and the
    // return value captured as the output after it.
    let chats: Vec<_> = spans.iter().filter(|s| s.name == "chat").collect();
    assert_eq!(chats.len(), 2);
    for (chat, q) in chats.into_iter().zip(["q1", "q2"]) {
        assert_eq!(
            (chat.model_name(), chat.model_provider()),
            (Some("gpt-4o-mini"), Some("openai"))
        );
        assert_eq!(chat.metric("input_tokens"), Some(3.0));
        assert_eq!(
            chat.input().and_then(SpanIo::as_messages).unwrap(),
            [Message::user(q)]
        );
        assert_eq!(
            chat.output().and_then(SpanIo::as_messages).unwrap(),
            [Message::new("", format!("re: {q}"))]
        );
    }
    let embed = spans.iter().find(|s| s.name == "embed").unwrap();
    assert_eq!(
        (embed.model_name(), embed.model_provider()),
        (Some("e5"), Some("unknown"))
    );
}
