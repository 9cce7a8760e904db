//! The OpenTelemetry GenAI semantic conventions, read into an LLM Observability span: the kind
//! from `gen_ai.operation.name`, the model and provider, messages in the role/parts form, token
//! usage, request parameters, tool calls and errors.

use llmobs_core::{
    Message, SpanError, SpanEvent, SpanIo, SpanKind, ToolCall, ToolDefinition, ToolResult,
};
use serde_json::{Map, Value};

use crate::fields::Fields;

pub(crate) const OPERATION: &str = "gen_ai.operation.name";

/// The kind for a `gen_ai.operation.name` (anything unknown is a task).
pub(crate) fn kind(operation: Option<&str>) -> SpanKind {
    match operation.unwrap_or_default() {
        "chat" | "text_completion" | "generate_content" => SpanKind::Llm,
        "embeddings" => SpanKind::Embedding,
        "execute_tool" => SpanKind::Tool,
        "invoke_agent" | "create_agent" => SpanKind::Agent,
        "invoke_workflow" => SpanKind::Workflow,
        "retrieval" => SpanKind::Retrieval,
        _ => SpanKind::Task,
    }
}

/// The span's name: `otel.name` when the client set one; else, for a span named after its
/// operation (rig's `chat`, `execute_tool`, `invoke_agent`), the GenAI convention's
/// `{operation} {model, tool or agent name}`; else the `tracing` span's name.
pub(crate) fn name(fields: &Fields, span_name: &str) -> String {
    if let Some(n) = fields.str("otel.name") {
        return n.to_owned();
    }
    if let Some(op) = fields.str(OPERATION).filter(|op| *op == span_name) {
        let target = match op {
            "execute_tool" => fields.str("gen_ai.tool.name"),
            "invoke_agent" | "create_agent" => fields.str("gen_ai.agent.name"),
            _ => fields.str("gen_ai.request.model"),
        };
        if let Some(t) = target {
            return format!("{op} {t}");
        }
    }
    span_name.to_owned()
}

/// The model a span names: the response's before the request's.
pub(crate) fn model(fields: &Fields) -> Option<&str> {
    fields
        .str("gen_ai.response.model")
        .or_else(|| fields.str("gen_ai.request.model"))
}

/// The provider: `gen_ai.provider.name`, then the older `gen_ai.system`.
pub(crate) fn provider(fields: &Fields) -> Option<&str> {
    fields
        .str("gen_ai.provider.name")
        .or_else(|| fields.str("gen_ai.system"))
}

/// The session: `gen_ai.conversation.id`, or OpenInference's `session.id`.
pub(crate) fn session(fields: &Fields) -> Option<&str> {
    fields
        .str("gen_ai.conversation.id")
        .or_else(|| fields.str("session.id"))
}

/// Token usage: the metric and the field names it is read from, newest convention first.
const USAGE: &[(&str, &[&str])] = &[
    (
        "input_tokens",
        &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
    ),
    (
        "output_tokens",
        &[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        ],
    ),
    ("total_tokens", &["gen_ai.usage.total_tokens"]),
    (
        "cache_read_input_tokens",
        &[
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
        ],
    ),
    (
        "cache_write_input_tokens",
        &[
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
        ],
    ),
    (
        "reasoning_output_tokens",
        &[
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.reasoning_tokens",
        ],
    ),
];

/// Fields that are read into their own place, not copied into metadata.
fn is_mapped(name: &str) -> bool {
    matches!(
        name,
        OPERATION
            | "otel.name"
            | "otel.kind"
            | "otel.status_code"
            | "otel.status_description"
            | "otel.status_message"
            | "gen_ai.request.model"
            | "gen_ai.response.model"
            | "gen_ai.provider.name"
            | "gen_ai.system"
            | "gen_ai.conversation.id"
            | "session.id"
            | "gen_ai.input.messages"
            | "gen_ai.output.messages"
            | "gen_ai.system_instructions"
            | "gen_ai.tool.definitions"
            | "gen_ai.tool.call.arguments"
            | "gen_ai.tool.call.result"
            | "gen_ai.prompt"
            | "gen_ai.completion"
            | "error.type"
            | "gen_ai.tool.error.type"
            | "error.message"
            | "exception.message"
            | "input.value"
            | "output.value"
            | "message"
    ) || USAGE.iter().any(|(_, names)| names.contains(&name))
}

