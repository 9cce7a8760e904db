//! Annotations of sync spans, recorded as notes in their trace's own buffers.
//!
//! What an LLM call is annotated with nearly always is a few chat messages of a known role and a
//! few token counts. Recorded as [`Annotations`] on the application thread, that is a box, two
//! message lists and a string per message, all allocated there and read by the exporter's thread:
//! every line of them crosses between cores, and each allocation must be freed again somewhere.
//! Recorded as notes, it is a few fixed-size entries appended to the trace's list of notes, and
//! the message texts copied into the trace's text buffer; the user's strings are freed at once,
//! on the thread that allocated them. The notes travel with the trace's slot arena and are turned
//! into [`Annotations`] where the full records are built (by [`crate::SpanBatch::into_events`],
//! on the exporter's thread), in the order they were taken: a later annotation replaces input
//! and output and wins for the same metric, as when applied directly.
//!
//! Anything else (tool calls, documents, values, metadata, tags, a prompt, a session) goes the
//! general way, straight into the span's [`Annotations`]. So that the two stay in order, a span's
//! notes are applied to its annotations on the application thread before anything else writes
//! there ([`crate::stack`] does this), which is also when a span that gets a full record early
//! takes them along.

use serde_json::Number;

use crate::message::{known_role, KNOWN_ROLES};
use crate::{Annotations, Message, SharedStr, SpanIo};

/// The metric keys a note names by index: the token counts LLM Observability knows.
pub(crate) const KNOWN_METRICS: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_write_input_tokens",
    "reasoning_output_tokens",
];

/// The index of `key` in [`KNOWN_METRICS`]. Inlined, a literal key is matched at compile time.
#[inline(always)]
pub(crate) fn known_metric(key: &str) -> Option<u8> {
    match key {
        "input_tokens" => Some(0),
        "output_tokens" => Some(1),
        "total_tokens" => Some(2),
        "cache_read_input_tokens" => Some(3),
        "cache_write_input_tokens" => Some(4),
        "reasoning_output_tokens" => Some(5),
        _ => None,
    }
}

/// The longest message text (and metric key) recorded as a note; a longer one is recorded the
/// general way, so that a trace's text buffer stays small enough to keep for the next trace.
pub(crate) const MAX_NOTE_TEXT: usize = 16 * 1024;
/// The most notes a trace (or an annotation being built) holds...
pub(crate) const MAX_NOTES: usize = 1024;
/// ...and the most text. Past either, annotations go the general way: a span annotated over
/// and over (a streamed reply, say) keeps replacing what its box holds instead of piling up
/// notes. This also keeps every text offset far inside `u32`.
pub(crate) const MAX_NOTES_TEXT: usize = 64 * 1024;

/// `Notes::fields`: the notes write the input...
pub(crate) const INPUT: u8 = 1;
/// ...the output...
pub(crate) const OUTPUT: u8 = 2;
/// ...or the metrics.
pub(crate) const METRICS: u8 = 4;

/// A range of a [`Notes`]' text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Text {
    start: u32,
    len: u32,
}

/// A metric's value in 12 bytes and 4-byte alignment (a [`Number`] takes 16 and 8), so that a
/// [`Note`] takes 32 bytes rather than 40.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Value {
    /// 0: unsigned, 1: signed, 2: a float's bits.
    kind: u8,
    bits: [u32; 2],
}

impl Value {
    fn of(n: &Number) -> Value {
        let (kind, bits) = match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => (0, u),
            (None, Some(i), _) => (1, i as u64),
            (None, None, f) => (2, f.unwrap_or(0.0).to_bits()),
        };
        Value {
            kind,
            bits: [bits as u32, (bits >> 32) as u32],
        }
    }

    fn number(self) -> Number {
        let bits = u64::from(self.bits[0]) | (u64::from(self.bits[1]) << 32);
        match self.kind {
            0 => Number::from(bits),
            1 => Number::from(bits as i64),
            _ => Number::from_f64(f64::from_bits(bits)).unwrap_or_else(|| Number::from(0u8)),
        }
    }
}

/// One step of an annotation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    /// The span's input (`output: false`) or output messages start anew, empty; the
    /// [`Op::Message`]s after it fill them.
    Messages { output: bool },
    /// A message of a known role (an index into [`KNOWN_ROLES`]) appended to the input or output
    /// messages.
    Message { output: bool, role: u8, text: Text },
    /// A token count (an index into [`KNOWN_METRICS`]).
    Metric { key: u8, value: Value },
    /// A metric of another name, held in the text.
    NamedMetric { key: Text, value: Value },
    /// The span's model name and provider, as the attribute gave them.
    Model(&'static [&'static str; 2]),
    /// A model call's returned text, captured as its output unless an annotation set one: one
    /// message with no role, not marked explicit.
    CapturedOutput(Text),
}

