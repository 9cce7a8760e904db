//! Hostile input on every surface that takes data from outside: distributed headers (any
//! bytes, invalid UTF-8, huge values), the annotate builder (any strings, NaN and infinities,
//! deep JSON, 10 MB strings), ml_app names, the encoder and redaction. Nothing panics, memory
//! stays proportional to the input, and the encoder's output is always valid ASCII JSON.
//!
//! Run with more cases: `PROPTEST_CASES=10000 cargo test --test hostile_input`.

use std::collections::HashMap;

use llmobs::testing::capture;
use llmobs_exporter::{validate_ml_app, Config, Encoder, Redaction};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Headers as raw bytes, the way they arrive off the wire; a carrier that cannot decode a
/// value as UTF-8 reports it missing, as `http::HeaderValue::to_str` does.
struct RawHeaders(HashMap<String, Vec<u8>>);

impl llmobs::HeaderCarrier for RawHeaders {
    fn get_header(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
    fn set_header(&mut self, name: &str, value: String) {
        self.0.insert(name.to_owned(), value.into_bytes());
    }
}

const NAMES: [&str; 6] = [
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-tags",
    "traceparent",
    "tracestate",
    "x-datadog-sampling-priority",
];

fn encoder() -> Encoder {
    Encoder::new(&Config::default().ml_app("hostile"))
}

/// Encodes every span and checks the text is ASCII JSON that parses back.
fn assert_valid_json(spans: &[llmobs::SpanEvent]) {
    let e = encoder();
    for s in spans {
        let out = e.encode_span(s);
        assert!(out.json.is_ascii());
        let parsed: Value = serde_json::from_slice(&out.json).expect("valid JSON");
        assert!(parsed["span_id"].is_string());
    }
}

fn deep(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |v, i| {
        if i % 2 == 0 {
            Value::Array(vec![v])
        } else {
            json!({ "k": v })
        }
    })
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_header_bytes_are_an_error_or_a_context_never_a_panic(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 6),
        present in proptest::collection::vec(any::<bool>(), 6),
    ) {
        let headers = RawHeaders(
            NAMES
                .iter()
                .zip(values)
                .zip(present)
                .filter(|(_, p)| *p)
                .map(|((n, v), _)| (n.to_string(), v))
                .collect(),
        );
        let spans = capture(|| {
            let _remote = llmobs::activate_distributed_headers(&headers);
            drop(llmobs::task("child").start());
        });
        prop_assert_eq!(spans.len(), 1);
        assert_valid_json(&spans);
    }

    #[test]
    fn any_annotation_encodes_to_valid_json(
        kind in 0usize..7,
        key in "\\PC{0,16}",
        text in "\\PC{0,64}",
        raw in proptest::collection::vec(any::<char>(), 0..32),
        value in number(),
        depth in 0usize..100,
    ) {
        let raw: String = raw.into_iter().collect();
        let spans = capture(|| {
            let _s = llmobs::SpanBuilder::new(llmobs::SpanKind::ALL[kind], "s").start();
            let _ = llmobs::annotate()
                .input(&deep(depth, json!(raw)))
                .output(&text)
                .metadata(key.clone(), deep(depth, json!(value.to_string())))
                .metadata(raw.clone(), value)
                .metric(key.clone(), value)
                .tag(raw.clone(), &text)
                .apply();
        });
        prop_assert_eq!(spans.len(), 1);
        assert_valid_json(&spans);
    }

    #[test]
    fn ml_app_validation_accepts_exactly_the_rule(name in "\\PC{0,200}|[a-z0-9_./:-]{0,200}") {
        let ok = validate_ml_app(&name);
        let rule = !name.is_empty()
            && name.len() <= 193
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-:./".contains(&b))
            && !name.contains("__")
            && !name.ends_with('_');
        prop_assert_eq!(ok, rule);
        let from_env = Config::from_lookup(|n| (n == "DD_LLMOBS_ML_APP").then(|| name.clone()));
        prop_assert!(from_env.is_ok());
        // A span's own ml_app is not validated; it must still encode.
        let spans = capture(|| drop(llmobs::workflow("w").ml_app(&name).start()));
        assert_valid_json(&spans);
    }

    #[test]
    fn redaction_never_panics_keeps_boundaries_and_is_idempotent(
        text in "\\PC{0,200}|[0-9 .:@+()-]{0,80}|[a-z0-9@._ -]{0,80}",
    ) {
        let r = Redaction::builtin();
        let (once, _) = r.redact_text(&text);
        let (twice, again) = r.redact_text(&once);
        prop_assert_eq!(again, 0, "placeholders are never matched: {:?}", once);
        prop_assert_eq!(twice, once);
    }
}

