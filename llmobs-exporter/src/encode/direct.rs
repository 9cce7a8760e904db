//! The span event written straight from the span into the output buffer.
//!
//! The event's field set is fixed, so its keys are written in the sorted order the reference
//! layout requires without building a map to sort them; free-form maps (metadata, metrics)
//! are already ordered by key. Every value goes through the same escaping and number
//! formatting as [`llmobs_core::json::write_python_json`]; the golden tests check the bytes
//! against the reference's captures.

use std::cmp::Ordering;

use llmobs_core::json::{write_python_json, PythonFormatter};
use llmobs_core::{Annotations, Document, Message, SpanEvent, SpanIo, SpanKind, TraceId};
use serde::Serialize;
use serde_json::Value;

use super::{prompt_value, to_value, Encoder, DROPPED_IO_COLLECTION_ERROR, DROPPED_VALUE_TEXT};
use crate::sampling::Decision;

impl Encoder {
    /// Appends the event in the Python layout, without the size check; with `drop_io`, as
    /// the reference sends an event over the size limit: input and output replaced by
    /// [`DROPPED_VALUE_TEXT`], and `dropped_io` added to its collection errors.
    pub(super) fn write_span(
        &self,
        span: &SpanEvent,
        sampling: Decision<'_>,
        drop_io: bool,
        out: &mut Vec<u8>,
    ) {
        let a = span.annotations();
        let ml_app = self.ml_app_of(span);

        out.extend_from_slice(b"{\"_dd\": {\"apm_trace_id\": ");
        let apm_start = out.len();
        apm_trace_id(out, span.apm_trace_id);
        let apm_end = out.len();
        out.extend_from_slice(b", \"sample_rate\": ");
        string(out, sampling.rate);
        out.extend_from_slice(if sampling.keep {
            b", \"sampling_decision\": \"1\", \"span_id\": "
        } else {
            b", \"sampling_decision\": \"0\", \"span_id\": "
        });
        quoted_u64(out, span.span_id.0);
        out.extend_from_slice(b", \"trace_id\": ");
        out.extend_from_within(apm_start..apm_end);
        out.push(b'}');

        if drop_io {
            out.extend_from_slice(b", \"collection_errors\": ");
            let mut errors = a.collection_errors.clone();
            if !errors.iter().any(|e| e == DROPPED_IO_COLLECTION_ERROR) {
                errors.push(DROPPED_IO_COLLECTION_ERROR.to_owned());
            }
            string_array(out, &errors);
        } else if !a.collection_errors.is_empty() {
            out.extend_from_slice(b", \"collection_errors\": ");
            string_array(out, &a.collection_errors);
        }
        out.extend_from_slice(b", \"duration\": ");
        number(out, span.duration_ns);

        out.extend_from_slice(b", \"meta\": {");
        let mut meta = Fields::new();
        if let Some(agent) = &span.agent {
            meta.known(out, "agent_attribution");
            out.extend_from_slice(b"{\"pagent_name\": ");
            match &agent.name {
                Some(n) => string(out, n),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b", \"pagent_span_id\": ");
            quoted_u64(out, agent.span_id.0);
            out.push(b'}');
        }
        if let Some(e) = &span.error {
            meta.known(out, "error");
            out.extend_from_slice(b"{\"message\": ");
            string(out, &e.message);
            out.extend_from_slice(b", \"stack\": ");
            string(out, e.stack.as_deref().unwrap_or(""));
            out.extend_from_slice(b", \"type\": ");
            string(out, &e.kind);
            out.push(b'}');
        }
        let prompt = a.prompt.as_ref().filter(|_| {
            if span.kind == SpanKind::Llm {
                true
            } else {
                log::warn!(
                    "llmobs: dropping prompt on non-LLM span kind, annotating prompts is only supported for LLM span kinds"
                );
                false
            }
        });
        if drop_io {
            meta.known(out, "input");
            dropped(out);
        } else if a.input.is_some() || prompt.is_some() {
            meta.known(out, "input");
            out.push(b'{');
            let mut input = Fields::new();
            // `prompt` sorts after `documents` and `messages` but before `value`.
            match &a.input {
                Some(SpanIo::Value(_)) | None => {}
                Some(io) => io_fields(out, &mut input, io),
            }
            if let Some(p) = prompt {
                input.known(out, "prompt");
                value(out, &prompt_value(p, ml_app));
            }
            if let Some(io @ SpanIo::Value(_)) = &a.input {
                io_fields(out, &mut input, io);
            }
            out.push(b'}');
        }
        meta.known(out, "metadata");
        out.push(b'{');
        let mut metadata = Fields::new();
        // `_dd` is reserved for the SDK's own metadata: an agent span's manifest.
        let mut own = sdk_metadata(span, a);
        for (k, v) in &a.metadata {
            if own.is_some() && k.as_str() > "_dd" {
                write_dd(out, &mut metadata, own.take());
            }
            if k != "_dd" {
                metadata.key(out, k);
                value(out, v);
            }
        }
        write_dd(out, &mut metadata, own);
        out.push(b'}');
        if span.kind.is_model() {
            meta.known(out, "model_name");
            string(out, a.model_name.as_deref().unwrap_or("unknown"));
            meta.known(out, "model_provider");
            string(out, a.model_provider.as_deref().unwrap_or("unknown"));
        }
        if drop_io {
            meta.known(out, "output");
            dropped(out);
        } else if let Some(io) = &a.output {
            meta.known(out, "output");
            out.push(b'{');
            io_fields(out, &mut Fields::new(), io);
            out.push(b'}');
        }
        meta.known(out, "span");
        out.extend_from_slice(b"{\"kind\": ");
        // A kind's name is lowercase letters.
        out.push(b'"');
        out.extend_from_slice(span.kind.as_str().as_bytes());
        out.push(b'"');
        out.push(b'}');
        if span.kind == SpanKind::Llm && !a.tool_definitions.is_empty() {
            meta.known(out, "tool_definitions");
            value(out, &to_value(&a.tool_definitions));
        }
        out.push(b'}');

        out.extend_from_slice(b", \"metrics\": {");
        let mut metrics = Fields::new();
        for (k, v) in &a.metrics {
            metrics.key(out, k);
            serialize(out, v);
        }
        out.extend_from_slice(b"}, \"name\": ");
        string(out, &span.name);
        out.extend_from_slice(b", \"parent_id\": ");
        match span.parent_id {
            Some(p) => quoted_u64(out, p.0),
            None => out.extend_from_slice(b"\"undefined\""),
        }
        if let Some(s) = &span.session_id {
            out.extend_from_slice(b", \"session_id\": ");
            string(out, s);
        }
        out.extend_from_slice(b", \"span_id\": ");
        quoted_u64(out, span.span_id.0);
        if !a.span_links.is_empty() {
            out.extend_from_slice(b", \"span_links\": ");
            list(out, &a.span_links, |out, link| {
                out.extend_from_slice(b"{\"attributes\": {\"from\": \"");
                out.extend_from_slice(link.from.as_str().as_bytes());
                out.extend_from_slice(b"\", \"to\": \"");
                out.extend_from_slice(link.to.as_str().as_bytes());
                out.extend_from_slice(b"\"}, \"span_id\": ");
                quoted_u64(out, link.span_id.0);
                out.extend_from_slice(b", \"trace_id\": \"");
                hex128(out, link.trace_id.0);
                out.extend_from_slice(b"\"}");
            });
        }
        out.extend_from_slice(b", \"start_ns\": ");
        number(out, span.start_ns);
        out.extend_from_slice(if span.error.is_some() {
            b", \"status\": \"error\", \"tags\": ["
        } else {
            b", \"status\": \"ok\", \"tags\": ["
        });
        if span.ml_app.is_none()
            && span.session_id.is_none()
            && span.error.is_none()
            && a.tags.is_empty()
            && !a.prompt_annotated
        {
            out.extend_from_slice(&self.plain_tags[usize::from(span.decorator)]);
        } else {
            self.write_tags(span, ml_app, out);
        }
        out.extend_from_slice(b"], \"trace_id\": \"");
        hex128(out, span.trace_id.0);
        out.extend_from_slice(b"\"}");
    }

