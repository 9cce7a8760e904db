//! The RAG request of the delivered-span benchmark, with realistic sizes: a workflow whose
//! retrieval returns 5 documents of about 500 bytes, whose LLM call takes about 2 KB of messages
//! and answers about 500 bytes with three token counts, and a task that formats the reply.
//!
//! The text is built once; the request copies it into its annotations, as an application hands
//! its strings to the SDK.

use std::sync::OnceLock;

use llmobs::{Document, Message};

/// The text one request carries.
pub struct RagText {
    /// The user's question (with a contact detail, so redaction has something to find).
    pub question: String,
    /// The system prompt.
    pub system: String,
    /// The user message: the question and the retrieved context.
    pub prompt: String,
    /// The retrieved documents: id, text, score.
    pub documents: Vec<(String, String, f64)>,
    /// The model's answer.
    pub answer: String,
    /// The reply the task formats.
    pub reply: String,
}

/// Sentences of a furniture shop's support conversation, repeated to the sizes wanted.
const PROSE: &[&str] = &[
    "The Oslo three-seat sofa ships from our Rotterdam warehouse within five working days.",
    "Delivery to the door is free above 500 euros, and assembly can be booked for a fee.",
    "Covers are removable and machine washable at 30 degrees; the frame is solid beech.",
    "Orders can be changed until they leave the warehouse; after that, returns take 30 days.",
    "Our support team answers by chat from 8 to 20 on weekdays and from 10 to 16 on Saturdays.",
];

fn prose(bytes: usize, offset: usize) -> String {
    let mut out = String::with_capacity(bytes + 100);
    let mut i = offset;
    while out.len() < bytes {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(PROSE[i % PROSE.len()]);
        i += 1;
    }
    out.truncate(bytes);
    out
}

/// The request's text, built once.
pub fn text() -> &'static RagText {
    static TEXT: OnceLock<RagText> = OnceLock::new();
    TEXT.get_or_init(|| {
        let question = "When will my Oslo sofa arrive? Order 40172, you can reach me at \
                        ada.lovelace@example.com or +44 20 7946 0958."
            .to_owned();
        let documents: Vec<(String, String, f64)> = (0..5)
            .map(|i| (format!("kb-{i}"), prose(500, i), 0.9 - 0.1 * i as f64))
            .collect();
        let system = prose(300, 3);
        let mut prompt = format!("{question}\n\nContext:\n");
        for (_, text, _) in &documents[..3] {
            prompt.push_str(text);
            prompt.push('\n');
        }
        prompt.truncate(2048 - system.len());
        let answer = prose(500, 1);
        let reply = format!("<p>{}</p>", &answer[..200]);
        RagText {
            question,
            system,
            prompt,
            documents,
            answer,
            reply,
        }
    })
}

/// The request through llmobs: workflow → retrieval → llm → task.
#[inline(never)]
pub fn llmobs_rag() {
    let t = text();
    let _wf = llmobs::workflow("answer_question").start();
    {
        let _r = llmobs::retrieval("search_catalog").start();
        let _ = llmobs::annotate()
            .input(t.question.as_str())
            .output_documents(t.documents.iter().map(|(id, text, score)| {
                let mut d = Document::text(text.as_str());
                d.id = Some(id.clone());
                d.score = Some(*score);
                d
            }))
            .apply();
    }
    {
        let _l = llmobs::llm("generate_answer")
            .model_name("gpt-4o-mini")
            .model_provider("openai")
            .start();
        let _ = llmobs::annotate()
            .input_messages([
                Message::system(t.system.as_str()),
                Message::user(t.prompt.as_str()),
            ])
            .output_messages([Message::assistant(t.answer.as_str())])
            .metric("input_tokens", 512)
            .metric("output_tokens", 118)
            .metric("total_tokens", 630)
            .apply();
    }
    {
        let _f = llmobs::task("format_reply").start();
        let _ = llmobs::annotate()
            .input(t.answer.as_str())
            .output(t.reply.as_str())
            .apply();
    }
    let _ = llmobs::annotate()
        .input(t.question.as_str())
        .output(t.reply.as_str())
        .apply();
}

/// Spans per RAG request.
pub const RAG_SPANS: usize = 4;
