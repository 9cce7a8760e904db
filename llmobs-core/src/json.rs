//! JSON text exactly as the reference SDK writes it: keys sorted, `", "` and `": "` separators,
//! every non-ASCII character escaped as `\uXXXX`.
//!
//! Used for `input.value`/`output.value` text and for whole intake payloads, so that what we send
//! is byte-for-byte the shape the intake receives from the Python SDK.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use serde_json::Value;
use std::io;

/// A serde_json formatter that writes Python's `json.dumps(ensure_ascii=True)` layout.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.is_ascii() {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{:04x}", unit)?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let s: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => {
                return write!(w, "\\u{:04x}", byte);
            }
        };
        w.write_all(s)
    }
}

/// Writes `value` as Python-style JSON into `out`. Object keys come out sorted because
/// `serde_json::Map` is ordered by key.
pub fn write_python_json<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, PythonFormatter);
    value.serialize(&mut ser)
}

/// A value as Python-style JSON text.
pub fn to_python_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    // Serialising a `Value` into a Vec cannot fail.
    let _ = write_python_json(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_layout() {
        let v = json!({"b": [1, 2], "a": {"n": true, "s": "h\u{e9}llo w\u{f6}rld \u{2713} \u{65e5}\u{672c}"}});
        assert_eq!(
            to_python_json(&v),
            r#"{"a": {"n": true, "s": "h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c"}, "b": [1, 2]}"#
        );
    }

    #[test]
    fn escapes_astral_chars_as_surrogate_pairs() {
        assert_eq!(to_python_json(&json!("\u{1F600}")), r#""\ud83d\ude00""#);
    }

    #[test]
    fn escapes_controls() {
        assert_eq!(to_python_json(&json!("a\nb\u{1}")), r#""a\nb\u0001""#);
    }
}
