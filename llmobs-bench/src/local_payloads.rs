//! Local mode's payload lines, written by hand: the trace viewer's tests and its bench use them
//! to make payload files of any size without running an exporter.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

/// One span event as local mode writes it (no input or output yet).
pub fn span(
    trace: &str,
    id: u64,
    parent: Option<u64>,
    name: &str,
    kind: &str,
    start: u64,
) -> Value {
    json!({
        "trace_id": trace, "span_id": id.to_string(),
        "parent_id": parent.map_or("undefined".to_owned(), |p| p.to_string()),
        "name": name, "start_ns": start, "duration": 2_000_000, "status": "ok",
        "meta": {"span": {"kind": kind}}, "metrics": {}, "tags": [],
    })
}

/// A local-mode line: a batch of span events.
pub fn line(spans: Vec<Value>) -> String {
    let events: Vec<Value> = spans.into_iter().map(|s| json!({"spans": [s]})).collect();
    Value::Array(events).to_string()
}

/// `traces` traces of `per_trace` spans (a workflow root, an llm call with messages, tasks), in
/// batches of 100 traces per line, as local mode writes them.
pub fn write_big(path: &Path, traces: usize, per_trace: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let t0 = 1_796_000_000_000_000_000u64;
    let mut batch = Vec::new();
    for t in 0..traces {
        let trace = format!("6b{:030x}", t + 1);
        let base = t as u64 * 1000;
        let start = t0 + t as u64 * 10_000_000;
        let mut root = span(&trace, base + 1, None, "handle_message", "workflow", start);
        root["session_id"] = json!(format!("session-{}", t % 50));
        root["meta"]["input"] = json!({"value": format!("question {t}")});
        batch.push(root);
        let mut llm = span(
            &trace,
            base + 2,
            Some(base + 1),
            "chat",
            "llm",
            start + 1000,
        );
        llm["meta"]["model_name"] = json!("gpt-4o-mini");
        llm["meta"]["input"] = json!({"messages": [{"role": "user", "content": format!("question {t} about the Oslo sofa")}]});
        llm["meta"]["output"] =
            json!({"messages": [{"role": "assistant", "content": "It is 214 cm wide."}]});
        llm["metrics"] = json!({"input_tokens": 20, "output_tokens": 8, "total_tokens": 28});
        batch.push(llm);
        for i in 3..=per_trace {
            batch.push(span(
                &trace,
                base + i,
                Some(base + 1),
                "step",
                "task",
                start + i * 1000,
            ));
        }
        if (t + 1) % 100 == 0 {
            writeln!(f, "{}", line(std::mem::take(&mut batch)))?;
        }
    }
    if !batch.is_empty() {
        writeln!(f, "{}", line(batch))?;
    }
    f.flush()
}
