//! What each built-in detector looks for: the expression that describes the shape of a value,
//! and the checks in Rust that an expression cannot say (the Luhn sum of a card, the range of an
//! IPv4 octet, the SSN area/group/serial rules, the word and number boundaries around a match,
//! and std's IPv6 parser).
//!
//! Expressions use ASCII classes only (`[0-9]`, not `\d`), so what they match is what the
//! documentation of each [`Detector`](super::Detector) says, whatever the text's script.
//!
//! A check receives a match of the expression and the end of the last range its detector
//! found, and answers `Ok` with the range to redact (the search goes on after it) or `Err` with
//! where to search next.

use std::ops::Range;

/// What a check answers; see the module documentation.
pub(super) type Verdict = Result<Range<usize>, usize>;

/// The checks, in the shape the scanner calls them: the text, the match, the end of the last
/// range found.
pub(super) type Check = fn(&str, Range<usize>, usize) -> Verdict;

/// The definition, as for `API_KEY`: matched by [`email_in`].
#[cfg(test)]
pub(super) const EMAIL: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+";

/// What an email address's domain is made of.
const EMAIL_DOMAIN: ByteSet = ByteSet::alphanumeric_and(b".-");

/// The leftmost match of `EMAIL` in `b[span]`: a run of local-part bytes, the `@` that ends
/// it, then every domain byte that follows, at least one.
pub(super) fn email_in(b: &[u8], span: Range<usize>) -> Option<Range<usize>> {
    let mut p = span.start;
    while p < span.end {
        if !EMAIL_LOCAL.has(b[p]) {
            p += 1;
            continue;
        }
        // The local part runs to the next byte that is not one of its own.
        let at = p + b[p..span.end]
            .iter()
            .take_while(|&&c| EMAIL_LOCAL.has(c))
            .count();
        if b.get(at) == Some(&b'@') && at + 1 < span.end && EMAIL_DOMAIN.has(b[at + 1]) {
            let domain = b[at + 1..span.end]
                .iter()
                .take_while(|&&c| EMAIL_DOMAIN.has(c))
                .count();
            return Some(p..at + 1 + domain);
        }
        // No start from `p` to `at` can match: they all reach the same `at`.
        p = at.max(p + 1);
    }
    None
}

/// The leftmost match of `PHONE` in `b[span]`: at the first position an international or a
/// North American number starts.
pub(super) fn phone_in(b: &[u8], span: Range<usize>) -> Option<Range<usize>> {
    let limit = span.end;
    span.clone().find_map(|p| {
        let end = match b[p] {
            b'+' => international_at(b, p, limit),
            b'0'..=b'9' | b'(' => north_american_at(b, p, limit),
            _ => None,
        };
        end.map(|end| p..end)
    })
}

/// Whether `b[i]` is a digit before `limit`.
fn digit_at(b: &[u8], i: usize, limit: usize) -> bool {
    i < limit && b[i].is_ascii_digit()
}

/// `b[i]` before `limit`, if there is one.
fn byte_at(b: &[u8], i: usize, limit: usize) -> Option<u8> {
    (i < limit).then(|| b[i])
}

/// Where the international alternative of `PHONE` matched at `at` (a `+`) ends: digits, then
/// as many groups as follow (a separator, maybe a `(`; or a `)`, maybe a space or dash, maybe
/// a `(`; then digits), then a `)` if one is there. An optional part is taken whenever it is
/// there: leaving it out would leave a byte the next part cannot start with.
fn international_at(b: &[u8], at: usize, limit: usize) -> Option<usize> {
    let digits = |i: usize| (i..limit).take_while(|&j| b[j].is_ascii_digit()).count();
    let first = digits(at + 1);
    if first == 0 {
        return None;
    }
    let mut end = at + 1 + first;
    loop {
        let mut i = end;
        match byte_at(b, i, limit) {
            Some(b' ' | b'.' | b'-') => i += 1,
            Some(b')') => {
                i += 1;
                if matches!(byte_at(b, i, limit), Some(b' ' | b'-')) {
                    i += 1;
                }
            }
            _ => break,
        }
        if byte_at(b, i, limit) == Some(b'(') {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            break;
        }
        end = i + n;
    }
    Some(if byte_at(b, end, limit) == Some(b')') {
        end + 1
    } else {
        end
    })
}

