//! How the detectors search a text without reading all of it once per detector.
//!
//! Every detector's matches are made of a few kinds of bytes and hold at least one byte that
//! ordinary prose rarely has: a digit, `@`, `:`, a key prefix, the word `bearer`. One fast pass
//! per anchor finds those places (`memchr` for `@`, `:` and `b`/`B`, `aho-corasick` for the key
//! prefixes, an eight-bytes-at-a-time test for digits), and the detector's expression, compiled
//! to a DFA once per process, runs only there:
//!
//! - around an anchor byte, over the *window* of bytes the expression can match at all (every
//!   byte a phone number, SSN, card or IPv4 address is made of, every byte of an email address,
//!   every byte of an IPv6 address). A match cannot cross the edge of its window, so the first
//!   match in a window is the first match in the text from there on, as a search of the whole
//!   text would find it. A window that cannot hold a value (a card needs 13 digits) is skipped
//!   without a search;
//! - at a key prefix or `bearer`: whether a match starts at that position and where it ends
//!   takes a look at the bytes that follow, written out in `detectors.rs` (`key_end`,
//!   `bearer_end`; a unit test checks them against the expressions). Running the expressions'
//!   DFAs there instead took a third more time on the `redact` bench's sensitive text, which
//!   has a key and a token every few turns (64 KB: 339 µs per call with the DFAs, 189 µs
//!   without, one run after the other).
//!
//! Each match then goes through its detector's check, exactly as a search of the whole text
//! would have it: the check says what to redact and where the detector's search goes on.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex_automata::dfa::regex::Regex;
use regex_automata::dfa::Automaton;
use regex_automata::{Anchored, Input};

use super::detectors::{self as det, Check};
use super::Detector;

/// What the detectors found: each detector's ranges in order, the detectors interleaved.
pub(super) type Found = Vec<(Range<usize>, Detector)>;

/// One detector ready to search: its expression compiled to a forward and a reverse DFA,
/// searched over a window for the first match in it (DFAs have no per-search state, so every
/// thread shares them), or none for the detectors matched at a literal anchor; and its check.
struct Shape {
    search: Option<Box<Regex>>,
    check: Check,
}

impl Shape {
    fn unanchored(pattern: &str, check: Check) -> Shape {
        let re = Regex::new(pattern).expect("built-in redaction pattern");
        Shape {
            search: Some(Box::new(re)),
            check,
        }
    }

    fn at_anchor(check: Check) -> Shape {
        Shape {
            search: None,
            check,
        }
    }
}

/// Everything the detectors search with, built on first use and shared by every thread.
struct Matchers {
    /// Indexed by `Detector as usize`.
    shapes: [Shape; 8],
    /// The key prefixes of [`Detector::ApiKey`].
    key_prefixes: AhoCorasick,
}

fn matchers() -> &'static Matchers {
    static M: OnceLock<Matchers> = OnceLock::new();
    M.get_or_init(|| Matchers {
        // The order of `Detector::ALL`.
        shapes: [
            Shape::unanchored(det::EMAIL, det::check_email),
            Shape::unanchored(det::PHONE, det::check_phone),
            Shape::unanchored(det::SSN, det::check_ssn),
            Shape::unanchored(det::CARD, det::check_card),
            Shape::unanchored(det::IPV4, det::check_ipv4),
            Shape::unanchored(det::IPV6, det::check_ipv6),
            Shape::at_anchor(det::check_api_key),
            Shape::at_anchor(det::check_bearer),
        ],
        key_prefixes: AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(det::API_KEY_PREFIXES.map(|(p, _)| p))
            .expect("built-in key prefixes"),
    })
}

/// One detector's search through a text: where its next match may start, and what it found.
struct Lane<'a> {
    detector: Detector,
    shape: &'a Shape,
    from: usize,
    /// The end of the last range found, which some checks need.
    last_end: usize,
}