/// Writes what the fields say into the span's record, at its close; `start_name` is the name
/// it started with.
pub(crate) fn apply(fields: &Fields, span_name: &str, start_name: &str, e: &mut SpanEvent) {
    let kind = e.kind;
    // The parts of the name may be recorded after creation.
    let name = name(fields, span_name);
    if name != start_name && e.name.as_str() != name {
        e.name = name.into();
    }
    if let Some(session) = session(fields) {
        if e.session_id.as_deref() != Some(session) {
            e.session_id = Some(session.to_owned().into());
        }
    }
    if let Some(err) = error(fields) {
        e.error = Some(Box::new(err));
    }
    let a = e.annotations_mut();
    if kind.is_model() {
        if let Some(m) = model(fields) {
            a.model_name = Some(m.to_owned().into());
        }
        if let Some(p) = provider(fields) {
            a.model_provider = Some(p.to_lowercase().into());
        }
    }
    let number = |n: f64| serde_json::Number::from_f64(n);
    for (metric, names) in USAGE {
        if let Some(n) = names.iter().find_map(|n| fields.number(n)).and_then(number) {
            a.metrics.insert((*metric).into(), n);
        }
    }
    if !a.metrics.contains_key("total_tokens") {
        let count = |k: &str| a.metrics.get(k).and_then(serde_json::Number::as_f64);
        if let Some(total) = count("input_tokens")
            .zip(count("output_tokens"))
            .and_then(|(i, o)| number(i + o))
        {
            a.metrics.insert("total_tokens".into(), total);
        }
    }
    let input = messages(
        fields,
        "gen_ai.input.messages",
        "gen_ai.system_instructions",
    );
    let output = messages(fields, "gen_ai.output.messages", "");
    if let Some(Value::Array(tools)) = fields.get("gen_ai.tool.definitions").map(json_or_text) {
        a.tool_definitions = tools.iter().filter_map(tool_definition).collect();
    }
    match kind {
        SpanKind::Llm => {
            a.input = input.map(SpanIo::Messages).or(a.input.take());
            a.output = output.map(SpanIo::Messages).or(a.output.take());
        }
        SpanKind::Tool => {
            if let Some(v) = fields.get("gen_ai.tool.call.arguments") {
                a.input = Some(SpanIo::Value(json_or_text(v)));
            }
            if let Some(v) = fields.get("gen_ai.tool.call.result") {
                a.output = Some(SpanIo::Value(json_or_text(v)));
            }
        }
        _ => {
            // Other kinds record values: the prompt and completion text when the client gives
            // them (rig's agent), else the last input message's text and the output's.
            let text = |field: &str, messages: Option<&[Message]>| {
                fields.text(field).or_else(|| messages.and_then(last_text))
            };
            if let Some(t) = text("gen_ai.prompt", input.as_deref()) {
                a.input = Some(SpanIo::Value(Value::String(t)));
            }
            if let Some(t) = text("gen_ai.completion", output.as_deref()) {
                a.output = Some(SpanIo::Value(Value::String(t)));
            }
        }
    }
    for (dir, key) in [("input", "input.value"), ("output", "output.value")] {
        let slot = if dir == "input" {
            &mut a.input
        } else {
            &mut a.output
        };
        if slot.is_none() {
            if let Some(v) = fields.get(key).filter(|v| !v.is_null()) {
                *slot = Some(SpanIo::Value(json_or_text(v)));
            }
        }
    }
    for (name, value) in fields.iter() {
        if is_mapped(name) || value.is_null() {
            continue;
        }
        // `gen_ai.request.temperature` becomes `temperature`; other fields keep their name.
        let key = name.strip_prefix("gen_ai.request.").unwrap_or(name);
        a.metadata.insert(key.to_owned(), value.clone());
    }
}

/// The error the fields describe: `error.type`, `otel.status_code = "ERROR"`, or a tool call
/// that failed (`gen_ai.tool.error.type`, `gen_ai.tool.call.outcome = "error"`).
pub(crate) fn error(fields: &Fields) -> Option<SpanError> {
    let kind = fields
        .str("error.type")
        .or_else(|| fields.str("gen_ai.tool.error.type"));
    let failed = fields
        .str("otel.status_code")
        .is_some_and(|c| c.eq_ignore_ascii_case("error"))
        || fields.str("gen_ai.tool.call.outcome") == Some("error");
    if kind.is_none() && !failed {
        return None;
    }
    let message = [
        "error.message",
        "otel.status_description",
        "otel.status_message",
        "exception.message",
    ]
    .iter()
    .find_map(|n| fields.str(n))
    .unwrap_or_default();
    Some(SpanError::new(kind.unwrap_or("Error"), message))
}

