//! Every example a user sees in the `llmobs` documentation compiles in a crate that depends on
//! `llmobs` alone: `cargo test --doc` runs them, and this test checks that none of them names
//! the internal crates (`llmobs_core`, `llmobs_exporter`, `llmobs_tracing`) outside hidden lines.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_rendered_example_names_an_internal_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "src",
        "llmobs-core/src",
        "llmobs-exporter/src",
        "llmobs-macros/src",
        "llmobs-tracing/src",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut offending = Vec::new();
    let mut blocks = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut in_code = false;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let Some(doc) = trimmed
                .strip_prefix("///")
                .or_else(|| trimmed.strip_prefix("//!"))
            else {
                in_code = false;
                continue;
            };
            let doc = doc.strip_prefix(' ').unwrap_or(doc);
            if let Some(lang) = doc.strip_prefix("```") {
                if in_code {
                    in_code = false;
                } else {
                    let lang = lang.trim();
                    in_code = lang.is_empty()
                        || lang.starts_with("rust")
                        || ["no_run", "should_panic", "compile_fail"].contains(&lang);
                    blocks += usize::from(in_code);
                }
                continue;
            }
            let hidden = doc == "#" || doc.starts_with("# ");
            if in_code
                && !hidden
                && (doc.contains("llmobs_core")
                    || doc.contains("llmobs_exporter")
                    || doc.contains("llmobs_tracing"))
            {
                offending.push(format!("{}:{}: {doc}", file.display(), n + 1));
            }
        }
    }
    assert!(blocks > 50, "found only {blocks} examples");
    assert!(offending.is_empty(), "{}", offending.join("\n"));
}