/// 10 MB strings everywhere: encoding stays linear (the event is truncated at the size limit,
/// as the reference does) and the JSON stays valid; redaction copes too.
#[test]
fn ten_megabyte_strings_are_truncated_not_fatal() {
    let big = "é👍 jo@example.com 4111111111111111 ".repeat(10_000_000 / 40);
    let spans = capture(|| {
        let _s = llmobs::task("big").start();
        llmobs::annotate()
            .input(&big)
            .output(&big)
            .metadata("m", &big)
            .tag("t", &big)
            .apply()
            .expect("annotate");
    });
    let e = encoder();
    let out = e.encode_span(&spans[0]);
    assert!(out.truncated);
    let v: Value = serde_json::from_slice(&out.json).expect("valid JSON");
    assert_eq!(
        v["meta"]["input"]["value"],
        llmobs_exporter::DROPPED_VALUE_TEXT
    );
    let mut span = spans[0].clone();
    let n = Redaction::builtin().redact_span(&mut span);
    assert_eq!(n, 4 * 2 * (10_000_000 / 40));
}

/// Deep JSON (2,000 levels) through annotate, redaction and the encoder, on a thread with an
/// ordinary 8 MiB stack.
#[test]
fn deeply_nested_json_does_not_overflow() {
    let worker = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            let v = deep(2_000, json!("jo@example.com"));
            let spans = capture(|| {
                let _s = llmobs::task("deep").start();
                let _ = llmobs::annotate().input(&v).metadata("m", &v).apply();
            });
            let mut span = spans[0].clone();
            assert_eq!(Redaction::builtin().redact_span(&mut span), 2);
            let out = encoder().encode_span(&span);
            assert!(out.json.is_ascii() && out.json.len() > 4_000);
            // serde_json's parser stops at 128 levels; count brackets instead.
            let opens = out
                .json
                .iter()
                .filter(|b| **b == b'[' || **b == b'{')
                .count();
            let closes = out
                .json
                .iter()
                .filter(|b| **b == b']' || **b == b'}')
                .count();
            assert_eq!(opens, closes);
        })
        .expect("spawn");
    worker.join().expect("no overflow");
}

/// A `Debug` or `Serialize` impl that panics while a macro captures an argument or return
/// value: the span is still recorded, without that value, and the call returns normally.
#[test]
fn panicking_debug_and_serialize_in_captured_values_are_skipped() {
    struct BadDebug;
    impl std::fmt::Debug for BadDebug {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("debug bug")
        }
    }
    struct BadSerialize;
    impl serde::Serialize for BadSerialize {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("serialize bug")
        }
    }
    #[llmobs::task]
    fn takes(_a: &BadDebug, _b: &BadSerialize) -> u32 {
        7
    }
    #[llmobs::task]
    fn returns() -> BadSerialize {
        BadSerialize
    }
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let spans = capture(|| {
        assert_eq!(takes(&BadDebug, &BadSerialize), 7);
        let _ = returns();
    });
    std::panic::set_hook(quiet);
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|s| s.error.is_none()));
    assert_valid_json(&spans);
}