    /// The span's tags as `(key, value)`, unsorted; `errors` adds the `error` and `error_type`
    /// tags, which the reference adds only when it sends the span (sampling rules cannot match
    /// them).
    pub(crate) fn tag_pairs<'a>(
        &'a self,
        span: &'a SpanEvent,
        ml_app: &'a str,
        errors: bool,
    ) -> Vec<(&'a str, &'a str)> {
        let a = span.annotations();
        let mut tags: Vec<(&str, &str)> = Vec::with_capacity(self.base_tags.len() + 6);
        tags.extend(self.base_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        overlay(&mut tags, "ml_app", ml_app);
        overlay(&mut tags, "agent_service", ml_app);
        if let Some(s) = &span.session_id {
            overlay(&mut tags, "session_id", s);
        }
        if span.decorator {
            overlay(&mut tags, "decorator", "1");
        }
        for (k, v) in &a.tags {
            overlay(&mut tags, k, v);
        }
        if a.prompt_annotated {
            overlay(
                &mut tags,
                "prompt_tracking_instrumentation_method",
                "annotated",
            );
        }
        if errors {
            overlay(
                &mut tags,
                "error",
                if span.error.is_some() { "1" } else { "0" },
            );
            if let Some(e) = &span.error {
                overlay(&mut tags, "error_type", &e.kind);
            }
        }
        tags
    }

    /// The tag list: base tags overlaid with the span's, later values replacing earlier ones
    /// for the same key, in the order the `Value` path inserts them.
    pub(super) fn write_tags(&self, span: &SpanEvent, ml_app: &str, out: &mut Vec<u8>) {
        let mut tags = self.tag_pairs(span, ml_app, true);
        // The reference sorts the `key:value` strings, which differs from sorting by key when
        // one key is a prefix of another.
        tags.sort_unstable_by(|x, y| tag_cmp(*x, *y));
        for (i, (k, v)) in tags.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            out.push(b'"');
            escaped(out, k);
            out.push(b':');
            escaped(out, v);
            out.push(b'"');
        }
    }
}

