//! Local mode: with no Agent and no API key, traces are shown on stderr and the exact intake
//! payloads are kept in a JSONL file, so instrumentation can be checked on a bare machine and
//! the file replayed or diffed later.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;

use llmobs_core::{EvaluationMetric, SpanEvent, SpanId};

use crate::destination::datadog::{add_evaluation, add_spans};
use crate::destination::{Destination, Framing, Payload, PayloadKind, Payloads, Sent};
use crate::encode::{framing, Encoder};

/// Appends the intake payloads to the JSONL file and prints trace trees on stderr.
pub(crate) struct Local {
    encoder: Encoder,
    path: PathBuf,
    file: Option<File>,
    print_tree: bool,
    /// Spans seen this tick, printed together at its end so that the chunks of one trace that
    /// finished on different threads (a spawned task, a detached span) show as one tree.
    pending_tree: Vec<SpanEvent>,
    /// Where the viewer is written when local mode ends, if it wrote anything.
    viewer: Option<PathBuf>,
}

impl Local {
    pub(crate) fn new(config: &crate::Config) -> Self {
        eprintln!(
            "llmobs: local mode: nothing is sent to Datadog; traces are printed here and payloads appended to {}",
            config.local_file.display()
        );
        Local {
            encoder: Encoder::new(config),
            path: config.local_file.clone(),
            file: None,
            print_tree: config.print_local_tree,
            pending_tree: Vec::new(),
            viewer: config.resolved_viewer_file(),
        }
    }

    /// Appends one request body as one line. Our JSON never contains a raw newline (they are
    /// escaped), so each line is exactly one payload.
    fn write_payload(&mut self, body: &[u8]) -> io::Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            ),
        };
        let mut line = Vec::with_capacity(body.len() + 1);
        line.extend_from_slice(body);
        line.push(b'\n');
        // One write per line, so concurrent writers appending to the same file do not interleave
        // inside a payload.
        file.write_all(&line)?;
        file.flush()
    }
}

impl Destination for Local {
    fn name(&self) -> String {
        format!("the local payload file ({})", self.path.display())
    }

    fn framing(&self, kind: PayloadKind) -> Framing {
        framing(kind)
    }

    fn take_spans(&mut self, spans: &[SpanEvent], out: &mut Payloads<'_>) {
        if self.print_tree {
            self.pending_tree.extend_from_slice(spans);
        }
        add_spans(&self.encoder, spans, out);
    }

    fn take_evaluation(&mut self, metric: &EvaluationMetric, out: &mut Payloads<'_>) {
        add_evaluation(&self.encoder, metric, out);
    }

    fn send(&mut self, payload: &Payload) -> Sent {
        match self.write_payload(&payload.body) {
            Ok(()) => Sent::Delivered,
            Err(e) => Sent::Rejected(format!("could not append to the local payload file: {e}")),
        }
    }

    /// Prints the trees of the spans seen this tick, one per trace, in order of first arrival.
    fn end_tick(&mut self) {
        if self.pending_tree.is_empty() {
            return;
        }
        let mut order: Vec<llmobs_core::TraceId> = Vec::new();
        let mut by_trace: HashMap<llmobs_core::TraceId, Vec<SpanEvent>> = HashMap::new();
        for span in self.pending_tree.drain(..) {
            let entry = by_trace.entry(span.trace_id).or_default();
            if entry.is_empty() {
                order.push(span.trace_id);
            }
            entry.push(span);
        }
        let mut text = String::new();
        for id in order {
            if let Some(mut spans) = by_trace.remove(&id) {
                spans.sort_by_key(|s| s.start_ns);
                text.push_str(&render_tree(&spans));
            }
        }
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}

/// The payload files this large are not read at exit (the viewer would take seconds to write):
/// `llmobs-viewer FILE` makes their viewer on demand.
const VIEWER_INPUT_LIMIT: u64 = 256 << 20;

impl Drop for Local {
    /// When local mode ends (the exporter stops, or an Agent takes over) after writing
    /// payloads, the viewer of the whole payload file is written beside it.
    fn drop(&mut self) {
        let (Some(out), Some(_)) = (&self.viewer, &self.file) else {
            return;
        };
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > VIEWER_INPUT_LIMIT {
            eprintln!(
                "llmobs: {} is over {} MiB: no trace viewer written at exit; run `llmobs-viewer {}`",
                self.path.display(),
                VIEWER_INPUT_LIMIT >> 20,
                self.path.display()
            );
            return;
        }
        match crate::viewer::write_viewer(&[&self.path], out) {
            Ok(_) => eprintln!(
                "llmobs: trace viewer written to {}: open it in a browser",
                out.display()
            ),
            Err(e) => eprintln!(
                "llmobs: could not write the trace viewer {}: {e}",
                out.display()
            ),
        }
    }
}

/// The spans of one local trace as an indented tree, children under their parent.
pub(crate) fn render_tree(spans: &[SpanEvent]) -> String {
    let ids: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_id.filter(|p| ids.contains_key(p)) {
            Some(p) => children.entry(p).or_default().push(i),
            None => roots.push(i),
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "llmobs trace {}", spans[0].trace_id);
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 1)).collect();
    while let Some((i, depth)) = stack.pop() {
        let s = &spans[i];
        out.push_str(&"  ".repeat(depth));
        let _ = write!(
            out,
            "{} {} {} {}",
            s.kind,
            s.name,
            format_duration(s.duration_ns),
            s.status()
        );
        if let Some(model) = s.model_name() {
            let _ = write!(out, " model={model}");
        }
        for key in ["input_tokens", "output_tokens", "total_tokens"] {
            if let Some(v) = s.metric(key) {
                let _ = write!(out, " {key}={v}");
            }
        }
        if let Some(e) = &s.error {
            let _ = write!(out, " error={}: {}", e.kind, e.message);
        }
        out.push('\n');
        if let Some(kids) = children.get(&s.span_id) {
            stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
        }
    }
    out
}

fn format_duration(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.2}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else {
        format!("{:.1}us", ns as f64 / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmobs_core::{SpanError, SpanKind, TraceId};

    #[test]
    fn children_are_indented_under_their_parent() {
        let t = TraceId(1 << 100);
        let mut root = SpanEvent::new(SpanKind::Workflow, "root", t, SpanId(1));
        root.duration_ns = 2_500_000;
        let mut llm = SpanEvent::new(SpanKind::Llm, "chat", t, SpanId(2));
        llm.parent_id = Some(SpanId(1));
        llm.annotations_mut()
            .metrics
            .insert("input_tokens".into(), 4.into());
        let mut tool = SpanEvent::new(SpanKind::Tool, "lookup", t, SpanId(3));
        tool.parent_id = Some(SpanId(2));
        tool.error = Some(Box::new(SpanError::new("io", "refused")));
        let text = render_tree(&[llm, tool, root]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "  workflow root 2.50ms ok");
        assert!(
            lines[2].starts_with("    llm chat") && lines[2].contains("input_tokens=4"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("      tool lookup") && lines[3].contains("error=io: refused"),
            "{text}"
        );
    }
}