/// Where the North American alternative of `PHONE` matched at `at` ends: maybe `1` and a
/// separator, then two groups of 3 digits (in parentheses, maybe followed by a space or dash;
/// or followed by a separator), then 4 digits. (After `1` and a separator, the expression's
/// try without the prefix cannot match: a group does not start with a separator.)
fn north_american_at(b: &[u8], at: usize, limit: usize) -> Option<usize> {
    let group = |i: usize| -> Option<usize> {
        let three = |i: usize| (i..i + 3).all(|j| digit_at(b, j, limit));
        if byte_at(b, i, limit) == Some(b'(') {
            if !(three(i + 1) && byte_at(b, i + 4, limit) == Some(b')')) {
                return None;
            }
            let after = i + 5;
            Some(match byte_at(b, after, limit) {
                Some(b' ' | b'-') => after + 1,
                _ => after,
            })
        } else if three(i) && matches!(byte_at(b, i + 3, limit), Some(b' ' | b'.' | b'-')) {
            Some(i + 4)
        } else {
            None
        }
    };
    let rest = |i: usize| -> Option<usize> {
        let i = group(group(i)?)?;
        (i..i + 4).all(|j| digit_at(b, j, limit)).then_some(i + 4)
    };
    let prefixed = b[at] == b'1' && matches!(byte_at(b, at + 1, limit), Some(b' ' | b'.' | b'-'));
    if prefixed {
        rest(at + 2)
    } else {
        rest(at)
    }
}

/// The leftmost match in `b[span]` of an expression whose matches start with a digit, given
/// where its match anchored at a position ends.
fn leftmost_at_digit(
    b: &[u8],
    span: Range<usize>,
    at: fn(&[u8], usize, usize) -> Option<usize>,
) -> Option<Range<usize>> {
    span.clone()
        .filter(|&p| b[p].is_ascii_digit())
        .find_map(|p| at(b, p, span.end).map(|end| p..end))
}

/// The leftmost match of `SSN` in `b[span]`.
pub(super) fn ssn_in(b: &[u8], span: Range<usize>) -> Option<Range<usize>> {
    leftmost_at_digit(b, span, ssn_at)
}

/// The leftmost match of `CARD` in `b[span]`.
pub(super) fn card_in(b: &[u8], span: Range<usize>) -> Option<Range<usize>> {
    leftmost_at_digit(b, span, card_at)
}

/// The leftmost match of `IPV4` in `b[span]`.
pub(super) fn ipv4_in(b: &[u8], span: Range<usize>) -> Option<Range<usize>> {
    leftmost_at_digit(b, span, ipv4_at)
}

/// International: `+`, then groups of digits split by ` `, `.`, `-` or parentheses; the digit
/// count is checked below. North American: 3-3-4 digits, maybe after `1` and with the area code
/// in parentheses; separators are required. The definition, as for `API_KEY`: matched by
/// [`phone_in`].
#[cfg(test)]
pub(super) const PHONE: &str = r"(?x)
      \+[0-9]+ (?: (?: [\ .\-]\(? | \)[\ \-]?\(? ) [0-9]+ )* \)?
    | (?: 1[\ .\-] )?
      (?: \([0-9]{3}\)[\ \-]? | [0-9]{3}[\ .\-] )
      (?: \([0-9]{3}\)[\ \-]? | [0-9]{3}[\ .\-] )
      [0-9]{4}";

/// The definition, as for `API_KEY`: matched by [`ssn_at`].
#[cfg(test)]
pub(super) const SSN: &str = r"[0-9]{3}-[0-9]{2}-[0-9]{4}";

/// At least 13 digits, grouped by single spaces or by single dashes (not both). The
/// definition, as for `API_KEY`: matched by [`card_at`].
#[cfg(test)]
pub(super) const CARD: &str = r"[0-9](?: ?[0-9]){12,}|[0-9](?:-?[0-9]){12,}";