impl Lane<'_> {
    /// Hands the match `m` to the check and moves the search on.
    fn check(&mut self, text: &str, m: Range<usize>, out: &mut Found) {
        match (self.shape.check)(text, m.clone(), self.last_end) {
            Ok(r) => {
                self.from = r.end.max(m.start + 1);
                self.last_end = r.end;
                out.push((r, self.detector));
            }
            Err(next) => self.from = next.max(m.start + 1),
        }
    }

    /// Every match in `window`, a stretch of text no match of this detector can cross the
    /// edges of.
    fn search(&mut self, text: &str, window: Range<usize>, out: &mut Found) {
        loop {
            let start = self.from.max(window.start);
            if start >= window.end {
                return;
            }
            let Some(re) = &self.shape.search else {
                return;
            };
            // The first match usually starts where the window does: a forward search anchored
            // there finds it without the reverse search that finds where a match starts.
            let input = Input::new(text).span(start..window.end);
            let m = match re
                .forward()
                .try_search_fwd(&input.clone().anchored(Anchored::Yes))
            {
                Ok(Some(end)) => Ok(Some(start..end.offset())),
                Ok(None) => re
                    .try_search(&input.span(start + 1..window.end))
                    .map(|m| m.map(|m| m.range())),
                Err(e) => Err(e),
            };
            match m {
                Ok(Some(m)) => self.check(text, m, out),
                _ => return,
            }
        }
    }

    /// The match from `at` to `end`, if the search has not passed `at`.
    fn found_at(&mut self, text: &str, at: usize, end: Option<usize>, out: &mut Found) {
        if let (true, Some(end)) = (at >= self.from, end) {
            self.check(text, at..end, out);
        }
    }
}

/// Runs every detector `on` says over `text`; `found` receives what they find.
pub(super) fn find(text: &str, on: impl Fn(Detector) -> bool, found: &mut Found) {
    let m = matchers();
    let lane = |detector: Detector| {
        on(detector).then(|| Lane {
            detector,
            shape: &m.shapes[detector as usize],
            from: 0,
            last_end: 0,
        })
    };
    if let Some(mut l) = lane(Detector::Email) {
        emails(text, &mut l, found);
    }
    numbers(
        text,
        [
            lane(Detector::Phone),
            lane(Detector::UsSsn),
            lane(Detector::CreditCard),
            lane(Detector::Ipv4),
        ],
        found,
    );
    if let Some(mut l) = lane(Detector::Ipv6) {
        ipv6_addresses(text, &mut l, found);
    }
    if let Some(mut l) = lane(Detector::ApiKey) {
        api_keys(text, &m.key_prefixes, &mut l, found);
    }
    if let Some(mut l) = lane(Detector::BearerToken) {
        bearer_tokens(text, &mut l, found);
    }
}

/// The maximal run of bytes `part` accepts around `at`, not reaching back before `floor`.
fn run(b: &[u8], at: usize, floor: usize, part: impl Fn(u8) -> bool) -> Range<usize> {
    let (mut start, mut end) = (at, at);
    while start > floor && part(b[start - 1]) {
        start -= 1;
    }
    while end < b.len() && part(b[end]) {
        end += 1;
    }
    start..end
}

fn in_email(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"._%+-@".contains(&c)
}

/// Addresses: around each `@`, the run of bytes an address is made of.
fn emails(text: &str, lane: &mut Lane<'_>, out: &mut Found) {
    let b = text.as_bytes();
    let mut pos = 0;
    while let Some(at) = memchr::memchr(b'@', &b[pos..]).map(|i| pos + i) {
        let window = run(b, at, pos, in_email);
        pos = window.end.max(at + 1);
        lane.search(text, window, out);
    }
}

/// What a byte is to [`numbers`]: 0 for a byte no phone number, SSN, card number or IPv4
/// address has, else one of the other classes.
const NOT_NUMBER: u8 = 0;
const DIGIT: u8 = 1;
const DOT: u8 = 2;
const DASH: u8 = 3;
const PLUS: u8 = 4;
/// A space or a parenthesis.
const OTHER: u8 = 5;

const NUMBER_BYTES: [u8; 256] = {
    let mut t = [NOT_NUMBER; 256];
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = DIGIT;
        d += 1;
    }
    t[b'.' as usize] = DOT;
    t[b'-' as usize] = DASH;
    t[b'+' as usize] = PLUS;
    t[b' ' as usize] = OTHER;
    t[b'(' as usize] = OTHER;
    t[b')' as usize] = OTHER;
    t
};

