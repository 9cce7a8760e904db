//! Trace sampling as the reference does it: `DD_LLMOBS_SAMPLING_RULES`, a list of
//! `{"tags": {key: glob}, "sample_rate": rate}` rules tried in order on the tags of a trace's
//! root span (the first that matches gives the rate), and `DD_LLMOBS_SAMPLE_RATE` for traces no
//! rule matches. The decision is deterministic on the low 64 bits of the APM trace id (the hash
//! APM sampling uses), so every span of a trace gets the same one, in any process.
//!
//! As in the reference, a sampled-out trace is still sent: each of its spans carries the rate
//! that decided and `sampling_decision: "0"`, and the intake keeps or drops it.
//!
//! The decision needs the root's tags, so it is made on the exporter's thread when the root is
//! encoded, for every span of the trace in the same batch; spans of the trace sent in an
//! earlier batch (a detached span that finished first) get the global rate, as the reference's
//! spans sent before its decision is frozen do. With no rules, nothing here runs per trace.

use std::collections::HashMap;

use llmobs_core::{SpanEvent, TraceId};
use serde_json::Value;

use crate::error::Error;

const KNUTH_FACTOR: u64 = 1_111_111_111_111_111_111;

/// One sampling rule (`DD_LLMOBS_SAMPLING_RULES` entry, or [`crate::Config::sampling_rule`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingRule {
    rate: f64,
    /// `(tag key, glob)`; every one must match a tag of the root span.
    tags: Vec<(String, String)>,
}

impl SamplingRule {
    /// A rule sampling traces whose root span has every one of `tags` (key and glob: `*` any
    /// run of characters, `?` one character, case-insensitive) at `rate` (clamped to 0..1). A
    /// rule without tags matches every trace.
    pub fn new<K: Into<String>, G: Into<String>>(
        rate: f64,
        tags: impl IntoIterator<Item = (K, G)>,
    ) -> Self {
        SamplingRule {
            rate: clamp(rate),
            tags: tags
                .into_iter()
                .map(|(k, g)| (k.into(), g.into()))
                .collect(),
        }
    }

    /// The rules of a `DD_LLMOBS_SAMPLING_RULES` value: a JSON list such as
    /// `[{"tags": {"env": "prod"}, "sample_rate": 0.5}]`.
    pub fn parse_list(text: &str) -> Result<Vec<SamplingRule>, Error> {
        parse_rules("DD_LLMOBS_SAMPLING_RULES", text)
    }

    fn matches(&self, root_tags: &[(&str, &str)]) -> bool {
        self.tags.iter().all(|(key, glob)| {
            root_tags
                .iter()
                .find(|(k, _)| k == key)
                .is_some_and(|(_, v)| glob_match(glob, v))
        })
    }
}

fn clamp(rate: f64) -> f64 {
    if rate.is_nan() {
        1.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// The sampling rate as the reference prints it: up to 6 decimals, trailing zeros stripped.
pub(crate) fn format_rate(rate: f64) -> String {
    let s = format!("{rate:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Whether a trace is kept at `rate`.
fn keep(rate: f64, apm_trace_id: TraceId) -> bool {
    if rate >= 1.0 {
        return true;
    }
    let threshold = (rate * u64::MAX as f64) as u64;
    apm_trace_id.low().wrapping_mul(KNUTH_FACTOR) <= threshold
}

/// A glob over the whole of `text`: `*` any run of characters, `?` exactly one, case-insensitive.
fn glob_match(glob: &str, text: &str) -> bool {
    let g: Vec<char> = glob.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut gi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it now stands for.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match g.get(gi) {
            Some('*') => {
                star = Some((gi, ti));
                gi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                gi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and try again.
                Some((sg, st)) => {
                    gi = sg + 1;
                    ti = st + 1;
                    star = Some((sg, st + 1));
                }
                None => return false,
            },
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

/// What one trace was sampled at: the rate's text and the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision<'a> {
    pub(crate) rate: &'a str,
    pub(crate) keep: bool,
}

/// The global rate and the rules, with their rates' texts computed once.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    rate: f64,
    rate_text: String,
    rules: Vec<(SamplingRule, String)>,
}

impl Sampler {
    pub(crate) fn new(rate: f64, rules: &[SamplingRule]) -> Self {
        Sampler {
            rate,
            rate_text: format_rate(rate),
            rules: rules
                .iter()
                .map(|r| (r.clone(), format_rate(r.rate)))
                .collect(),
        }
    }

    pub(crate) fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The decision for a trace no rule decided.
    pub(crate) fn global(&self, apm_trace_id: TraceId) -> Decision<'_> {
        Decision {
            rate: &self.rate_text,
            keep: keep(self.rate, apm_trace_id),
        }
    }

    /// The decision for the trace whose root span has `root_tags`.
    pub(crate) fn decide(&self, apm_trace_id: TraceId, root_tags: &[(&str, &str)]) -> Decision<'_> {
        match self.rules.iter().find(|(r, _)| r.matches(root_tags)) {
            Some((rule, text)) => Decision {
                rate: text,
                keep: keep(rule.rate, apm_trace_id),
            },
            None => self.global(apm_trace_id),
        }
    }

    /// The decisions of the traces whose roots are among `spans`, by trace, made from each
    /// root's tags as `root_tags` lists them.
    pub(crate) fn decide_roots<'s>(
        &'s self,
        spans: &[SpanEvent],
        root_tags: impl Fn(&SpanEvent, &mut dyn FnMut(&[(&str, &str)])),
    ) -> HashMap<TraceId, Decision<'s>> {
        let mut out = HashMap::new();
        for root in spans.iter().filter(|s| s.parent_id.is_none()) {
            root_tags(root, &mut |tags| {
                out.insert(root.trace_id, self.decide(root.apm_trace_id, tags));
            });
        }
        out
    }
}

