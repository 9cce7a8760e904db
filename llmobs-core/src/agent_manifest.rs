//! The manifest of an agent: what it is called and told, its model and settings, its tools.
//! Datadog shows it for `agent` spans (`meta.metadata._dd.agent_manifest`), with the agent's
//! version as the `agent_version` tag.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ToolDefinition;

/// The model settings a manifest may carry: generic inference parameters only, as in the
/// reference SDK. Provider-specific settings (such as extra headers) can hold secrets and are
/// left out.
pub const ALLOWED_MODEL_SETTINGS: [&str; 14] = [
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "parallel_tool_calls",
    "presence_penalty",
    "seed",
    "stop_sequences",
    "temperature",
    "timeout",
    "tool_choice",
    "top_k",
    "top_logprobs",
    "top_p",
];

/// What an agent is, for [`crate::AnnotationContext::agent`] and [`crate::Annotate::agent`].
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::{AgentManifest, ToolDefinition};
/// let planner = AgentManifest::new()
///     .name("planner")
///     .version("3.1")
///     .instructions("Be brief")
///     .model("gpt-4o")
///     .model_setting("temperature", 0.2)
///     .tool(ToolDefinition::new("search").description("web search"));
/// let spans = llmobs::testing::capture(|| {
///     let _scope = llmobs::annotation_context().agent(planner).enter();
///     let _agent = llmobs::agent("plan").start();
/// });
/// assert_eq!(spans[0].tag("agent_version"), Some("3.1"));
/// assert_eq!(spans[0].annotations().agent_manifest.as_ref().unwrap().name.as_deref(), Some("planner"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentManifest {
    /// What the agent is called (default: its span's name).
    pub name: Option<String>,
    /// Its version, sent as the span's `agent_version` tag.
    pub version: Option<String>,
    /// What it is told (its system instructions).
    pub instructions: Option<String>,
    /// The model it runs on.
    pub model: Option<String>,
    /// Inference settings; only [`ALLOWED_MODEL_SETTINGS`] with scalar (or flat list or map)
    /// values are sent.
    pub model_settings: BTreeMap<String, Value>,
    /// The tools it may call.
    pub tools: Vec<ToolDefinition>,
}

impl AgentManifest {
    /// An empty manifest.
    pub fn new() -> Self {
        AgentManifest::default()
    }
    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets the version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }
    /// Sets the instructions.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }
    /// Sets the model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// Adds a model setting (a value that is not JSON is left out).
    pub fn model_setting(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        if let Ok(v) = serde_json::to_value(value) {
            self.model_settings.insert(key.into(), v);
        }
        self
    }
    /// Adds a tool.
    pub fn tool(mut self, tool: ToolDefinition) -> Self {
        self.tools.push(tool);
        self
    }

    /// This manifest updated by a newer one: each field the newer one sets replaces this one's.
    pub(crate) fn updated_by(mut self, newer: &AgentManifest) -> AgentManifest {
        let newer = newer.clone();
        self.name = newer.name.or(self.name);
        self.version = newer.version.or(self.version);
        self.instructions = newer.instructions.or(self.instructions);
        self.model = newer.model.or(self.model);
        if !newer.model_settings.is_empty() {
            self.model_settings = newer.model_settings;
        }
        if !newer.tools.is_empty() {
            self.tools = newer.tools;
        }
        self
    }

    /// The manifest as sent, for an agent span named `span_name`; `None` when it says nothing
    /// but the version (which only tags the span), as the reference does.
    pub fn wire_value(&self, span_name: &str) -> Option<Value> {
        let mut m = Map::new();
        let mut text = |key: &str, v: &Option<String>| {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                m.insert(key.into(), Value::String(v.clone()));
            }
        };
        text("instructions", &self.instructions);
        text("model", &self.model);
        text("name", &self.name);
        let settings: Map<String, Value> = self
            .model_settings
            .iter()
            .filter(|(k, v)| ALLOWED_MODEL_SETTINGS.contains(&k.as_str()) && flat(v))
            .filter(|(_, v)| !empty(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !settings.is_empty() {
            m.insert("model_settings".into(), Value::Object(settings));
        }
        let tools: Vec<Value> = self
            .tools
            .iter()
            .filter(|t| !t.name.is_empty())
            .map(tool_value)
            .collect();
        if !tools.is_empty() {
            m.insert("tools".into(), Value::Array(tools));
        }
        if m.is_empty() {
            return None;
        }
        if !m.contains_key("name") {
            m.insert("name".into(), Value::String(span_name.to_owned()));
        }
        m.insert("framework".into(), Value::String("manual".into()));
        Some(Value::Object(m))
    }
}

/// A scalar, or a flat list of scalars, or a map of numbers (`logit_bias`).
fn flat(v: &Value) -> bool {
    match v {
        Value::Array(items) => items
            .iter()
            .all(|i| !matches!(i, Value::Array(_) | Value::Object(_))),
        Value::Object(m) => m.values().all(Value::is_number),
        _ => true,
    }
}

/// What the reference treats as not configured: null, and empty text, lists and maps.
fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `{name, description?, parameters?}`, with a JSON-schema `parameters` flattened to
/// `{param: {type?, required?}}` as the reference's integrations report tools.
fn tool_value(t: &ToolDefinition) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), Value::String(t.name.clone()));
    if let Some(d) = t.description.as_ref().filter(|d| !d.is_empty()) {
        o.insert("description".into(), Value::String(d.clone()));
    }
    if let Some(Value::Object(schema)) = &t.schema {
        let required: Vec<&str> = match schema.get("required") {
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let is_schema = matches!(schema.get("properties"), Some(Value::Object(_)))
            && (schema.get("type").and_then(Value::as_str) == Some("object")
                || matches!(schema.get("required"), Some(Value::Array(_))));
        let specs = match (is_schema, schema.get("properties")) {
            (true, Some(Value::Object(p))) => p,
            _ => schema,
        };
        let mut params = Map::new();
        for (name, spec) in specs {
            let mut entry = Map::new();
            if let Value::Object(spec) = spec {
                if let Some(ty) = spec.get("type").and_then(Value::as_str) {
                    entry.insert("type".into(), Value::String(ty.to_owned()));
                }
                if spec.get("required") == Some(&Value::Bool(true)) {
                    entry.insert("required".into(), Value::Bool(true));
                }
            }
            if is_schema && required.contains(&name.as_str()) {
                entry.insert("required".into(), Value::Bool(true));
            }
            if !entry.is_empty() {
                params.insert(name.clone(), Value::Object(entry));
            }
        }
        if !params.is_empty() {
            o.insert("parameters".into(), Value::Object(params));
        }
    }
    Value::Object(o)
}