/// Phone numbers, SSNs, card numbers and IPv4 addresses (in this order in `lanes`): around
/// each digit, the run of bytes they are made of; each detector searches the runs that could
/// hold one of its values.
fn numbers(text: &str, mut lanes: [Option<Lane<'_>>; 4], out: &mut Found) {
    if lanes.iter().all(Option::is_none) {
        return;
    }
    let b = text.as_bytes();
    let class = |c: u8| NUMBER_BYTES[usize::from(c)];
    let mut pos = 0;
    while let Some(digit) = next_digit(b, pos) {
        // A digit between two bytes no value has (`a1b`, as in keys, hashes and ids) is a
        // window of one digit: skip it without walking and counting.
        if b.get(digit + 1).is_some_and(|&c| class(c) == NOT_NUMBER)
            && (digit == pos || class(b[digit - 1]) == NOT_NUMBER)
        {
            pos = digit + 1;
            continue;
        }
        let mut start = digit;
        while start > pos && class(b[start - 1]) != NOT_NUMBER {
            start -= 1;
        }
        let mut end = start;
        // How many digits, dots, dashes and `+`, and the longest run of digits (counters in
        // registers: an array indexed by class makes each byte wait for the previous store).
        let (mut digits, mut dots, mut dashes, mut plus) = (0usize, 0usize, 0usize, 0usize);
        let (mut run, mut longest) = (0usize, 0usize);
        while let Some(&c) = b.get(end) {
            let k = class(c);
            if k == NOT_NUMBER {
                break;
            }
            let digit = k == DIGIT;
            digits += usize::from(digit);
            dots += usize::from(k == DOT);
            dashes += usize::from(k == DASH);
            plus += usize::from(k == PLUS);
            run = if digit { run + 1 } else { 0 };
            longest = longest.max(run);
            end += 1;
        }
        pos = end;
        if digits < 4 {
            continue;
        }
        // A value starts with a digit, `+` or `(` and ends with a digit or `)`.
        while !matches!(b[start], b'0'..=b'9' | b'+' | b'(') {
            start += 1;
        }
        while !matches!(b[end - 1], b'0'..=b'9' | b')') {
            end -= 1;
        }
        // What a value needs before its check can accept it: a phone number 8 digits after a
        // `+`, or 10 with a group of 4; an SSN 9 digits and 2 dashes; a card 13 digits; an
        // address 4 digits and 3 dots.
        let could_hold = [
            (plus > 0 && digits >= 8) || (digits >= 10 && longest >= 4),
            digits >= 9 && dashes >= 2,
            digits >= 13,
            dots >= 3,
        ];
        for (lane, could) in lanes.iter_mut().zip(could_hold) {
            if let (Some(lane), true) = (lane, could) {
                lane.search(text, start..end, out);
            }
        }
    }
}

/// The first ASCII digit at or after `from`, eight bytes at a time.
fn next_digit(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = ONES * 0x80;
    let rest = b.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut at = from;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Digits become 0..=9; a byte below 10 sets its high bit in `below` (the test may also
        // flag a byte next to a real one, never a word without one).
        let x = u64::from_ne_bytes(word) ^ (ONES * u64::from(b'0'));
        let below = x.wrapping_sub(ONES * 10) & !x & HIGHS;
        if below != 0 {
            if let Some(i) = chunk.iter().position(u8::is_ascii_digit) {
                return Some(at + i);
            }
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(u8::is_ascii_digit)
        .map(|i| at + i)
}

/// Addresses: around each `:`, the run of hex digits, dots and colons, when it has the two
/// colons every address has.
fn ipv6_addresses(text: &str, lane: &mut Lane<'_>, out: &mut Found) {
    let b = text.as_bytes();
    let mut pos = 0;
    while let Some(colon) = memchr::memchr(b':', &b[pos..]).map(|i| pos + i) {
        let window = run(b, colon, pos, det::is_v6);
        pos = window.end.max(colon + 1);
        if memchr::memchr_iter(b':', &b[window.clone()])
            .nth(1)
            .is_some()
        {
            lane.search(text, window, out);
        }
    }
}

/// Keys: an anchored match at each key prefix.
fn api_keys(text: &str, prefixes: &AhoCorasick, lane: &mut Lane<'_>, out: &mut Found) {
    let mut pos = 0;
    while pos < text.len() {
        let Some(p) = prefixes.find(aho_corasick::Input::new(text).span(pos..text.len())) else {
            return;
        };
        if p.start() >= lane.from {
            let end = det::key_end(text.as_bytes(), p.start(), p.pattern().as_usize());
            lane.found_at(text, p.start(), end, out);
        }
        pos = (p.start() + 1).max(lane.from);
    }
}

/// Tokens: an anchored match at each `bearer`, in any case.
fn bearer_tokens(text: &str, lane: &mut Lane<'_>, out: &mut Found) {
    let b = text.as_bytes();
    let mut pos = 0;
    while let Some(at) = memchr::memchr2(b'b', b'B', &b[pos..]).map(|i| pos + i) {
        if b.get(at..at + 6)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"bearer"))
        {
            lane.found_at(text, at, det::bearer_end(b, at), out);
        }
        pos = (at + 1).max(lane.from);
        if pos >= b.len() {
            return;
        }
    }
}
