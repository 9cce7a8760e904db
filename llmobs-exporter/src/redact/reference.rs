//! The detectors' plain definition, for the tests: each expression searched over the whole
//! text with the `regex` crate, from left to right, every match handed to the same check. The
//! scanner must find exactly what this finds.

use std::ops::Range;

use regex::Regex;

use super::detectors::{self as det, Check};
use super::scan::{self, BlockMasks, Found};
use super::Detector;

fn definition(d: Detector) -> (&'static str, Check) {
    match d {
        Detector::Email => (det::EMAIL, det::check_email),
        Detector::Phone => (det::PHONE, det::check_phone),
        Detector::UsSsn => (det::SSN, det::check_ssn),
        Detector::CreditCard => (det::CARD, det::check_card),
        Detector::Ipv4 => (det::IPV4, det::check_ipv4),
        Detector::Ipv6 => (det::IPV6, det::check_ipv6),
        Detector::ApiKey => (det::API_KEY, det::check_api_key),
        Detector::BearerToken => (det::BEARER, det::check_bearer),
    }
}

fn find_whole(re: &Regex, check: Check, text: &str) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut from = 0;
    while let Some(m) = re.find_at(text, from) {
        match check(text, m.range(), out.last().map_or(0, |r| r.end)) {
            Ok(r) => {
                from = r.end.max(m.start() + 1);
                out.push(r);
            }
            Err(next) => from = next.max(m.start() + 1),
        }
        if from > text.len() {
            break;
        }
    }
    out
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Up to 12 parts, each one of [`PIECES`] or one byte of `alphabet`, and an end for the
    /// search up to 3 bytes short of the text's.
    fn pieces_and_bytes(&mut self, alphabet: &[u8]) -> (Vec<u8>, usize) {
        let mut text: Vec<u8> = Vec::new();
        for _ in 0..self.below(12) {
            match self.below(3) {
                0 => text.extend_from_slice(PIECES[self.below(PIECES.len())].as_bytes()),
                _ => text.push(alphabet[self.below(alphabet.len())]),
            }
        }
        let end = text.len() - self.below(text.len().min(3) + 1);
        (text, end)
    }
}

/// Pieces that come close to every detector's values, and their edges.
const PIECES: &[&str] = &[
    "0",
    "1",
    "4",
    "9",
    "12",
    "123",
    "415",
    "666",
    "000",
    "4111",
    "1111",
    "2671",
    "0958",
    "45",
    "00",
    "6789",
    "255",
    "256",
    "010",
    " ",
    " ",
    "  ",
    "-",
    "--",
    ".",
    "..",
    "(",
    ")",
    "+",
    "+1",
    "+44",
    "@",
    "@@",
    ":",
    "::",
    ":::",
    "a",
    "b",
    "e",
    "f",
    "ff",
    "db8",
    "fe80",
    "G",
    "x",
    "_",
    "%",
    "\t",
    "é",
    "✓",
    "\n",
    ",",
    ";",
    "/",
    "=",
    "~",
    "jo",
    "mail",
    ".com",
    ".io",
    "co.uk",
    "example",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "pk_live_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "hf_",
    "AKIA",
    "ASIA",
    "AIza",
    "abcdefghij",
    "ABCDEFGHIJ",
    "0123456789",
    "Bearer",
    "bearer",
    "BEARER",
    "bEaReR",
    "Bearer ",
    "eyJhbGciOi.JIUzI1NiJ9",
    "jo.doe+x@mail.example.co.uk",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "378282246310005",
    "123-45-6789",
    "(415) 555-2671",
    "(415)-555-2671",
    "(415)555.2671",
    "1 (415) 555-2671",
    "+1 (415) 555-2671",
    "+44 (0)20 7946 0958",
    "+49)-30",
    "1-415-555-2671",
    "+44 20 7946 0958",
    "192.168.0.1",
    "10.0.0.255",
    "2001:db8::ff00:42:8329",
    "::1",
    "1.2.3.4.5",
];

/// What `d` found, in order.
fn of(found: &Found, d: Detector) -> Vec<Range<usize>> {
    found
        .iter()
        .filter(|(_, x)| *x == d)
        .map(|(r, _)| r.clone())
        .collect()
}

/// Compares the two on `text`; counts what each detector found in `seen`.
fn compare(text: &str, reference: &[Regex], seen: &mut [usize; 8]) {
    let mut found = Found::new();
    scan::find(text, |_| true, &mut found);
    for d in Detector::ALL {
        let got = of(&found, d);
        let want = find_whole(&reference[d as usize], definition(d).1, text);
        assert_eq!(got, want, "{d:?} in {text:?}");
        seen[d as usize] += got.len();
        // Alone, a detector finds what it finds among the others.
        let mut alone = Found::new();
        scan::find(text, |x| x == d, &mut alone);
        assert_eq!(of(&alone, d), got, "{d:?} alone in {text:?}");
    }
}