/// An [`Op`] for the span in slot `slot` of its batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Note {
    pub(crate) slot: u32,
    pub(crate) op: Op,
}

/// A trace's notes (or, in an [`crate::Annotate`] being built, those of one annotation, with
/// `slot` unused), and the text they refer to.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Notes {
    pub(crate) ops: Vec<Note>,
    pub(crate) text: String,
}

/// `Note::slot` of a note already applied on the application thread.
pub(crate) const APPLIED: u32 = u32::MAX;

impl Notes {
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Empties the notes, keeping their allocations.
    pub(crate) fn clear(&mut self) {
        self.ops.clear();
        self.text.clear();
    }

    /// Roughly how many bytes of intake JSON the notes add to their spans.
    pub(crate) fn approx_bytes(&self) -> usize {
        self.text.len() + 24 * self.ops.len()
    }

    fn push(&mut self, op: Op) {
        self.ops.push(Note { slot: 0, op });
    }

    fn push_text(&mut self, s: &str) -> Text {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        Text {
            start,
            len: s.len() as u32,
        }
    }

    fn text(&self, t: Text) -> &str {
        let start = t.start as usize;
        self.text.get(start..start + t.len as usize).unwrap_or("")
    }

    /// Starts the input or output messages anew.
    pub(crate) fn messages(&mut self, output: bool) {
        self.push(Op::Messages { output });
    }

    /// Appends `m` to the messages if a note can hold it (a known role, no tool calls or
    /// results, a text of at most [`MAX_NOTE_TEXT`] bytes); else hands it back.
    pub(crate) fn message(&mut self, output: bool, m: Message) -> Result<(), Message> {
        let Some(role) = known_role(&m.role) else {
            return Err(m);
        };
        if !m.tool_calls.is_empty()
            || !m.tool_results.is_empty()
            || m.tool_id.is_some()
            || m.content.len() > MAX_NOTE_TEXT
            || !self.has_room(1, m.content.len())
        {
            return Err(m);
        }
        let text = self.push_text(&m.content);
        self.push(Op::Message { output, role, text });
        Ok(())
    }

    /// Records a metric, by index when it is a known token count.
    pub(crate) fn metric(&mut self, key: &str, value: Number) {
        match known_metric(key) {
            Some(i) => self.known_metric(i, value),
            None => {
                let key = self.push_text(key);
                let value = Value::of(&value);
                self.push(Op::NamedMetric { key, value });
            }
        }
    }

    /// Records the token count `KNOWN_METRICS[i]`.
    pub(crate) fn known_metric(&mut self, i: u8, value: Number) {
        let value = Value::of(&value);
        self.push(Op::Metric { key: i, value });
    }