/// The definition, as for `API_KEY`: matched by [`ipv4_at`].
#[cfg(test)]
pub(super) const IPV4: &str = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}";

/// Where what `SSN` matches anchored at `at` ends, without reading from `limit` on.
pub(super) fn ssn_at(b: &[u8], at: usize, limit: usize) -> Option<usize> {
    let end = at + 11;
    let w = b.get(at..end).filter(|_| end <= limit)?;
    w.iter()
        .zip(b"000-00-0000")
        .all(|(&c, &shape)| match shape {
            b'0' => c.is_ascii_digit(),
            _ => c == shape,
        })
        .then_some(end)
}

/// Where what `CARD` matches anchored at `at` ends, without reading from `limit` on: the
/// digits joined by single spaces, as far as they go, when there are 13 or more; else the
/// same with dashes.
pub(super) fn card_at(b: &[u8], at: usize, limit: usize) -> Option<usize> {
    let digit = |i: usize| i < limit && b[i].is_ascii_digit();
    if !digit(at) {
        return None;
    }
    for sep in [b' ', b'-'] {
        let (mut end, mut digits) = (at + 1, 1);
        loop {
            if digit(end) {
                end += 1;
            } else if b.get(end) == Some(&sep) && digit(end + 1) {
                end += 2;
            } else {
                break;
            }
            digits += 1;
        }
        if digits >= 13 {
            return Some(end);
        }
    }
    None
}

/// Where what `IPV4` matches anchored at `at` ends, without reading from `limit` on: three
/// runs of 1 to 3 digits each followed by a dot (a longer run cannot reach its dot), then up
/// to 3 digits.
pub(super) fn ipv4_at(b: &[u8], at: usize, limit: usize) -> Option<usize> {
    let mut i = at;
    for group in 0..4 {
        let run = b[i..limit]
            .iter()
            .take(4)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if run == 0 {
            return None;
        }
        if group == 3 {
            return Some(i + run.min(3));
        }
        if run > 3 || b.get(i + run) != Some(&b'.') || i + run >= limit {
            return None;
        }
        i += run + 1;
    }
    None
}

/// Two colons with only hex digits and dots between them: every address has them.
pub(super) const IPV6: &str = r":[0-9A-Fa-f.]*:";

/// Well-known key prefixes at the start of a token, each with the fewest key characters that
/// must follow; the key runs on to the last key character. The definition: the scanner matches
/// it by hand ([`key_end`]), the tests check that against this expression.
#[cfg(test)]
pub(super) const API_KEY: &str = r"(?x) (?-u:\b) (?:
        sk- [A-Za-z0-9_\-]{20}
      | (?: sk_live_ | sk_test_ | rk_live_ | pk_live_ ) [A-Za-z0-9_\-]{16}
      | (?: gh[pousr]_ | github_pat_ ) [A-Za-z0-9_\-]{30}
      | glpat- [A-Za-z0-9_\-]{20}
      | xox[bpas]- [A-Za-z0-9_\-]{16}
      | hf_ [A-Za-z0-9_\-]{30}
      | (?: AKIA | ASIA ) [A-Za-z0-9_\-]{16}
      | AIza [A-Za-z0-9_\-]{30}
    ) [A-Za-z0-9_\-]*";

/// The literal start of every alternative of `API_KEY`, with the fewest key characters
/// that must follow it: where a key can begin and how long it must be. The scanner matches
/// keys from this table ([`key_end`]); a unit test checks it finds what `API_KEY` finds.
pub(super) const API_KEY_PREFIXES: [(&str, usize); 20] = [
    ("sk-", 20),
    ("sk_live_", 16),
    ("sk_test_", 16),
    ("rk_live_", 16),
    ("pk_live_", 16),
    ("ghp_", 30),
    ("gho_", 30),
    ("ghu_", 30),
    ("ghs_", 30),
    ("ghr_", 30),
    ("github_pat_", 30),
    ("glpat-", 20),
    ("xoxb-", 16),
    ("xoxp-", 16),
    ("xoxa-", 16),
    ("xoxs-", 16),
    ("hf_", 30),
    ("AKIA", 16),
    ("ASIA", 16),
    ("AIza", 30),
];

