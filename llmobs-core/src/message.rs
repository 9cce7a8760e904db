//! Chat messages, tool calls and tool results, as recorded on `llm` spans.

use serde::Serialize;
use serde_json::Value;

use crate::SharedStr;

/// Roles recorded without an allocation.
pub(crate) const KNOWN_ROLES: &[&str] = &["user", "assistant", "system", "tool", ""];

/// One chat message of an `llm` span's input or output.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{Message, ToolCall};
/// let m = Message::assistant("")
///     .tool_calls([ToolCall::function("lookup", serde_json::json!({"sku": "SOFA-1"})).id("t1")]);
/// assert_eq!(m.role, "assistant");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// `"system"`, `"user"`, `"assistant"`, `"tool"`, or `""` when unknown.
    pub role: SharedStr,
    /// The text of the message.
    pub content: String,
    /// Tool calls the model asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Results of tool calls fed back to the model.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_results: Vec<ToolResult>,
    /// For a `tool` message, the id of the call it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_id: Option<String>,
}

impl Message {
    /// A message with the given role and content. The usual roles are recorded without
    /// copying the string.
    pub fn new(role: impl AsRef<str>, content: impl Into<String>) -> Self {
        Message::with_role(
            SharedStr::known_or_copy(role.as_ref(), KNOWN_ROLES),
            content,
        )
    }
    pub(crate) fn with_role(role: SharedStr, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
            tool_id: None,
        }
    }
    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Message::with_role(SharedStr::Static("system"), content)
    }
    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Message::with_role(SharedStr::Static("user"), content)
    }
    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message::with_role(SharedStr::Static("assistant"), content)
    }
    /// A `tool` message carrying the result of the call `tool_id`.
    pub fn tool(content: impl Into<String>, tool_id: impl Into<String>) -> Self {
        let mut m = Message::with_role(SharedStr::Static("tool"), content);
        m.tool_id = Some(tool_id.into());
        m
    }
    /// Adds tool calls.
    pub fn tool_calls(mut self, calls: impl IntoIterator<Item = ToolCall>) -> Self {
        self.tool_calls.extend(calls);
        self
    }
    /// Adds tool results.
    pub fn tool_results(mut self, results: impl IntoIterator<Item = ToolResult>) -> Self {
        self.tool_results.extend(results);
        self
    }
}

/// A tool call requested by a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// The arguments, as a JSON value (usually an object).
    pub arguments: Value,
    /// The call's id, used to match its result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_id: Option<String>,
    /// The call type; `"function"` for function calling.
    #[serde(rename = "type")]
    pub kind: SharedStr,
}

impl ToolCall {
    /// A function call with the given arguments.
    pub fn function(name: impl Into<String>, arguments: impl Into<Value>) -> Self {
        ToolCall {
            name: name.into(),
            arguments: arguments.into(),
            tool_id: None,
            kind: SharedStr::Static("function"),
        }
    }
    /// Sets the call id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.tool_id = Some(id.into());
        self
    }
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolResult {
    /// The tool's name.
    pub name: String,
    /// The result, as text.
    pub result: String,
    /// The id of the call this answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_id: Option<String>,
    /// The call type; `"function"` for function calling.
    #[serde(rename = "type")]
    pub kind: SharedStr,
}

impl ToolResult {
    /// The result of a function call.
    pub fn function(name: impl Into<String>, result: impl Into<String>) -> Self {
        ToolResult {
            name: name.into(),
            result: result.into(),
            tool_id: None,
            kind: SharedStr::Static("function"),
        }
    }
    /// Sets the id of the call this answers.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.tool_id = Some(id.into());
        self
    }
}
