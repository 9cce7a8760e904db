//! `llmobs-viewer [-o OUT.html] FILE...`: the trace viewer of local mode's payload files, as one
//! self-contained HTML page (default `llmobs-traces.html`). See `docs/viewer.md`.
//!
//! ```text
//! cargo run --bin llmobs-viewer -- llmobs-payloads.jsonl
//! cargo install llmobs --bin llmobs-viewer && llmobs-viewer -o traces.html a.jsonl b.jsonl
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: llmobs-viewer [-o OUT.html] FILE...\n\
  Writes the trace viewer of local mode's payload files (default: llmobs-traces.html).";

fn main() -> ExitCode {
    let mut out = PathBuf::from("llmobs-traces.html");
    let mut inputs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-o" | "--output" => match args.next() {
                Some(o) => out = PathBuf::from(o),
                None => {
                    eprintln!("llmobs-viewer: -o needs a file name\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    if inputs.is_empty() {
        eprintln!("llmobs-viewer: no payload file given\n{USAGE}");
        return ExitCode::from(2);
    }
    match llmobs::write_viewer(&inputs, &out) {
        Ok(r) => {
            println!(
                "{}: {} payloads{} ({} KiB); open it in a browser",
                out.display(),
                r.payloads,
                if r.unreadable > 0 {
                    format!(", {} unreadable lines skipped", r.unreadable)
                } else {
                    String::new()
                },
                r.bytes / 1024
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("llmobs-viewer: {e}");
            ExitCode::FAILURE
        }
    }
}
