//! The fields of one `tracing` span, as given at creation and recorded later.

use std::fmt;

use serde_json::Value;
use tracing::field::{Field, Visit};

/// A span's field values by name, in the order first seen. A field recorded again replaces
/// its value, as `Span::record` does for the OpenTelemetry exporters of `tracing`.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    values: Vec<(&'static str, Value)>,
}

impl Fields {
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The value as text: strings as they are, other values in JSON.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        match self.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.get(name)?.as_str().filter(|s| !s.is_empty())
    }

    /// The value as a number; a string holding a number counts.
    pub(crate) fn number(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.values.iter().map(|(k, v)| (*k, v))
    }

    fn set(&mut self, field: &Field, value: Value) {
        let name = field.name();
        match self.values.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v = value,
            None => self.values.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, Value::from(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.set(field, Value::from(value as f64));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.set(field, Value::from(value as f64));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` arrives here with its Display text already formatted by `tracing`; `?value`
        // of a string arrives quoted, and is read back as the string.
        let text = format!("{value:?}");
        let text = if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') {
            serde_json::from_str::<String>(&text).unwrap_or(text)
        } else {
            text
        };
        self.set(field, Value::String(text));
    }
}