/// Reads `DD_LLMOBS_SAMPLING_RULES`: a JSON list of `{"sample_rate": number, "tags": {...}}`.
pub(crate) fn parse_rules(name: &'static str, text: &str) -> Result<Vec<SamplingRule>, Error> {
    const EXPECTED: &str = "a JSON list of rules such as \
        [{\"tags\": {\"env\": \"prod\"}, \"sample_rate\": 0.5}]: each rule an object with a \
        sample_rate (a number from 0 to 1) and optionally tags (an object of tag globs), and no \
        other key";
    let invalid = || Error::InvalidSetting {
        name,
        value: text.to_owned(),
        expected: EXPECTED,
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let Ok(Value::Array(list)) = serde_json::from_str::<Value>(text) else {
        return Err(invalid());
    };
    let mut rules = Vec::with_capacity(list.len());
    for rule in list {
        let Value::Object(o) = rule else {
            return Err(invalid());
        };
        if o.keys().any(|k| k != "sample_rate" && k != "tags") {
            return Err(invalid());
        }
        let rate = match o.get("sample_rate") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|r| r.is_finite())
        .ok_or_else(invalid)?;
        let tags = match o.get("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(t)) => t
                .iter()
                .map(|(k, v)| {
                    let glob = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), glob)
                })
                .collect(),
            Some(_) => return Err(invalid()),
        };
        rules.push(SamplingRule::new(rate, tags));
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_the_whole_value_case_insensitively() {
        for (g, t, m) in [
            ("drop-*", "drop-me", true),
            ("drop-*", "DROP-ME-TOO", true),
            ("drop-*", "xdrop-me", false),
            ("keep", "keep", true),
            ("keep", "keeper", false),
            ("k?ep", "keep", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "", true),
            ("", "x", false),
        ] {
            assert_eq!(glob_match(g, t), m, "{g} ~ {t}");
        }
    }

    #[test]
    fn the_first_matching_rule_decides_and_the_global_rate_the_rest() {
        let s = Sampler::new(
            0.5,
            &[
                SamplingRule::new(0.0, [("route", "drop-*")]),
                SamplingRule::new(5.0, [("route", "clamp")]),
                SamplingRule::new(1.0, [("route", "drop-me"), ("env", "prod")]),
            ],
        );
        let id = TraceId(7);
        assert_eq!(s.decide(id, &[("route", "drop-me")]).rate, "0");
        assert!(!s.decide(id, &[("route", "drop-me")]).keep);
        assert_eq!(
            s.decide(id, &[("route", "clamp")]),
            Decision {
                rate: "1",
                keep: true
            }
        );
        assert_eq!(s.decide(id, &[("route", "other")]).rate, "0.5");
        assert_eq!(s.decide(id, &[]).rate, "0.5");
    }

    #[test]
    fn rules_parse_as_the_reference_writes_them_and_bad_ones_say_what_is_expected() {
        let r = parse_rules(
            "DD_LLMOBS_SAMPLING_RULES",
            r#"[{"tags": {"route": "drop-*"}, "sample_rate": 0}, {"sample_rate": "0.25"}]"#,
        )
        .unwrap();
        assert_eq!(r[0], SamplingRule::new(0.0, [("route", "drop-*")]));
        assert_eq!(
            r[1],
            SamplingRule::new(0.25, Vec::<(String, String)>::new())
        );
        for bad in [
            "{not json",
            r#"{"sample_rate": 1}"#,
            r#"["str"]"#,
            r#"[{"tags": {"route": "x"}}]"#,
            r#"[{"tags": ["a"], "sample_rate": 0}]"#,
            r#"[{"sample_rate": "abc"}]"#,
            r#"[{"sample_rate": 0, "name": "r"}]"#,
        ] {
            let e = parse_rules("DD_LLMOBS_SAMPLING_RULES", bad)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("DD_LLMOBS_SAMPLING_RULES") && e.contains("sample_rate"),
                "{e}"
            );
        }
    }
}
