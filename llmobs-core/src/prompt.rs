//! Prompt templates attached to `llm` spans, and the tool definitions offered to a model.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

use crate::Message;

/// A prompt template with its variables, recorded in an `llm` span's input.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::Prompt;
/// let p = Prompt::template("Answer {{question}} using {{context}}")
///     .id("support").version("1.2")
///     .variable("question", "when does it ship?")
///     .variable("context", "3 days");
/// assert_eq!(p.variables.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prompt {
    /// The prompt id; defaults to `{ml_app}_unnamed-prompt` on the wire.
    pub id: Option<String>,
    /// The prompt version.
    pub version: Option<String>,
    /// A text template (exclusive with `chat_template`).
    pub template: Option<String>,
    /// A chat template (exclusive with `template`).
    pub chat_template: Option<Vec<Message>>,
    /// The variables filled into the template.
    pub variables: BTreeMap<String, String>,
    /// Tags of the prompt.
    pub tags: BTreeMap<String, String>,
    /// Variables that hold retrieved context (default `["context"]`).
    pub context_variables: Option<Vec<String>>,
    /// Variables that hold the user's query (default `["question"]`).
    pub query_variables: Option<Vec<String>>,
}

impl Prompt {
    /// A prompt from a text template.
    pub fn template(template: impl Into<String>) -> Self {
        Prompt {
            template: Some(template.into()),
            ..Prompt::default()
        }
    }
    /// A prompt from a chat template.
    pub fn chat_template(messages: impl IntoIterator<Item = Message>) -> Self {
        Prompt {
            chat_template: Some(messages.into_iter().collect()),
            ..Prompt::default()
        }
    }
    /// Sets the id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Sets the version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }
    /// Adds a variable.
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.insert(name.into(), value.into());
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
    /// Names the variables that hold retrieved context.
    pub fn context_variables<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.context_variables = Some(names.into_iter().map(Into::into).collect());
        self
    }
    /// Names the variables that hold the user's query.
    pub fn query_variables<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.query_variables = Some(names.into_iter().map(Into::into).collect());
        self
    }
    /// This prompt updated by a `newer` one, as the reference merges the prompts of nested
    /// annotation contexts and later annotations: the id and the rag variable names are always
    /// the newer ones' (their defaults when it has none), the template, version, variables and
    /// tags the newer ones' when it has them, each as a whole.
    pub(crate) fn updated_by(mut self, newer: Prompt) -> Prompt {
        self.id = newer.id;
        self.context_variables = newer.context_variables;
        self.query_variables = newer.query_variables;
        if newer.version.is_some() {
            self.version = newer.version;
        }
        if !newer.variables.is_empty() {
            self.variables = newer.variables;
        }
        if !newer.tags.is_empty() {
            self.tags = newer.tags;
        }
        if newer.template.is_some() || newer.chat_template.is_some() {
            self.template = newer.template;
            self.chat_template = newer.chat_template;
        }
        self
    }
}

/// A tool offered to a model, recorded on `llm` spans as `meta.tool_definitions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    /// The tool's name (required, non-empty).
    pub name: String,
    /// What the tool does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema of its arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// The tool's version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ToolDefinition {
    /// A tool definition with the given name.
    pub fn new(name: impl Into<String>) -> Self {
        ToolDefinition {
            name: name.into(),
            description: None,
            schema: None,
            version: None,
        }
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Sets the argument schema.
    pub fn schema(mut self, schema: Value) -> Self {
        self.schema = Some(schema);
        self
    }
    /// Sets the version.
    pub fn version(mut self, v: impl Into<String>) -> Self {
        self.version = Some(v.into());
        self
    }
}
