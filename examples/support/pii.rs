//! Detection of personal data in customer messages: emails, phone numbers, street addresses.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Phone,
    StreetAddress,
}

impl PiiKind {
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Email => "[email]",
            PiiKind::Phone => "[phone]",
            PiiKind::StreetAddress => "[street address]",
        }
    }
}

const STREET_WORDS: &[&str] = &[
    "street",
    "st",
    "st.",
    "avenue",
    "ave",
    "ave.",
    "road",
    "rd",
    "rd.",
    "boulevard",
    "blvd",
    "lane",
    "ln",
    "drive",
    "dr",
    "way",
    "court",
    "ct",
    "place",
    "pl",
];

fn is_email(word: &str) -> bool {
    let w = word.trim_matches(|c: char| {
        !c.is_alphanumeric() && c != '@' && c != '.' && c != '_' && c != '-'
    });
    let Some((local, domain)) = w.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
}

/// Finds phone numbers: runs of digits (with spaces, dashes, dots, parentheses or a leading `+`)
/// holding 9 to 15 digits.
fn phone_spans(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit()
            || (bytes[i] == b'+' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            || bytes[i] == b'('
        {
            let start = i;
            let mut digits = 0;
            let mut end = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || b" -.()+".contains(&bytes[i])) {
                if bytes[i].is_ascii_digit() {
                    digits += 1;
                    end = i + 1;
                }
                i += 1;
            }
            if (9..=15).contains(&digits) {
                spans.push((start, end));
            }
        } else {
            i += 1;
        }
    }
    spans
}

/// Finds street addresses: a house number followed, within four words, by a street word.
fn address_spans(text: &str) -> Vec<(usize, usize)> {
    let words: Vec<(usize, &str)> = text
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
        .collect();
    let mut spans = Vec::new();
    for (i, (start, w)) in words.iter().enumerate() {
        let is_number = !w.is_empty() && w.len() <= 5 && w.chars().all(|c| c.is_ascii_digit());
        if !is_number {
            continue;
        }
        for (off, w2) in words.iter().skip(i + 1).take(4) {
            // "St." is an abbreviation, but the period of "Street." ends a sentence.
            let with_period = w2.trim_end_matches(',');
            let bare = with_period.trim_end_matches('.');
            let matched = [with_period, bare]
                .into_iter()
                .find(|w| STREET_WORDS.contains(&w.to_ascii_lowercase().as_str()));
            if let Some(m) = matched {
                spans.push((*start, off + m.len()));
                break;
            }
        }
    }
    spans
}

/// The text with personal data replaced by placeholders, and the kinds found.
pub fn redact(text: &str) -> (String, Vec<PiiKind>) {
    let mut found = Vec::new();
    let mut spans: Vec<(usize, usize, PiiKind)> = Vec::new();
    let mut offset = 0;
    for word in text.split_whitespace() {
        let start = text[offset..]
            .find(word)
            .map(|p| p + offset)
            .unwrap_or(offset);
        offset = start + word.len();
        if is_email(word) {
            spans.push((
                start,
                start + word.trim_end_matches(['.', ',', '!', '?']).len(),
                PiiKind::Email,
            ));
        }
    }
    spans.extend(
        phone_spans(text)
            .into_iter()
            .map(|(s, e)| (s, e, PiiKind::Phone)),
    );
    spans.extend(
        address_spans(text)
            .into_iter()
            .map(|(s, e)| (s, e, PiiKind::StreetAddress)),
    );
    spans.sort_by_key(|s| s.0);
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for (s, e, kind) in spans {
        if s < cursor {
            continue;
        }
        out.push_str(&text[cursor..s]);
        out.push_str(kind.placeholder());
        cursor = e;
        if !found.contains(&kind) {
            found.push(kind);
        }
    }
    out.push_str(&text[cursor..]);
    (out, found)
}
