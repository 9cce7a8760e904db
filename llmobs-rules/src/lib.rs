//! The naming rules of `llmobs`, in one place.
//!
//! The span-kind attributes (`#[llmobs::workflow(ml_app = "..")]`) check a literal ml_app at
//! compile time, and the exporter checks the configured one (`Config::ml_app(..)`,
//! `DD_LLMOBS_ML_APP`, `DD_SERVICE`) at `init`. Both call [`ml_app_problem`] and quote
//! [`ML_APP_RULE`], so a name the compiler accepts is never refused at start-up, nor the other way
//! round.
//!
//! This crate has no dependencies and no `unsafe`; it is an implementation detail of `llmobs`
//! and follows its version.
//!
//! ```
//! use llmobs_rules::{ml_app_problem, ML_APP_RULE};
//!
//! assert_eq!(ml_app_problem("support-bot"), None);
//! let problem = ml_app_problem("café").unwrap();
//! assert_eq!(problem, "'é' is not allowed");
//! println!("invalid ml_app: {problem}; {ML_APP_RULE}");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The longest ml_app, in characters: Datadog's limit on a tag value, which an ml_app becomes
/// (`ml_app:<name>`).
pub const ML_APP_MAX_LEN: usize = 193;

/// The rule every ml_app name follows, as a sentence to quote in error messages.
///
/// It is what Datadog accepts as an application name: lower-case ASCII letters, digits and
/// `_ - : . /`, at most [`ML_APP_MAX_LEN`] characters, no `__` and no trailing `_`, not empty.
pub const ML_APP_RULE: &str =
    "an ml_app name must be lower-case, use only letters a-z, digits 0-9 \
    and `_` `-` `:` `.` `/`, be at most 193 characters long, and have no `__` and no trailing `_`";

/// The characters an ml_app may use besides lower-case ASCII letters and digits.
const ML_APP_PUNCTUATION: &str = "_-:./";

/// What is wrong with `name` as an ml_app, or `None` when it follows [`ML_APP_RULE`].
///
/// The text names the first problem found, in a form that reads after "invalid ml_app: ", e.g.
/// `"'é' is not allowed"` or `"it ends with an underscore"`; quote [`ML_APP_RULE`] next to it
/// for the whole rule.
///
/// ```
/// use llmobs_rules::ml_app_problem;
///
/// assert_eq!(ml_app_problem("team/app:v1.2"), None);
/// assert_eq!(ml_app_problem("Support").as_deref(), Some("`S` is uppercase"));
/// assert_eq!(ml_app_problem("a__b").as_deref(), Some("it has contiguous underscores"));
/// ```
pub fn ml_app_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".to_owned());
    }
    let len = name.chars().count();
    if len > ML_APP_MAX_LEN {
        return Some(format!(
            "it is {len} characters long, more than {ML_APP_MAX_LEN}"
        ));
    }
    if let Some(c) = name.chars().find(char::is_ascii_uppercase) {
        return Some(format!("`{c}` is uppercase"));
    }
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ML_APP_PUNCTUATION.contains(c);
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return Some(format!("{c:?} is not allowed"));
    }
    if name.contains("__") {
        return Some("it has contiguous underscores".to_owned());
    }
    if name.ends_with('_') {
        return Some("it ends with an underscore".to_owned());
    }
    None
}

/// Whether `name` follows [`ML_APP_RULE`]: [`ml_app_problem`] finds nothing wrong with it.
pub fn is_valid_ml_app(name: &str) -> bool {
    ml_app_problem(name).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule written out a second way, byte by byte, to test the first against.
    fn by_bytes(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= ML_APP_MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-:./".contains(&b))
            && !name.contains("__")
            && !name.ends_with('_')
    }

    #[test]
    fn accepts_what_datadog_accepts() {
        let longest = "x".repeat(ML_APP_MAX_LEN);
        for ok in [
            "a",
            "support-bot",
            "team/app:v1.2",
            "a_b",
            "0",
            "_a",
            "a-",
            "a/",
            longest.as_str(),
        ] {
            assert_eq!(ml_app_problem(ok), None, "{ok:?}");
            assert!(is_valid_ml_app(ok), "{ok:?}");
        }
    }

    #[test]
    fn names_the_first_problem() {
        let too_long = "x".repeat(ML_APP_MAX_LEN + 1);
        let cases = [
            ("", "it is empty"),
            (
                too_long.as_str(),
                "it is 194 characters long, more than 193",
            ),
            ("Support-Bot", "`S` is uppercase"),
            ("support bot", "' ' is not allowed"),
            ("café", "'é' is not allowed"),
            ("Émile", "'É' is not allowed"),
            ("tab\there", "'\\t' is not allowed"),
            ("a__b", "it has contiguous underscores"),
            ("support_bot_", "it ends with an underscore"),
            ("_", "it ends with an underscore"),
        ];
        for (name, problem) in cases {
            assert_eq!(ml_app_problem(name).as_deref(), Some(problem), "{name:?}");
            assert!(!is_valid_ml_app(name), "{name:?}");
        }
    }

    #[test]
    fn non_ascii_is_refused_even_when_short_in_characters() {
        // 193 characters but more bytes: refused for the character, never let through.
        let name = format!("{}é", "a".repeat(ML_APP_MAX_LEN - 1));
        assert_eq!(ml_app_problem(&name).as_deref(), Some("'é' is not allowed"));
    }

    #[test]
    fn agrees_with_the_rule_written_by_bytes() {
        // Every string of up to three characters from an alphabet that covers each branch.
        let alphabet = [
            'a', 'z', '0', '9', '_', '-', ':', '.', '/', 'A', ' ', 'é', '\0',
        ];
        let mut level = vec![String::new()];
        let mut names = level.clone();
        for _ in 0..3 {
            level = level
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            names.extend(level.iter().cloned());
        }
        for name in &names {
            assert_eq!(is_valid_ml_app(name), by_bytes(name), "{name:?}");
        }
    }

    #[test]
    fn the_rule_names_every_limit() {
        for part in ["lower-case", "a-z", "0-9", "193", "`__`", "trailing `_`"] {
            assert!(ML_APP_RULE.contains(part), "{part}");
        }
        for c in ML_APP_PUNCTUATION.chars() {
            assert!(ML_APP_RULE.contains(&format!("`{c}`")), "{c}");
        }
    }
}