/// The SDK's own metadata (`_dd`): an agent span's manifest, the cost tags the span has.
fn sdk_metadata(span: &SpanEvent, a: &Annotations) -> Option<Value> {
    let manifest = a
        .agent_manifest
        .as_ref()
        .filter(|_| span.kind == SpanKind::Agent)
        .and_then(|m| m.wire_value(&span.name));
    let cost: Vec<&String> = a
        .cost_tags
        .iter()
        .filter(|k| a.tags.contains_key(k.as_str()))
        .collect();
    if manifest.is_none() && cost.is_empty() {
        return None;
    }
    let mut dd = serde_json::Map::new();
    if let Some(m) = manifest {
        dd.insert("agent_manifest".into(), m);
    }
    if !cost.is_empty() {
        dd.insert("cost_tags".into(), to_value(&cost));
    }
    Some(Value::Object(dd))
}

/// The SDK's own metadata (`_dd`), when there is some.
fn write_dd(out: &mut Vec<u8>, fields: &mut Fields, dd: Option<Value>) {
    if let Some(dd) = dd {
        fields.known(out, "_dd");
        value(out, &dd);
    }
}

/// The input or output of an event over the size limit.
fn dropped(out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"value\": ");
    string(out, DROPPED_VALUE_TEXT);
    out.push(b'}');
}

fn overlay<'a>(tags: &mut Vec<(&'a str, &'a str)>, k: &'a str, v: &'a str) {
    match tags.iter_mut().find(|t| t.0 == k) {
        Some(t) => t.1 = v,
        None => tags.push((k, v)),
    }
}

/// Orders tags as their `key:value` text would sort, without building the text.
fn tag_cmp(x: (&str, &str), y: (&str, &str)) -> Ordering {
    let (kx, ky) = (x.0.as_bytes(), y.0.as_bytes());
    let n = kx.len().min(ky.len());
    match kx[..n].cmp(&ky[..n]) {
        Ordering::Equal if kx.len() == ky.len() => x.1.cmp(y.1),
        // One key is a prefix of the other: the `:` meets a key byte, so compare the text.
        Ordering::Equal => {
            let text = |t: (&'_ str, &'_ str)| {
                let (k, v) = (t.0.as_bytes(), t.1.as_bytes());
                k.iter().chain(b":").chain(v).copied().collect::<Vec<u8>>()
            };
            text(x).cmp(&text(y))
        }
        other => other,
    }
}

