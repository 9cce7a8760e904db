//! How the detectors search a text without reading all of it once per detector.
//!
//! Every detector's matches are made of a few kinds of bytes and hold at least one byte that
//! ordinary prose rarely has: a digit, `@`, `:`, a key prefix, the word `bearer`. Two passes
//! find those places (SSE2 bit masks of the digits, `@`, `:` and `b`/`B`, 64 bytes at a time,
//! with `memchr` in the last bytes; `aho-corasick` for the key prefixes), and the detector's
//! expression runs only there:
//!
//! - around an anchor byte, over the *window* of bytes the expression can match at all (every
//!   byte a phone number, SSN, card or IPv4 address is made of, every byte of an email address,
//!   every byte of an IPv6 address). A match cannot cross the edge of its window, so the first
//!   match in a window is the first match in the text from there on, as a search of the whole
//!   text would find it. A window that cannot hold a value (a card needs 13 digits) is skipped
//!   without a search. The IPv6 expression runs as a DFA compiled once per process; the
//!   email, phone, SSN, card and IPv4 shapes are simple enough to match by hand (`email_in`,
//!   `phone_in`, `ssn_in`, `card_in`, `ipv4_in` in `detectors.rs`), which costs less than a
//!   DFA search's set-up and its slow path through match states. On 64 KB of the `redact`
//!   bench's sensitive text, instructions per call went 1.88M → 1.82M without the SSN, card
//!   and IPv4 DFAs, then 1.62M → 1.56M → 1.51M without the email and phone DFAs; the
//!   first-use build went 16.3M → 2.8M;
//! - at a key prefix or `bearer`: whether a match starts at that position and where it ends
//!   takes a look at the bytes that follow, written out in `detectors.rs` (`key_end`,
//!   `bearer_end`). Running the expressions' DFAs there instead took a third more time on the
//!   `redact` bench's sensitive text, which has a key and a token every few turns (64 KB:
//!   339 µs per call with the DFAs, 189 µs without, one run after the other).
//!
//! Unit tests check every hand-written matcher against its expression, and the whole scanner
//! against a search of the whole text with the `regex` crate.
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

/// How a detector finds its next match in a window.
enum Search {
    /// Its expression, compiled to a forward and a reverse DFA (DFAs have no per-search
    /// state, so every thread shares them).
    Dfa(Box<Regex>),
    /// The expression's leftmost match in a span, written out in `detectors.rs` for the
    /// simple shapes, where it costs a few comparisons per position against a DFA search's
    /// set-up and its slow path through match states; the tests check them against the
    /// expressions.
    ByHand(fn(&[u8], Range<usize>) -> Option<Range<usize>>),
    /// Not in windows: matched at a literal anchor (keys, tokens).
    AtAnchor,
}

/// One detector ready to search, and its check.
struct Shape {
    search: Search,
    check: Check,
}

impl Shape {
    fn unanchored(pattern: &str, check: Check) -> Shape {
        let re = Regex::new(pattern).expect("built-in redaction pattern");
        Shape {
            search: Search::Dfa(Box::new(re)),
            check,
        }
    }

    fn by_hand(leftmost: fn(&[u8], Range<usize>) -> Option<Range<usize>>, check: Check) -> Shape {
        Shape {
            search: Search::ByHand(leftmost),
            check,
        }
    }

