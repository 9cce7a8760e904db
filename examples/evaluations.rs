//! Evaluations of every metric type, joined on a span or on a tag.
//!
//! ```text
//! cargo run --example evaluations
//! ```

use llmobs::{Assessment, EvalScope, Evaluation};

#[llmobs::llm(model_name = "gpt-4o-mini", model_provider = "openai")]
fn answer(question: &str) -> String {
    let _ = llmobs::annotate().tag("conversation", "c-1").apply();
    format!("Here is what I know about {question}.")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _llmobs = llmobs::Config::from_env()?
        .default_ml_app("eval-demo")
        .init()?;

    let root = llmobs::workflow("answer_question").start();
    let reply = answer("delivery times");
    println!("{reply}");
    // Observability never fails the application: what the SDK refuses is logged, and the
    // program goes on. With LLM Observability off, every call here succeeds and does nothing.
    if let Err(e) = submit_all(&root) {
        eprintln!("llmobs: {e}");
    }
    drop(root);

    // Bad input is an error value that says what to fix, never a panic:
    let bad = Evaluation::score("bad.label", 1.0).join_tag("conversation", "c-1");
    if let Err(e) = llmobs::submit_evaluation(bad) {
        eprintln!("llmobs: rejected as expected: {e}");
    }
    eprintln!("{}", llmobs::flush());
    Ok(())
}

/// Every metric type; `?` works on every SDK call into `llmobs::Error`.
fn submit_all(root: &llmobs::Span) -> Result<(), llmobs::Error> {
    let exported = llmobs::export_span(Some(root))?; // the workflow span's ids
    eprintln!(
        "evaluating span {} of trace {}",
        exported.span_id, exported.trace_id
    );
    llmobs::submit_evaluation(
        Evaluation::score("relevance", 0.87)
            .span(&exported)
            .tag("evaluator", "judge-llm"),
    )?;
    llmobs::submit_evaluation(Evaluation::categorical("sentiment", "positive").span(&exported))?;
    llmobs::submit_evaluation(
        Evaluation::boolean("harmful", false)
            .span(&exported)
            .assessment(Assessment::Pass)
            .reasoning("no harmful content"),
    )?;
    llmobs::submit_evaluation(
        Evaluation::json(
            "details",
            serde_json::json!({"citations": 2, "missing": []}),
        )
        .span(&exported)
        .metadata("judge", "rules-v2"),
    )?;
    llmobs::submit_evaluation(
        Evaluation::score("conversation_quality", 4).join_tag("conversation", "c-1"),
    )?;
    llmobs::submit_evaluation(
        Evaluation::score("trace_latency_ok", 1)
            .span(&exported)
            .eval_scope(EvalScope::Trace),
    )?;
    Ok(())
}