/// The `, ` between the members of an object whose members are optional.
struct Fields {
    first: bool,
}

impl Fields {
    fn new() -> Self {
        Fields { first: true }
    }
    /// A key from the data (a metadata or metric name): escaped.
    fn key(&mut self, out: &mut Vec<u8>, k: &str) {
        self.separate(out);
        string(out, k);
        out.extend_from_slice(b": ");
    }

    /// One of the format's own keys, which need no escaping.
    fn known(&mut self, out: &mut Vec<u8>, k: &'static str) {
        self.separate(out);
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\": ");
    }

    fn separate(&mut self, out: &mut Vec<u8>) {
        if !std::mem::replace(&mut self.first, false) {
            out.extend_from_slice(b", ");
        }
    }
}

/// The members of `input`/`output` for one kind of I/O.
fn io_fields(out: &mut Vec<u8>, fields: &mut Fields, io: &SpanIo) {
    match io {
        SpanIo::Value(Value::String(s)) => {
            fields.known(out, "value");
            string(out, s);
        }
        SpanIo::Value(v) => {
            fields.known(out, "value");
            json_text_string(out, v);
        }
        SpanIo::Messages(msgs) => {
            fields.known(out, "messages");
            list(out, msgs, message);
        }
        SpanIo::Documents(docs) => {
            fields.known(out, "documents");
            list(out, docs, document);
        }
    }
}

/// `v`'s Python-layout JSON text as a JSON string, written in place rather than through a
/// buffer of its own. The text is ASCII with every control already escaped, so only `"` and
/// `\\` need escaping again: the text is written, then widened from the back.
fn json_text_string(out: &mut Vec<u8>, v: &Value) {
    out.push(b'"');
    let start = out.len();
    value(out, v);
    let extra = out[start..]
        .iter()
        .filter(|&&b| b == b'"' || b == b'\\')
        .count();
    if extra > 0 {
        let end = out.len();
        out.resize(end + extra, 0);
        let mut to = end + extra;
        for from in (start..end).rev() {
            let b = out[from];
            to -= 1;
            out[to] = b;
            if b == b'"' || b == b'\\' {
                to -= 1;
                out[to] = b'\\';
            }
        }
    }
    out.push(b'"');
}

fn list<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        write(out, item);
    }
    out.push(b']');
}

fn message(out: &mut Vec<u8>, m: &Message) {
    out.extend_from_slice(b"{\"content\": ");
    string(out, &m.content);
    out.extend_from_slice(b", \"role\": ");
    string(out, &m.role);
    if !m.tool_calls.is_empty() {
        out.extend_from_slice(b", \"tool_calls\": ");
        list(out, &m.tool_calls, |out, c| {
            out.extend_from_slice(b"{\"arguments\": ");
            value(out, &c.arguments);
            out.extend_from_slice(b", \"name\": ");
            string(out, &c.name);
            if let Some(id) = &c.tool_id {
                out.extend_from_slice(b", \"tool_id\": ");
                string(out, id);
            }
            out.extend_from_slice(b", \"type\": ");
            string(out, &c.kind);
            out.push(b'}');
        });
    }
    if let Some(id) = &m.tool_id {
        out.extend_from_slice(b", \"tool_id\": ");
        string(out, id);
    }
    if !m.tool_results.is_empty() {
        out.extend_from_slice(b", \"tool_results\": ");
        list(out, &m.tool_results, |out, r| {
            out.extend_from_slice(b"{\"name\": ");
            string(out, &r.name);
            out.extend_from_slice(b", \"result\": ");
            string(out, &r.result);
            if let Some(id) = &r.tool_id {
                out.extend_from_slice(b", \"tool_id\": ");
                string(out, id);
            }
            out.extend_from_slice(b", \"type\": ");
            string(out, &r.kind);
            out.push(b'}');
        });
    }
    out.push(b'}');
}

fn document(out: &mut Vec<u8>, d: &Document) {
    out.push(b'{');
    let mut f = Fields::new();
    if let Some(id) = &d.id {
        f.known(out, "id");
        string(out, id);
    }
    if let Some(name) = &d.name {
        f.known(out, "name");
        string(out, name);
    }
    if let Some(score) = d.score {
        f.known(out, "score");
        // Through `Value` as the reference path does, so a non-finite score becomes `null`
        // the same way.
        value(out, &Value::from(score));
    }
    f.known(out, "text");
    string(out, &d.text);
    out.push(b'}');
}