    fn at_anchor(check: Check) -> Shape {
        Shape {
            search: Search::AtAnchor,
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
            Shape::by_hand(det::email_in, det::check_email),
            Shape::by_hand(det::phone_in, det::check_phone),
            Shape::by_hand(det::ssn_in, det::check_ssn),
            Shape::by_hand(det::card_in, det::check_card),
            Shape::by_hand(det::ipv4_in, det::check_ipv4),
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
            let m = match &self.shape.search {
                Search::Dfa(re) => {
                    // The first match usually starts where the window does: a forward search
                    // anchored there finds it without the reverse search that finds where a
                    // match starts.
                    let input = Input::new(text).span(start..window.end);
                    match re
                        .forward()
                        .try_search_fwd(&input.clone().anchored(Anchored::Yes))
                    {
                        Ok(Some(end)) => Some(start..end.offset()),
                        Ok(None) => re
                            .try_search(&input.span(start + 1..window.end))
                            .ok()
                            .flatten()
                            .map(|m| m.range()),
                        Err(_) => None,
                    }
                }
                Search::ByHand(leftmost) => leftmost(text.as_bytes(), start..window.end),
                Search::AtAnchor => None,
            };
            match m {
                Some(m) => self.check(text, m, out),
                None => return,
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
    let mut bytes = ByteLanes {
        email: lane(Detector::Email).map(|l| (l, 0)),
        ipv6: lane(Detector::Ipv6).map(|l| (l, 0)),
        bearer: lane(Detector::BearerToken).map(|l| (l, 0)),
    };
    blocks(
        text,
        [
            lane(Detector::Phone),
            lane(Detector::UsSsn),
            lane(Detector::CreditCard),
            lane(Detector::Ipv4),
        ],
        &mut bytes,
        found,
    );
    if let Some(mut l) = lane(Detector::ApiKey) {
        api_keys(text, &m.key_prefixes, &mut l, found);
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

/// The detectors searched around an anchor byte (`@`, `:`, `b`/`B`), each with where its next
/// anchor may be.
struct ByteLanes<'a> {
    email: Option<(Lane<'a>, usize)>,
    ipv6: Option<(Lane<'a>, usize)>,
    bearer: Option<(Lane<'a>, usize)>,
}

impl ByteLanes<'_> {
    fn any(&self) -> bool {
        self.email.is_some() || self.ipv6.is_some() || self.bearer.is_some()
    }

    /// The anchors at the bits of each mask, bit `i` being byte `base + i`.
    fn at_bits(&mut self, text: &str, base: usize, masks: [u64; 3], out: &mut Found) {
        let [at, colon, b] = masks;
        if let Some((lane, pos)) = &mut self.email {
            bits(at, |i| email_at(text, base + i, pos, lane, out));
        }
        if let Some((lane, pos)) = &mut self.ipv6 {
            bits(colon, |i| ipv6_at(text, base + i, pos, lane, out));
        }
        if let Some((lane, pos)) = &mut self.bearer {
            bits(b, |i| bearer_at(text, base + i, pos, lane, out));
        }
    }

    /// The anchors from `from` on (the last bytes of a text, under 64).
    fn rest(&mut self, text: &str, from: usize, out: &mut Found) {
        let b = text.as_bytes();
        if let Some((lane, pos)) = &mut self.email {
            for at in memchr::memchr_iter(b'@', &b[from..]) {
                email_at(text, from + at, pos, lane, out);
            }
        }
        if let Some((lane, pos)) = &mut self.ipv6 {
            for at in memchr::memchr_iter(b':', &b[from..]) {
                ipv6_at(text, from + at, pos, lane, out);
            }
        }
        if let Some((lane, pos)) = &mut self.bearer {
            for at in memchr::memchr2_iter(b'b', b'B', &b[from..]) {
                bearer_at(text, from + at, pos, lane, out);
            }
        }
    }
}

/// Calls `f` with the position of each bit set in `mask`, lowest first.
fn bits(mut mask: u64, mut f: impl FnMut(usize)) {
    while mask != 0 {
        f(mask.trailing_zeros() as usize);
        mask &= mask - 1;
    }
}

/// An address around the `@` at `at`: the run of bytes addresses are made of, unless an
/// earlier run (ending at `pos`) held it.
fn email_at(text: &str, at: usize, pos: &mut usize, lane: &mut Lane<'_>, out: &mut Found) {
    if at < *pos {
        return;
    }
    let window = run(text.as_bytes(), at, *pos, |c| det::EMAIL_BYTES.has(c));
    *pos = window.end.max(at + 1);
    lane.search(text, window, out);
}

/// What a byte is to [`blocks`]: 0 for a byte no phone number, SSN, card number or IPv4
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

/// Every detector but keys, in one pass over the text: phone numbers, SSNs, card numbers and
/// IPv4 addresses (in this order in `lanes`) around each digit, in the run of bytes they are
/// made of (a *window*), each detector searching the windows that could hold one of its
/// values; the others (`bytes`) at their anchor bytes.
///
/// Most windows are a digit or two among words, or a number with fewer digits than any value
/// has. 64 bytes at a time, bit masks of the digits, dots, dashes and `+`, of every byte
/// windows are made of and of the anchor bytes give each window's edges and what it holds
/// without a loop over its bytes, and each anchor without a search for it. A window that
/// reaches the edge of its 64 bytes, and the last bytes of the text, are walked byte by byte.
fn blocks(
    text: &str,
    mut lanes: [Option<Lane<'_>>; 4],
    bytes: &mut ByteLanes<'_>,
    out: &mut Found,
) {
    let numbers = lanes.iter().any(Option::is_some);
    if !numbers && !bytes.any() {
        return;
    }
    let b = text.as_bytes();
    // Where the next window may start: every digit before it is in a window already seen.
    let mut pos: usize = 0;
    // Whether the byte before the block is one no window has (before the text, none is).
    let mut gap_below = 1;
    let mut base = 0;
    while let Some(block) = b.get(base..base + 64) {
        let m = BlockMasks::of(block);
        bytes.at_bits(text, base, [m.at, m.colons, m.bearers()], out);
        let gaps = !m.members;
        // A digit between two bytes no window has (`a1b`, as in keys, hashes and ids) is a
        // window of one digit, too short for any value: skipped with the others at once (at
        // the top edge, the byte after is not in the masks).
        let isolated = m.digits & ((gaps << 1) | gap_below) & (gaps >> 1);
        gap_below = gaps >> 63;
        let mut todo = if numbers {
            m.digits & !isolated & above(pos.saturating_sub(base))
        } else {
            0
        };
        while todo != 0 {
            let d = todo.trailing_zeros() as usize;
            let after = gaps & above(d);
            let before = gaps & !above(d);
            if after == 0 || (before == 0 && base > 0) {
                // The window may go on past the edge of the block.
                pos = window_at(text, base + d, pos, &mut lanes, out);
                todo &= above(pos - base);
                continue;
            }
            let end = after.trailing_zeros() as usize;
            let start = if before == 0 {
                0
            } else {
                64 - before.leading_zeros() as usize
            };
            todo &= above(end);
            pos = base + end;
            let w = above(start) & !above(end);
            // Four digits or more (the fourth lowest bit is set), then what else it holds.
            let d = m.digits & w;
            let d = d & d.wrapping_sub(1);
            let d = d & d.wrapping_sub(1);
            if d & d.wrapping_sub(1) != 0 {
                window(text, base + start..base + end, m.held(w), &mut lanes, out);
            }
        }
        // No window starts before the block's last byte that none has: the last bytes of the
        // text are searched from there, not from the last window's end (which lags behind
        // over blocks of words, and skipped digits alone among letters).
        if gaps != 0 {
            pos = pos.max(base + 64 - gaps.leading_zeros() as usize);
        }
        base += 64;
    }
    bytes.rest(text, base, out);
    if numbers {
        while let Some(digit) = next_digit(b, pos) {
            pos = window_at(text, digit, pos, &mut lanes, out);
        }
    }
}

/// The bits from `from` up (none when `from` is 64 or more).
fn above(from: usize) -> u64 {
    if from >= 64 {
        0
    } else {
        u64::MAX << from
    }
}

/// What a window holds, as far as telling which values it could hold goes.
#[derive(Clone, Copy, Default)]
struct Held {
    digits: u32,
    dots: u32,
    dashes: u32,
    plus: u32,
    /// Runs of exactly 3 digits, and of exactly 4.
    threes: u32,
    fours: u32,
}

impl Held {
    /// Counts a run of `len` digits that just ended.
    fn end_run(&mut self, len: u32) {
        self.threes += u32::from(len == 3);
        self.fours += u32::from(len == 4);
    }
}

/// 64 bytes of text as bit masks: bit `i` is set when byte `i` is...
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct BlockMasks {
    /// ...a digit,
    digits: u64,
    /// ...a `.`, a `-` or a `+`,
    dots: u64,
    dashes: u64,
    plus: u64,
    /// ...a byte windows are made of ([`NUMBER_BYTES`]),
    members: u64,
    /// ...an `@`, a `:`, a `b` or `B`, an `e` or `E`.
    at: u64,
    colons: u64,
    bees: u64,
    ees: u64,
}

impl BlockMasks {
    /// The masks of `block[..64]`, 16 bytes at a time.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn of(block: &[u8]) -> BlockMasks {
        use std::arch::x86_64::{
            __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8,
            _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let block = &block[..64];
        let mut m = BlockMasks::default();
        for i in 0..4 {
            // SAFETY: SSE2 is part of x86-64; the 16 bytes read are inside `block` (64 bytes
            // long), and the unaligned load has no alignment requirement.
            let [digit, dot, dash, plus, member, at_sign, colon, bee, ee] = unsafe {
                let v = _mm_loadu_si128(block.as_ptr().add(16 * i).cast::<__m128i>());
                let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                // Signed compares: bytes from 0x80 up are negative, below `0`.
                let digit = _mm_and_si128(
                    _mm_cmpgt_epi8(v, _mm_set1_epi8(b'0' as i8 - 1)),
                    _mm_cmplt_epi8(v, _mm_set1_epi8(b'9' as i8 + 1)),
                );
                let (dot, dash, plus) = (eq(b'.'), eq(b'-'), eq(b'+'));
                let other = _mm_or_si128(eq(b' '), _mm_or_si128(eq(b'('), eq(b')')));
                let member = _mm_or_si128(
                    _mm_or_si128(digit, other),
                    _mm_or_si128(dot, _mm_or_si128(dash, plus)),
                );
                // `b` or `B`: the byte with bit 5 (the ASCII case bit) set is a `b`.
                let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
                let bee = _mm_cmpeq_epi8(lower, _mm_set1_epi8(b'b' as i8));
                let ee = _mm_cmpeq_epi8(lower, _mm_set1_epi8(b'e' as i8));
                [digit, dot, dash, plus, member, eq(b'@'), eq(b':'), bee, ee]
                    .map(|x| _mm_movemask_epi8(x) as u16)
            };
            let at = 16 * i;
            m.digits |= u64::from(digit) << at;
            m.dots |= u64::from(dot) << at;
            m.dashes |= u64::from(dash) << at;
            m.plus |= u64::from(plus) << at;
            m.members |= u64::from(member) << at;
            m.at |= u64::from(at_sign) << at;
            m.colons |= u64::from(colon) << at;
            m.bees |= u64::from(bee) << at;
            m.ees |= u64::from(ee) << at;
        }
        m
    }

    /// The masks of `block[..64]`, a byte at a time.
    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn of(block: &[u8]) -> BlockMasks {
        BlockMasks::bytewise(block)
    }

    #[cfg_attr(target_arch = "x86_64", cfg(test))]
    pub(super) fn bytewise(block: &[u8]) -> BlockMasks {
        let mut m = BlockMasks::default();
        for (i, &c) in block[..64].iter().enumerate() {
            let k = NUMBER_BYTES[usize::from(c)];
            m.digits |= u64::from(k == DIGIT) << i;
            m.dots |= u64::from(k == DOT) << i;
            m.dashes |= u64::from(k == DASH) << i;
            m.plus |= u64::from(k == PLUS) << i;
            m.members |= u64::from(k != NOT_NUMBER) << i;
            m.at |= u64::from(c == b'@') << i;
            m.colons |= u64::from(c == b':') << i;
            m.bees |= u64::from(c | 0x20 == b'b') << i;
            m.ees |= u64::from(c | 0x20 == b'e') << i;
        }
        m
    }

    /// Where `bearer` may start: a `b` with an `e` after it and another 4 bytes on (in any
    /// case), or too near the end of the block to tell.
    fn bearers(&self) -> u64 {
        self.bees & ((self.ees >> 1) & (self.ees >> 4) | (0xf << 60))
    }

    /// What the bytes in `window` (a mask) hold.
    fn held(&self, window: u64) -> Held {
        let d = self.digits & window;
        // Where runs of digits start, then those exactly 3 and 4 digits long (the window
        // never reaches bit 63, so nothing past it reads as a digit).
        let starts = d & !(d << 1);
        let three = starts & (d >> 1) & (d >> 2);
        Held {
            digits: d.count_ones(),
            dots: (self.dots & window).count_ones(),
            dashes: (self.dashes & window).count_ones(),
            plus: (self.plus & window).count_ones(),
            threes: (three & !(d >> 3)).count_ones(),
            fours: (three & (d >> 3) & !(d >> 4)).count_ones(),
        }
    }
}

/// The window around the digit at `digit`, not reaching back before `floor`, searched if it
/// could hold a value; returns where it ends.
fn window_at(
    text: &str,
    digit: usize,
    floor: usize,
    lanes: &mut [Option<Lane<'_>>; 4],
    out: &mut Found,
) -> usize {
    let b = text.as_bytes();
    let class = |c: u8| NUMBER_BYTES[usize::from(c)];
    // A digit between two bytes no value has (`a1b`, as in keys, hashes and ids) is a window
    // of one digit.
    if b.get(digit + 1).is_some_and(|&c| class(c) == NOT_NUMBER)
        && (digit == floor || class(b[digit - 1]) == NOT_NUMBER)
    {
        return digit + 1;
    }
    let mut start = digit;
    while start > floor && class(b[start - 1]) != NOT_NUMBER {
        start -= 1;
    }
    let mut end = start;
    // Counters in registers: an array indexed by class makes each byte wait for the previous
    // store.
    let mut held = Held::default();
    let mut run = 0;
    while let Some(&c) = b.get(end) {
        let k = class(c);
        if k == NOT_NUMBER {
            break;
        }
        let digit = k == DIGIT;
        held.digits += u32::from(digit);
        held.dots += u32::from(k == DOT);
        held.dashes += u32::from(k == DASH);
        held.plus += u32::from(k == PLUS);
        if !digit {
            held.end_run(run);
        }
        run = if digit { run + 1 } else { 0 };
        end += 1;
    }
    held.end_run(run);
    if held.digits >= 4 {
        window(text, start..end, held, lanes, out);
    }
    end
}

/// Searches the window `w` (a maximal run of [`NUMBER_BYTES`] that holds `held`) with each
/// detector whose values it could hold.
fn window(
    text: &str,
    w: Range<usize>,
    held: Held,
    lanes: &mut [Option<Lane<'_>>; 4],
    out: &mut Found,
) {
    let b = text.as_bytes();
    let (mut start, mut end) = (w.start, w.end);
    // A value starts with a digit, `+` or `(` and ends with a digit or `)`.
    while !matches!(b[start], b'0'..=b'9' | b'+' | b'(') {
        start += 1;
    }
    while !matches!(b[end - 1], b'0'..=b'9' | b')') {
        end -= 1;
    }
    // What a value needs before its check can accept it: a phone number 8 digits after a
    // `+`, or groups of exactly 3, 3 and 4 digits (the checks want a number to start after
    // no digit and end before none, and the expression separates the groups); an SSN 9
    // digits and 2 dashes; a card 13 digits; an address 4 digits and 3 dots.
    let Held {
        digits,
        dots,
        dashes,
        plus,
        threes,
        fours,
    } = held;
    let could_hold = [
        (plus > 0 && digits >= 8) || (threes >= 2 && fours >= 1),
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

/// An address around the `:` at `at`: the run of hex digits, dots and colons, when it has
/// the two colons every address has, unless an earlier run (ending at `pos`) held it.
fn ipv6_at(text: &str, colon: usize, pos: &mut usize, lane: &mut Lane<'_>, out: &mut Found) {
    if colon < *pos {
        return;
    }
    let b = text.as_bytes();
    let window = run(b, colon, *pos, det::is_v6);
    *pos = window.end.max(colon + 1);
    // Windows are short: a byte loop costs less than setting up a vector search.
    if b[window.clone()]
        .iter()
        .filter(|&&c| c == b':')
        .nth(1)
        .is_some()
    {
        lane.search(text, window, out);
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

/// A token at the `b` or `B` at `at`, when `bearer` in any case starts there, unless the
/// search has passed it (`pos`).
fn bearer_at(text: &str, at: usize, pos: &mut usize, lane: &mut Lane<'_>, out: &mut Found) {
    if at < *pos {
        return;
    }
    let b = text.as_bytes();
    if b.get(at..at + 6)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"bearer"))
    {
        lane.found_at(text, at, det::bearer_end(b, at), out);
    }
    *pos = (at + 1).max(lane.from);
}