    /// Notes the model of the span in slot `slot`.
    pub(crate) fn model(&mut self, slot: u32, model: &'static [&'static str; 2]) {
        self.ops.push(Note {
            slot,
            op: Op::Model(model),
        });
    }

    /// Notes `text` as the captured output of the span in slot `slot` (a model call's return
    /// value); `false` if the notes have no room for it.
    pub(crate) fn output_text(&mut self, slot: u32, text: &str) -> bool {
        if text.len() > MAX_NOTE_TEXT || !self.has_room(1, text.len()) {
            return false;
        }
        let text = self.push_text(text);
        self.ops.push(Note {
            slot,
            op: Op::CapturedOutput(text),
        });
        true
    }

    /// Whether `ops` more notes and `text` more bytes of text stay within the bounds.
    pub(crate) fn has_room(&self, ops: usize, text: usize) -> bool {
        self.ops.len() + ops <= MAX_NOTES && self.text.len() + text <= MAX_NOTES_TEXT
    }

    /// Whether a metric with this key can be held in a note.
    pub(crate) fn holds_key(&self, key: &str) -> bool {
        key.len() <= MAX_NOTE_TEXT && self.has_room(1, key.len())
    }

    /// Appends the notes of one annotation (`from`) for the span in slot `slot`.
    pub(crate) fn take_for(&mut self, slot: u32, from: &Notes) {
        self.extend_from(from, |_| slot);
    }

    /// Appends another batch's notes, whose slots come `slots` later in this batch.
    pub(crate) fn append(&mut self, other: &Notes, slots: u32) {
        self.extend_from(other, |s| shift_slot(s, slots));
    }

    /// Appends `other`'s notes and text, each note for the slot `slot` gives.
    fn extend_from(&mut self, other: &Notes, slot: impl Fn(u32) -> u32) {
        let base = self.text.len() as u32;
        self.text.push_str(&other.text);
        self.ops.extend(other.ops.iter().map(|n| Note {
            slot: slot(n.slot),
            op: n.op.shifted(base),
        }));
    }

    /// Moves the notes' spans `slots` later (their batch was appended to another).
    pub(crate) fn shift_slots(&mut self, slots: u32) {
        for n in &mut self.ops {
            n.slot = shift_slot(n.slot, slots);
        }
    }

    /// Which of the input and output messages the notes set: `(input, output)`.
    pub(crate) fn sets_messages(&self) -> (bool, bool) {
        let mut sets = (false, false);
        for n in &self.ops {
            if let Op::Messages { output } = n.op {
                if output {
                    sets.1 = true;
                } else {
                    sets.0 = true;
                }
            }
        }
        sets
    }

    /// Applies every note of one annotation to `a`, in order.
    pub(crate) fn apply_all(&self, a: &mut Annotations) {
        for n in &self.ops {
            self.apply(&n.op, a);
        }
    }

    /// Applies the notes of the span in slot `slot` to its annotations (`a`, boxed if needed with
    /// `boxed`), and marks them applied.
    pub(crate) fn apply_slot(
        &mut self,
        slot: u32,
        a: &mut Option<Box<Annotations>>,
        boxed: fn() -> Box<Annotations>,
    ) {
        for i in 0..self.ops.len() {
            if self.ops[i].slot == slot {
                self.apply(&self.ops[i].op, a.get_or_insert_with(boxed));
                self.ops[i].slot = APPLIED;
            }
        }
    }

    /// Applies one note to `a`.
    pub(crate) fn apply(&self, op: &Op, a: &mut Annotations) {
        match op {
            Op::Messages { output } => {
                let (io, explicit) = if *output {
                    (&mut a.output, &mut a.output_explicit)
                } else {
                    (&mut a.input, &mut a.input_explicit)
                };
                *io = Some(SpanIo::Messages(Vec::new()));
                *explicit = true;
            }
            Op::Message { output, role, text } => {
                let io = if *output { &mut a.output } else { &mut a.input };
                let role = KNOWN_ROLES.get(usize::from(*role)).copied().unwrap_or("");
                let m = Message::with_role(SharedStr::Static(role), self.text(*text));
                match io {
                    Some(SpanIo::Messages(list)) => list.push(m),
                    other => *other = Some(SpanIo::Messages(vec![m])),
                }
            }
            Op::Metric { key, value } => {
                let key = KNOWN_METRICS.get(usize::from(*key)).copied().unwrap_or("");
                a.metrics.insert(SharedStr::Static(key), value.number());
            }
            Op::NamedMetric { key, value } => {
                a.metrics
                    .insert(SharedStr::copy_from(self.text(*key)), value.number());
            }
            Op::CapturedOutput(text) => {
                if !a.output_explicit {
                    let m = Message::with_role(SharedStr::Static(""), self.text(*text));
                    a.output = Some(SpanIo::Messages(vec![m]));
                }
            }
            Op::Model([name, provider]) => {
                if a.model_name.is_none() {
                    a.model_name = Some(SharedStr::Static(name));
                }
                if a.model_provider.is_none() {
                    a.model_provider = Some(SharedStr::Static(provider));
                }
            }
        }
    }
}

impl Op {
    /// Which field of the annotations the step writes ([`INPUT`], [`OUTPUT`], [`METRICS`]).
    pub(crate) fn field(&self) -> u8 {
        match self {
            Op::Messages { output: false } | Op::Message { output: false, .. } => INPUT,
            Op::Messages { output: true }
            | Op::Message { output: true, .. }
            | Op::CapturedOutput(_) => OUTPUT,
            Op::Metric { .. } | Op::NamedMetric { .. } => METRICS,
            Op::Model(_) => 0,
        }
    }

    /// The same step with its text `base` bytes later.
    fn shifted(self, base: u32) -> Op {
        let mut op = self;
        if let Op::Message { text, .. }
        | Op::NamedMetric { key: text, .. }
        | Op::CapturedOutput(text) = &mut op
        {
            text.start += base;
        }
        op
    }
}

