//! The one table of what each span-kind attribute accepts and captures by default.
//!
//! Parsing, validation, error texts and expansion all read this table, so the seven attributes
//! cannot drift apart.

use std::fmt::{self, Display};

/// The span kind an attribute creates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Llm,
    Embedding,
    Workflow,
    Agent,
    Tool,
    Task,
    Retrieval,
}

/// A key an attribute may take.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Key {
    ModelName,
    ModelProvider,
    Name,
    SessionId,
    MlApp,
    CaptureInput,
    CaptureOutput,
    Skip,
    /// The path the expansion names the `llmobs` crate by, for crates that re-export it.
    Crate,
}

/// What one kind accepts and does by default.
pub(crate) struct Spec {
    /// The attribute's name, as the user writes it.
    pub attr: &'static str,
    /// The `SpanKind` variant the expansion names.
    pub variant: &'static str,
    /// Every key the attribute accepts, in the order error messages list them.
    pub keys: &'static [Key],
    /// Whether `model_name` must be given.
    pub needs_model: bool,
    /// Whether arguments are recorded as input unless `capture_input = false`.
    pub capture_input: bool,
    /// Whether the return value is recorded as output unless `capture_output = false`.
    pub capture_output: bool,
}

const COMMON: &[Key] = &[
    Key::Name,
    Key::SessionId,
    Key::MlApp,
    Key::CaptureInput,
    Key::CaptureOutput,
    Key::Skip,
    Key::Crate,
];

const MODEL: &[Key] = &[
    Key::ModelName,
    Key::ModelProvider,
    Key::Name,
    Key::SessionId,
    Key::MlApp,
    Key::CaptureInput,
    Key::CaptureOutput,
    Key::Skip,
    Key::Crate,
];

// The capture defaults follow the reference SDK's decorators: model calls record messages
// through annotation rather than raw arguments, and retrievals return documents that only an
// explicit annotation can shape, so those are off by default.
const fn spec(kind: Kind) -> Spec {
    let (attr, variant, keys, needs_model, capture_input, capture_output) = match kind {
        Kind::Llm => ("llm", "Llm", MODEL, true, false, true),
        Kind::Embedding => ("embedding", "Embedding", MODEL, true, false, false),
        Kind::Workflow => ("workflow", "Workflow", COMMON, false, true, true),
        Kind::Agent => ("agent", "Agent", COMMON, false, true, true),
        Kind::Tool => ("tool", "Tool", COMMON, false, true, true),
        Kind::Task => ("task", "Task", COMMON, false, true, true),
        Kind::Retrieval => ("retrieval", "Retrieval", COMMON, false, true, false),
    };
    Spec {
        attr,
        variant,
        keys,
        needs_model,
        capture_input,
        capture_output,
    }
}

impl Kind {
    pub(crate) const fn spec(self) -> Spec {
        spec(self)
    }

    pub(crate) fn accepts(self, key: Key) -> bool {
        self.spec().keys.contains(&key)
    }

    /// "`name`, `session_id`, ..." for error messages.
    pub(crate) fn key_list(self) -> String {
        let names: Vec<String> = self
            .spec()
            .keys
            .iter()
            .map(|k| format!("`{}`", k.as_str()))
            .collect();
        names.join(", ")
    }
}

impl Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#[{}]", self.spec().attr)
    }
}

impl Key {
    const ALL: [Key; 9] = [
        Key::ModelName,
        Key::ModelProvider,
        Key::Name,
        Key::SessionId,
        Key::MlApp,
        Key::CaptureInput,
        Key::CaptureOutput,
        Key::Skip,
        Key::Crate,
    ];

    pub(crate) fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Key::ModelName => "model_name",
            Key::ModelProvider => "model_provider",
            Key::Name => "name",
            Key::SessionId => "session_id",
            Key::MlApp => "ml_app",
            Key::CaptureInput => "capture_input",
            Key::CaptureOutput => "capture_output",
            Key::Skip => "skip",
            Key::Crate => "crate",
        }
    }
}

impl Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
