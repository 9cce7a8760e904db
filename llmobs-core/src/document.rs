//! Documents: the input of `embedding` spans and the output of `retrieval` spans.

use serde::Serialize;

/// A document with optional name, id and relevance score.
///
/// ```
/// # use llmobs_core as llmobs;
/// use llmobs::Document;
/// let d = Document::text("Sofas ship in 3 days").name("shipping").id("d1").score(0.98);
/// assert_eq!(d.score, Some(0.98));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// The document's text.
    pub text: String,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The id in the document store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The relevance score given by the retriever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl Document {
    /// A document with the given text.
    pub fn text(text: impl Into<String>) -> Self {
        Document {
            text: text.into(),
            name: None,
            id: None,
            score: None,
        }
    }
    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets the id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Sets the relevance score.
    pub fn score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }
}