/// A set of bytes, each looked up in one step.
pub(super) struct ByteSet([bool; 256]);

impl ByteSet {
    /// The ASCII letters and digits, and `extra`.
    const fn alphanumeric_and(extra: &[u8]) -> ByteSet {
        let mut set = [false; 256];
        let mut c = 0;
        while c < 256 {
            set[c] = (c as u8).is_ascii_alphanumeric();
            c += 1;
        }
        let mut i = 0;
        while i < extra.len() {
            set[extra[i] as usize] = true;
            i += 1;
        }
        ByteSet(set)
    }

    #[inline(always)]
    pub(super) fn has(&self, c: u8) -> bool {
        self.0[usize::from(c)]
    }
}

/// What a word is made of (`\w` in ASCII).
const WORD: ByteSet = ByteSet::alphanumeric_and(b"_");
const KEY: ByteSet = ByteSet::alphanumeric_and(b"_-");
const TOKEN: ByteSet = ByteSet::alphanumeric_and(b"-._~+/=");
const EMAIL_LOCAL: ByteSet = ByteSet::alphanumeric_and(b"._%+-");
/// Every byte of an email address.
pub(super) const EMAIL_BYTES: ByteSet = ByteSet::alphanumeric_and(b"._%+-@");

/// Where the key that starts at `at` with `API_KEY_PREFIXES[prefix]` ends, if one does: what
/// `API_KEY` matches anchored at `at` (a token start, the prefix, at least the fewest key
/// characters, then every key character that follows).
pub(super) fn key_end(b: &[u8], at: usize, prefix: usize) -> Option<usize> {
    let (literal, fewest) = API_KEY_PREFIXES[prefix];
    if !starts_token(b, at) {
        return None;
    }
    let from = at + literal.len();
    let end = from + b.get(from..)?.iter().take_while(|&&c| KEY.has(c)).count();
    (end - from >= fewest).then_some(end)
}

/// Where what `BEARER` matches anchored at `at` ends, when `b[at..]` starts with `bearer` in
/// any case: a token start, the word, the blanks after it and the token's characters.
pub(super) fn bearer_end(b: &[u8], at: usize) -> Option<usize> {
    if !starts_token(b, at) {
        return None;
    }
    let blanks = at + 6;
    let rest = b.get(blanks..)?;
    let token = blanks
        + rest
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
    Some(token + b[token..].iter().take_while(|&&c| TOKEN.has(c)).count())
}

/// `bearer` in any case at the start of a token, the blanks after it and the token.
/// The definition, as for `API_KEY`: matched by [`bearer_end`].
#[cfg(test)]
pub(super) const BEARER: &str = r"(?i-u:\bbearer)[ \t]*[A-Za-z0-9\-._~+/=]*";

fn is_word(b: u8) -> bool {
    WORD.has(b)
}

/// Whether `b[i]` is at the start of a token: nothing word-like right before it.
fn starts_token(b: &[u8], i: usize) -> bool {
    i == 0 || !is_word(b[i - 1])
}

