//! Off means off: with LLM Observability never initialised, or initialised with
//! `DD_LLMOBS_ENABLED=0` (`Config::enabled(false)`), every public call succeeds and does
//! nothing, so code written for the enabled case behaves exactly the same. And `?` works on
//! every call into `llmobs::Error`, whose `Debug` is its helpful `Display`.

use std::collections::HashMap;

use llmobs::{Evaluation, Message};

#[llmobs::llm(model_name = "gpt-4o-mini", model_provider = "openai")]
fn chat(question: &str) -> String {
    // The README's pattern, with `?` into the application's error type.
    let reply = format!("answer to {question}");
    let _ = annotate_chat(question, &reply);
    reply
}

fn annotate_chat(question: &str, reply: &str) -> Result<(), llmobs::Error> {
    llmobs::annotate()
        .input_messages([Message::user(question)])
        .output_messages([Message::assistant(reply)])
        .metric("input_tokens", 3.0)
        .apply()?;
    Ok(())
}

/// Everything an instrumented request does with the SDK, every call with `?`.
#[llmobs::workflow]
fn handle(headers: &HashMap<String, String>) -> Result<String, llmobs::Error> {
    let _remote = llmobs::activate_distributed_headers(headers)?;
    let reply = chat("hello");
    llmobs::annotate().tag("k", "v").input("hello").apply()?;
    let span = llmobs::export_span(None)?;
    llmobs::submit_evaluation(Evaluation::score("relevance", 0.9).span(&span))?;
    // Invalid input is only checked while recording; off, it is dropped like the rest.
    llmobs::submit_evaluation(Evaluation::score("bad.label", 1).span(&span))?;
    let mut out = HashMap::new();
    llmobs::inject_distributed_headers(&mut out)?;
    if !out.is_empty() {
        return Ok(format!("headers written: {out:?}"));
    }
    Ok(reply)
}

fn outside_any_span() -> Result<(), llmobs::Error> {
    llmobs::annotate().tag("k", "v").apply()?;
    let span = llmobs::export_span(None)?;
    assert!(!span.is_recorded());
    llmobs::submit_evaluation(Evaluation::boolean("ok", true).span(&span))?;
    let mut out = HashMap::new();
    llmobs::inject_distributed_headers(&mut out)?;
    assert!(out.is_empty(), "nothing is written while off");
    let _g = llmobs::activate_distributed_headers(&HashMap::<String, String>::new())?;
    Ok(())
}

fn every_call_is_a_no_op(state: &str) {
    let no_headers = HashMap::new();
    let py_headers: HashMap<String, String> = [(
        "traceparent".to_string(),
        "00-6b02448b00000000e299960d8dfa81b4-f546ce314e2cd2ea-01".to_string(),
    )]
    .into();
    for headers in [&no_headers, &py_headers] {
        assert_eq!(handle(headers).unwrap(), "answer to hello", "{state}");
    }
    outside_any_span().unwrap_or_else(|e| panic!("{state}: {e}"));
    assert_eq!(llmobs::stats().delivered(), 0);
}

#[test]
fn never_initialised_and_disabled_every_call_succeeds_and_does_nothing() {
    every_call_is_a_no_op("never initialised");
    let _llmobs = llmobs::Config::default()
        .enabled(false)
        .init()
        .expect("a disabled SDK starts");
    every_call_is_a_no_op("DD_LLMOBS_ENABLED=0");
}

#[test]
fn errors_while_recording_convert_into_llmobs_error_with_a_helpful_debug() {
    fn misuse() -> Result<(), llmobs::Error> {
        llmobs::annotate().tag("k", "v").apply()?; // no span is active
        Ok(())
    }
    fn bad_label() -> Result<(), llmobs::Error> {
        llmobs::submit_evaluation(Evaluation::score("a.b", 1).join_tag("k", "v"))?;
        Ok(())
    }
    fn no_span_to_export() -> Result<(), llmobs::Error> {
        llmobs::export_span(None)?;
        Ok(())
    }
    fn nothing_to_inject() -> Result<(), llmobs::Error> {
        llmobs::inject_distributed_headers(&mut HashMap::new())?;
        Ok(())
    }
    let cap = llmobs::testing::Capture::new();
    let _g = cap.context().attach();
    for (err, needle) in [
        (misuse().unwrap_err(), "inside a span"),
        (bad_label().unwrap_err(), "use '_' instead"),
        (no_span_to_export().unwrap_err(), "inside a span"),
        (
            nothing_to_inject().unwrap_err(),
            "inject the headers inside",
        ),
    ] {
        let shown = err.to_string();
        assert!(shown.contains(needle), "{shown}");
        // What `fn main() -> Result<(), llmobs::Error>` prints: the same text.
        assert_eq!(format!("{err:?}"), shown);
    }
    let config_error = llmobs::Config::default()
        .ml_app("Not Valid")
        .init()
        .unwrap_err();
    assert_eq!(format!("{config_error:?}"), config_error.to_string());
    assert!(config_error.to_string().contains("lower-case"));
}