fn string_array(out: &mut Vec<u8>, items: &[String]) {
    list(out, items, |out, s| string(out, s));
}

fn value(out: &mut Vec<u8>, v: &Value) {
    // Writing into memory cannot fail.
    let _ = write_python_json(out, v);
}

fn serialize<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    let mut ser = serde_json::Serializer::with_formatter(out, PythonFormatter);
    // Writing into memory cannot fail.
    let _ = v.serialize(&mut ser);
}

fn number(out: &mut Vec<u8>, n: u64) {
    // Two digits per step from a table (ids and nanosecond times have 19-20 digits: a digit
    // at a time was a tenth of the Datadog destination's time on empty spans).
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn quoted_u64(out: &mut Vec<u8>, n: u64) {
    out.push(b'"');
    number(out, n);
    out.push(b'"');
}

fn hex128(out: &mut Vec<u8>, n: u128) {
    /// Each byte's two lowercase hex digits.
    const PAIRS: [[u8; 2]; 256] = {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut t = [[0u8; 2]; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = [HEX[i >> 4], HEX[i & 0xf]];
            i += 1;
        }
        t
    };
    let mut text = [0u8; 32];
    for (pair, byte) in text.chunks_exact_mut(2).zip(n.to_be_bytes()) {
        pair.copy_from_slice(&PAIRS[usize::from(byte)]);
    }
    out.extend_from_slice(&text);
}

/// An APM trace id as the reference formats it: 32 hex characters above 64 bits, else decimal.
fn apm_trace_id(out: &mut Vec<u8>, id: TraceId) {
    if id.0 >> 64 == 0 {
        quoted_u64(out, id.0 as u64);
    } else {
        out.push(b'"');
        hex128(out, id.0);
        out.push(b'"');
    }
}

/// A JSON string in the Python layout.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// The inside of a JSON string, in the Python layout (`ensure_ascii`).
fn escaped(out: &mut Vec<u8>, s: &str) {
    crate::json_text::escape_ascii(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_the_python_formatter() {
        let mut samples: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        samples.extend(
            [
                "plain",
                "h\u{e9}llo \u{2713} \u{65e5}\u{672c} \u{1F600}",
                "quote\"back\\slash/\u{7f}",
                "mixed \u{1}\u{1f}\n\t end",
                "",
            ]
            .map(str::to_owned),
        );
        // Every special character at every offset of the eight-byte words, and past them.
        for special in [
            "\"",
            "\\",
            "\n",
            "\u{1}",
            "\u{7f}",
            "\u{e9}",
            "\u{1F600}",
            "\u{1f}",
        ] {
            for at in 0..20 {
                let mut text = "abcdefghijklmnopqrstuvwxyz".repeat(2);
                text.insert_str(at, special);
                samples.push(text);
            }
        }
        for s in samples {
            let mut ours = Vec::new();
            string(&mut ours, &s);
            let mut theirs = Vec::new();
            value(&mut theirs, &Value::String(s.clone()));
            assert_eq!(ours, theirs, "{s:?}");
        }
    }

    #[test]
    fn numbers_and_ids() {
        for n in [0u64, 7, 10, 1_234_567_890, u64::MAX] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
        for id in [
            0u128,
            1,
            u64::MAX as u128,
            1 << 64,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            let mut out = Vec::new();
            hex128(&mut out, id);
            assert_eq!(out, TraceId(id).to_string().as_bytes());
        }
    }

    #[test]
    fn tag_order_is_the_order_of_the_joined_text() {
        let tags = [
            ("a", "2"),
            ("a_b", "1"),
            ("a", "x:y"),
            ("ab", ""),
            ("", "z"),
            ("a:", "b"),
            ("b", "a"),
        ];
        for x in tags {
            for y in tags {
                let (tx, ty) = (format!("{}:{}", x.0, x.1), format!("{}:{}", y.0, y.1));
                assert_eq!(tag_cmp(x, y), tx.cmp(&ty), "{tx} vs {ty}");
            }
        }
    }
}