#[test]
fn the_scanner_finds_what_a_whole_text_search_finds() {
    let reference: Vec<Regex> = Detector::ALL
        .into_iter()
        .map(|d| Regex::new(definition(d).0).expect("pattern"))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = [0; 8];
    // Up to a few hundred bytes: the scanner reads text 64 bytes at a time, and values cross
    // those edges.
    for _ in 0..30_000 {
        let mut text = String::new();
        for _ in 0..rng.below(64) {
            text.push_str(PIECES[rng.below(PIECES.len())]);
        }
        compare(&text, &reference, &mut seen);
    }
    // Bytes one at a time from the alphabet the detectors care about.
    let alphabet: Vec<char> = " .-()+:@_%/=~\t0123456789abcdefABCDEFxyzXYZé"
        .chars()
        .collect();
    for _ in 0..30_000 {
        let text: String = (0..rng.below(200))
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        compare(&text, &reference, &mut seen);
    }
    // The texts reach every detector, many times.
    assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
}

#[test]
fn the_masks_of_64_bytes_at_once_are_the_bytewise_ones() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // Every byte value, then random bytes, then bytes from what numbers are made of.
    let all: Vec<u8> = (0..=255).collect();
    for block in all.chunks(64) {
        assert_eq!(BlockMasks::of(block), BlockMasks::bytewise(block));
    }
    let near = b"0123456789.-+ ()/:,@bBeEa\xff\xc2";
    for i in 0..20_000 {
        let block: Vec<u8> = (0..64)
            .map(|_| match i % 2 {
                0 => rng.next() as u8,
                _ => near[rng.below(near.len())],
            })
            .collect();
        assert_eq!(
            BlockMasks::of(&block),
            BlockMasks::bytewise(&block),
            "{block:?}"
        );
    }
}

#[test]
fn the_hand_written_matchers_end_where_their_expressions_do() {
    type At = fn(&[u8], usize, usize) -> Option<usize>;
    let matchers: [(&str, At); 3] = [
        (det::SSN, det::ssn_at),
        (det::CARD, det::card_at),
        (det::IPV4, det::ipv4_at),
    ];
    let anchored: Vec<(regex::bytes::Regex, At)> = matchers
        .iter()
        .map(|&(p, at)| {
            (
                regex::bytes::Regex::new(&format!("^(?:{p})")).expect("pattern"),
                at,
            )
        })
        .collect();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let alphabet = b"0123456789 .-+()x";
    let mut matched = [0; 3];
    for _ in 0..20_000 {
        let (text, limit) = rng.pieces_and_bytes(alphabet);
        for at in (0..limit).filter(|&p| text[p].is_ascii_digit()) {
            for (i, (re, hand)) in anchored.iter().enumerate() {
                let want = re.find(&text[at..limit]).map(|m| at + m.end());
                assert_eq!(
                    hand(&text, at, limit),
                    want,
                    "{:?} at {at}",
                    String::from_utf8_lossy(&text)
                );
                matched[i] += usize::from(want.is_some());
            }
        }
    }
    assert!(matched.iter().all(|&n| n > 100), "{matched:?}");
}

#[test]
fn the_hand_written_searches_find_the_leftmost_match_of_their_expressions() {
    type In = fn(&[u8], Range<usize>) -> Option<Range<usize>>;
    let searches: [(&str, In); 5] = [
        (det::EMAIL, det::email_in),
        (det::PHONE, det::phone_in),
        (det::SSN, det::ssn_in),
        (det::CARD, det::card_in),
        (det::IPV4, det::ipv4_in),
    ];
    let compiled: Vec<(regex::bytes::Regex, In)> = searches
        .iter()
        .map(|&(p, f)| (regex::bytes::Regex::new(p).expect("pattern"), f))
        .collect();
    let mut rng = Rng(0x0bad_5eed_1234_4321);
    let alphabet = b"0123456789 .-+()@_%ax";
    let mut matched = [0; 5];
    for _ in 0..40_000 {
        let (text, end) = rng.pieces_and_bytes(alphabet);
        let start = rng.below(end + 1);
        for (i, (re, hand)) in compiled.iter().enumerate() {
            let want = re.find_at(&text[..end], start).map(|m| m.range());
            let shown = String::from_utf8_lossy(&text);
            assert_eq!(hand(&text, start..end), want, "{shown:?} in {start}..{end}");
            matched[i] += usize::from(want.is_some());
        }
    }
    assert!(matched.iter().all(|&n| n > 100), "{matched:?}");
}