/// The end of a number that stops here: not followed by more digits or a word.
fn ends_number(b: &[u8], end: usize) -> bool {
    match b.get(end) {
        None => true,
        Some(c) if is_word(*c) => false,
        // `123-45-6789-0` or `1.2.3.4.5`: part of something longer.
        Some(b'-' | b'.') => !b.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// Whether a number may start at `i`: no digit, word or `-`/`.` joined digit before it.
fn starts_number(b: &[u8], i: usize) -> bool {
    if !starts_token(b, i) {
        return false;
    }
    !(i >= 2 && matches!(b[i - 1], b'-' | b'.') && b[i - 2].is_ascii_digit())
}

/// The end of the run of digits that starts at `i`.
fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

pub(super) fn check_email(text: &str, m: Range<usize>, last_end: usize) -> Verdict {
    let b = text.as_bytes();
    let at = m.start + b[m.clone()].iter().position(|&c| c == b'@').unwrap_or(0);
    // The local part is the whole run before `@`, even where the search started later.
    let mut start = at;
    while start > 0 && EMAIL_LOCAL.has(b[start - 1]) {
        start -= 1;
    }
    // A local part does not start or end with a dot.
    while start < at && b[start] == b'.' {
        start += 1;
    }
    let mut end = m.end;
    // Trailing punctuation belongs to the sentence, not the address.
    while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &b[at + 1..end];
    let tld = domain.rsplit(|&c| c == b'.').next().unwrap_or_default();
    let ok = start < at
        && b[at - 1] != b'.'
        && domain.contains(&b'.')
        && tld.len() >= 2
        && tld.iter().all(u8::is_ascii_alphabetic)
        && domain
            .split(|&c| c == b'.')
            .all(|l| !l.is_empty() && l[0] != b'-' && l[l.len() - 1] != b'-')
        && last_end <= start;
    if ok {
        Ok(start..end)
    } else {
        Err(at + 1)
    }
}

pub(super) fn check_ssn(text: &str, m: Range<usize>, _: usize) -> Verdict {
    let b = text.as_bytes();
    let (area, group, serial) = (
        &b[m.start..m.start + 3],
        &b[m.start + 4..m.start + 6],
        &b[m.start + 7..m.end],
    );
    let ok = starts_number(b, m.start)
        && ends_number(b, m.end)
        && area != b"000"
        && area != b"666"
        && area[0] != b'9'
        && group != b"00"
        && serial != b"0000";
    if ok {
        Ok(m)
    } else {
        Err(m.start + 1)
    }
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(k, d)| {
            let d = u32::from(d - b'0');
            match (k % 2 == 1, d * 2) {
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
                (false, _) => d,
            }
        })
        .sum();
    sum % 10 == 0
}

pub(super) fn check_card(text: &str, m: Range<usize>, _: usize) -> Verdict {
    let b = text.as_bytes();
    // No card starts in the middle of a run of digits.
    let skip = digits_end(b, m.start);
    if !starts_number(b, m.start) {
        return Err(skip);
    }
    // Digits with single spaces or single dashes between them, as far as 20 digits.
    let mut digits = [0u8; 20];
    let mut ends = [0usize; 20];
    let (mut n, mut j, mut sep) = (0, m.start, None);
    while j < b.len() && n < 20 {
        let c = b[j];
        if c.is_ascii_digit() {
            digits[n] = c;
            j += 1;
            ends[n] = j;
            n += 1;
        } else if matches!(c, b' ' | b'-')
            && sep.is_none_or(|s| s == c)
            && b.get(j + 1).is_some_and(u8::is_ascii_digit)
        {
            sep = Some(c);
            j += 1;
        } else {
            break;
        }
    }
    // The longest valid number that ends at a group boundary wins.
    (13..=19.min(n))
        .rev()
        .map(|len| (len, ends[len - 1]))
        .find(|&(len, end)| {
            !b.get(end).is_some_and(u8::is_ascii_digit)
                && ends_number(b, end)
                && luhn(&digits[..len])
        })
        .map(|(_, end)| m.start..end)
        .ok_or(skip)
}

/// The digit groups of a phone number seen so far.
#[derive(Default)]
struct Groups {
    count: usize,
    total: usize,
    longest: usize,
}

impl Groups {
    fn push(&mut self, cur: &mut usize) {
        self.count += 1;
        self.total += *cur;
        self.longest = self.longest.max(*cur);
        *cur = 0;
    }
}

pub(super) fn check_phone(text: &str, m: Range<usize>, _: usize) -> Verdict {
    let b = text.as_bytes();
    let i = m.start;
    if !starts_number(b, i) || (i > 0 && b[i - 1] == b'+') {
        return Err(i + 1);
    }
    if b[i] != b'+' {
        return if ends_number(b, m.end) {
            Ok(m)
        } else {
            Err(i + 1)
        };
    }
    // Group sizes and parentheses of an international number.
    let mut g = Groups::default();
    let mut cur = 0;
    let (mut j, mut end, mut open) = (i + 1, i + 1, false);
    while j < b.len() {
        let c = b[j];
        let next = b.get(j + 1).copied();
        if c.is_ascii_digit() {
            cur += 1;
            j += 1;
            end = j;
        } else if c == b'(' && cur == 0 && !open {
            open = true;
            j += 1;
        } else if c == b')' && open && cur > 0 {
            open = false;
            g.push(&mut cur);
            j += 1;
            if matches!(next, Some(b' ' | b'-')) {
                j += 1;
            }
        } else if matches!(c, b' ' | b'.' | b'-')
            && cur > 0
            && next.is_some_and(|n| n.is_ascii_digit() || n == b'(')
        {
            g.push(&mut cur);
            j += 1;
        } else {
            break;
        }
        if g.total + cur > 15 {
            break;
        }
    }
    if cur > 0 {
        g.push(&mut cur);
    }
    let ok = !open
        && ends_number(b, end)
        && (8..=15).contains(&g.total)
        && (g.longest <= 5 || g.count == 1);
    if ok {
        Ok(i..end)
    } else {
        Err(j)
    }
}

pub(super) fn check_ipv4(text: &str, m: Range<usize>, _: usize) -> Verdict {
    let b = text.as_bytes();
    // The expression matched 1 to 3 digits per octet: no leading zero, at most 255.
    let octets_ok = b[m.clone()].split(|&c| c == b'.').all(|o| match o {
        [] => false,
        [_] => true,
        [first, ..] if *first == b'0' => false,
        [_, _] => true,
        _ => o <= b"255".as_slice(),
    });
    // A trailing `:port` ends the number like any other punctuation.
    if octets_ok
        && starts_token(b, m.start)
        && (m.start == 0 || b[m.start - 1] != b'.')
        && ends_number(b, m.end)
    {
        Ok(m)
    } else {
        // Skip the rest of the dotted number: no address starts inside it.
        let mut next = m.start;
        while next < b.len() && (b[next].is_ascii_digit() || b[next] == b'.') {
            next += 1;
        }
        Err(next)
    }
}

/// A byte an IPv6 address (with an embedded IPv4 tail) is made of.
pub(super) fn is_v6(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':' || c == b'.'
}

pub(super) fn check_ipv6(text: &str, m: Range<usize>, last_end: usize) -> Verdict {
    let b = text.as_bytes();
    // The whole run of hex digits, dots and colons around them; std's parser decides.
    let (mut start, mut end) = (m.start, m.end);
    while start > last_end && is_v6(b[start - 1]) {
        start -= 1;
    }
    while end < b.len() && is_v6(b[end]) {
        end += 1;
    }
    if (start > 0 && is_word(b[start - 1])) || (end < b.len() && is_word(b[end])) {
        return Err(end);
    }
    // Sentence punctuation after an address, e.g. `fe80::1.` or `::1:`.
    let parses = |e: usize| text[start..e].parse::<std::net::Ipv6Addr>().is_ok();
    let mut e = end;
    while e > start && matches!(b[e - 1], b'.' | b':') && !parses(e) {
        e -= 1;
    }
    let candidate = &b[start..e];
    if candidate.iter().filter(|&&c| c == b':').count() >= 2
        && candidate.iter().any(u8::is_ascii_hexdigit)
        && parses(e)
    {
        Ok(start..e)
    } else {
        Err(end)
    }
}

/// Every key the expression finds is redacted.
pub(super) fn check_api_key(_: &str, m: Range<usize>, _: usize) -> Verdict {
    Ok(m)
}

pub(super) fn check_bearer(text: &str, m: Range<usize>, _: usize) -> Verdict {
    let b = text.as_bytes();
    let blanks = m.start + 6;
    let mut start = blanks;
    while start < m.end && matches!(b[start], b' ' | b'\t') {
        start += 1;
    }
    if start > blanks && m.end - start >= 16 {
        Ok(start..m.end)
    } else {
        Err(m.end)
    }
}