/// `slot` moved `by` slots later; an applied note stays applied.
fn shift_slot(slot: u32, by: u32) -> u32 {
    if slot == APPLIED {
        APPLIED
    } else {
        slot + by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(f: impl FnOnce(&mut Notes)) -> Annotations {
        let mut n = Notes::default();
        f(&mut n);
        let mut a = Annotations::default();
        n.apply_all(&mut a);
        a
    }

    #[test]
    fn messages_replace_and_append_in_order() {
        let a = one(|n| {
            n.messages(false);
            n.message(false, Message::user("first")).unwrap();
            n.messages(false);
            n.message(false, Message::system("s")).unwrap();
            n.message(false, Message::user("q")).unwrap();
            n.messages(true);
        });
        assert_eq!(
            a.input,
            Some(SpanIo::Messages(vec![
                Message::system("s"),
                Message::user("q")
            ]))
        );
        assert_eq!(a.output, Some(SpanIo::Messages(vec![])));
        assert!(a.input_explicit && a.output_explicit);
    }

    #[test]
    fn only_plain_messages_of_known_roles_are_noted() {
        let mut n = Notes::default();
        assert!(n.message(false, Message::new("critic", "x")).is_err());
        assert!(n.message(false, Message::tool("42", "call-1")).is_err());
        let big = "x".repeat(MAX_NOTE_TEXT + 1);
        assert!(n.message(false, Message::user(big)).is_err());
        assert!(n.is_empty() && n.text.is_empty());
    }

    #[test]
    fn metric_values_keep_their_type() {
        for n in [
            Number::from(u64::MAX),
            Number::from(-3i64),
            Number::from_f64(-0.25).unwrap(),
            Number::from(7u8),
        ] {
            assert_eq!(Value::of(&n).number(), n);
        }
    }

    #[test]
    fn metrics_by_index_and_by_name_later_wins() {
        let a = one(|n| {
            n.metric("input_tokens", 4.into());
            n.metric("cost_usd", Number::from_f64(0.5).unwrap());
            n.metric("input_tokens", 5.into());
        });
        assert_eq!(a.metrics["input_tokens"], 5.into());
        assert_eq!(a.metrics["cost_usd"], Number::from_f64(0.5).unwrap());
        assert_eq!(a.metrics.len(), 2);
    }

    #[test]
    fn notes_of_one_slot_are_applied_once_and_texts_survive_appending() {
        let mut one_annotation = Notes::default();
        one_annotation.messages(true);
        one_annotation
            .message(true, Message::assistant("hi"))
            .unwrap();
        let mut trace = Notes::default();
        trace.take_for(1, &one_annotation);
        let mut other = Notes::default();
        other.take_for(0, &one_annotation);
        trace.append(&other, 2);
        assert_eq!(
            trace.ops.iter().map(|n| n.slot).collect::<Vec<_>>(),
            [1, 1, 2, 2]
        );
        let mut a = None;
        trace.apply_slot(2, &mut a, Box::default);
        let a = a.unwrap();
        assert_eq!(
            a.output,
            Some(SpanIo::Messages(vec![Message::assistant("hi")]))
        );
        assert_eq!(trace.ops[2].slot, APPLIED);
        let mut again = None;
        trace.apply_slot(2, &mut again, Box::default);
        assert!(again.is_none());
    }

    #[test]
    fn a_model_note_does_not_replace_a_model_already_set() {
        let mut a = Annotations {
            model_name: Some("set".into()),
            ..Annotations::default()
        };
        let n = Notes::default();
        n.apply(&Op::Model(&["gpt", "openai"]), &mut a);
        assert_eq!(a.model_name.as_deref(), Some("set"));
        assert_eq!(a.model_provider.as_deref(), Some("openai"));
    }

    #[test]
    fn captured_output_is_not_explicit_and_never_replaces_an_explicit_one() {
        let mut n = Notes::default();
        assert!(n.output_text(0, "returned"));
        let mut a = Annotations::default();
        n.apply_all(&mut a);
        assert_eq!(
            a.output,
            Some(SpanIo::Messages(vec![Message::new("", "returned")]))
        );
        assert!(!a.output_explicit);
        let mut explicit = Annotations::default();
        let mut e = Notes::default();
        e.messages(true);
        e.message(true, Message::assistant("said")).unwrap();
        e.apply_all(&mut explicit);
        n.apply_all(&mut explicit);
        assert_eq!(
            explicit.output,
            Some(SpanIo::Messages(vec![Message::assistant("said")]))
        );
    }

    #[test]
    fn notes_stop_at_their_bounds() {
        let mut n = Notes::default();
        let text = "x".repeat(MAX_NOTE_TEXT);
        let mut taken = 0;
        while n.message(true, Message::assistant(text.clone())).is_ok() {
            taken += 1;
        }
        assert_eq!(taken, MAX_NOTES_TEXT / MAX_NOTE_TEXT);
        assert!(!n.output_text(0, "x"));
        let mut few = Notes::default();
        for _ in 0..MAX_NOTES {
            few.known_metric(0, 1.into());
        }
        assert!(!few.has_room(1, 0));
        assert!(!few.holds_key("k"));
        assert_eq!(few.ops[0].op.field(), METRICS);
    }

    #[test]
    fn a_note_is_small() {
        assert!(std::mem::size_of::<Note>() <= 32);
    }
}