/// A JSON text parsed, anything else as it is.
fn json_or_text(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

/// The messages of a GenAI messages field (the role/parts JSON), with the system instructions
/// (`gen_ai.system_instructions`, parts) first when given.
fn messages(fields: &Fields, name: &str, system: &str) -> Option<Vec<Message>> {
    let mut out = Vec::new();
    let list = fields.get(name).map(json_or_text);
    // Some clients (rig) also put the system message in the list itself.
    let has_system =
        matches!(&list, Some(Value::Array(l)) if l.iter().any(|m| m["role"] == "system"));
    if let Some(parts) = fields.get(system).map(json_or_text).filter(|_| !has_system) {
        let text = match &parts {
            Value::Array(parts) => parts_text(parts),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        if !text.is_empty() {
            out.push(Message::system(text));
        }
    }
    let list = match list? {
        Value::Array(list) => list,
        // A bare string: one message of unknown role.
        Value::String(s) => vec![serde_json::json!({"role": "", "content": s})],
        _ => return (!out.is_empty()).then_some(out),
    };
    out.extend(list.iter().filter_map(message));
    Some(out)
}

/// One GenAI message: `{"role", "parts": [...]}`, or the `{"role", "content"}` form some clients
/// still send.
fn message(v: &Value) -> Option<Message> {
    let o = v.as_object()?;
    let role = o.get("role").and_then(Value::as_str).unwrap_or_default();
    let mut m = Message::new(role, "");
    match o.get("parts") {
        Some(Value::Array(parts)) => {
            m.content = parts_text(parts);
            for p in parts {
                let Some(p) = p.as_object() else { continue };
                let id = str_of(p, "id");
                match p.get("type").and_then(Value::as_str) {
                    Some("tool_call") => {
                        let arguments = p.get("arguments").map(json_or_text).unwrap_or(Value::Null);
                        let mut call =
                            ToolCall::function(str_of(p, "name").unwrap_or_default(), arguments);
                        call.tool_id = id;
                        m.tool_calls.push(call);
                    }
                    Some("tool_call_response") => {
                        let result = match p.get("response").or_else(|| p.get("result")) {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        };
                        let mut r =
                            ToolResult::function(str_of(p, "name").unwrap_or_default(), result);
                        r.tool_id = id.clone();
                        if m.tool_id.is_none() {
                            m.tool_id = id;
                        }
                        m.tool_results.push(r);
                    }
                    _ => {}
                }
            }
        }
        _ => {
            m.content = match o.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
        }
    }
    Some(m)
}

fn str_of(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The text parts of a message, joined.
fn parts_text(parts: &[Value]) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .filter(|p| {
            matches!(
                p.get("type").and_then(Value::as_str),
                Some("text") | Some("reasoning") | None
            )
        })
        .filter_map(|p| p.get("content").and_then(Value::as_str))
        .collect();
    texts.join("\n")
}

/// One of `gen_ai.tool.definitions`: `{"type": "function", "name", "description", "parameters"}`.
fn tool_definition(v: &Value) -> Option<ToolDefinition> {
    let o = v.as_object()?;
    // Also the nested form some clients send: `{"type": "function", "function": {...}}`.
    let o = o.get("function").and_then(Value::as_object).unwrap_or(o);
    let name = str_of(o, "name").filter(|n| !n.is_empty())?;
    let mut t = ToolDefinition::new(name);
    t.description = str_of(o, "description");
    t.schema = o.get("parameters").cloned();
    Some(t)
}

/// The text of the last message that has some.
fn last_text(messages: &[Message]) -> Option<String> {
    messages
        .iter()
        .rev()
        .find(|m| !m.content.is_empty())
        .map(|m| m.content.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_kinds() {
        for (op, k) in [
            ("chat", SpanKind::Llm),
            ("text_completion", SpanKind::Llm),
            ("generate_content", SpanKind::Llm),
            ("embeddings", SpanKind::Embedding),
            ("execute_tool", SpanKind::Tool),
            ("invoke_agent", SpanKind::Agent),
            ("create_agent", SpanKind::Agent),
            ("invoke_workflow", SpanKind::Workflow),
            ("retrieval", SpanKind::Retrieval),
            ("something_new", SpanKind::Task),
        ] {
            assert_eq!(kind(Some(op)), k, "{op}");
        }
        assert_eq!(kind(None), SpanKind::Task);
    }

    #[test]
    fn parts_become_messages_with_tool_calls_and_results() {
        let v = serde_json::json!([
            {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "18°C"}]},
            {"role": "assistant", "content": "It is 18°C."}
        ]);
        let got: Vec<Message> = v.as_array().unwrap().iter().filter_map(message).collect();
        assert_eq!(got[0].role.as_str(), "user");
        assert_eq!(got[0].content, "Weather in Paris?");
        assert_eq!(got[1].tool_calls[0].name, "weather");
        assert_eq!(got[1].tool_calls[0].arguments["city"], "Paris");
        assert_eq!(got[1].tool_calls[0].tool_id.as_deref(), Some("c1"));
        assert_eq!(got[2].tool_results[0].result, "18°C");
        assert_eq!(got[2].tool_id.as_deref(), Some("c1"));
        assert_eq!(got[3].content, "It is 18°C.");
    }
}
