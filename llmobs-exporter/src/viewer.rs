//! The trace viewer: one self-contained HTML file (data, CSS and JavaScript inside, nothing
//! fetched) made from local mode's payload files, so traces can be looked at in a browser with
//! no backend. Local mode writes it at exit; `llmobs-viewer FILE...` makes it from any files.
//!
//! The payload lines are embedded as they were written (each one checked to be JSON first; a
//! line that is not is reported in the page and skipped), inside a
//! `<script type="application/json">` element whose `<` characters are escaped, so no payload
//! text can close the element. The page's script puts every value in the page as text.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("viewer/template.html");
const CSS: &str = include_str!("viewer/viewer.css");
const JS: &str = include_str!("viewer/viewer.js");

/// What [`write_viewer`] put in the page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ViewerReport {
    /// Payload lines embedded (span batches and evaluation batches).
    pub payloads: usize,
    /// Lines that were not JSON: listed in the page and skipped.
    pub unreadable: usize,
    /// The size of the page, in bytes.
    pub bytes: u64,
}

/// Writes the viewer of the payloads in `inputs` (local mode's JSONL files) to `output`. The
/// page is written to a temporary file beside `output` and renamed over it, so a reader never
/// sees half a page. A missing input is an error; an unreadable line is not.
///
/// ```no_run
/// # mod llmobs { pub use llmobs_exporter::*; }
/// let report = llmobs::write_viewer(&["llmobs-payloads.jsonl"], "llmobs-traces.html".as_ref())?;
/// println!("{} payloads, {} unreadable lines", report.payloads, report.unreadable);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_viewer(inputs: &[impl AsRef<Path>], output: &Path) -> io::Result<ViewerReport> {
    let mut data: Vec<u8> = Vec::new();
    let mut report = ViewerReport::default();
    let names: Vec<String> = inputs
        .iter()
        .map(|p| p.as_ref().display().to_string())
        .collect();
    data.extend_from_slice(b"{\"files\":");
    serde_json::to_writer(&mut data, &names).map_err(io::Error::other)?;
    data.extend_from_slice(b",\"lines\":[");
    let mut first = true;
    for (path, name) in inputs.iter().zip(&names) {
        let file = File::open(path.as_ref())
            .map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
        for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line?;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            if !first {
                data.push(b',');
            }
            first = false;
            match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => {
                    report.payloads += 1;
                    data.extend_from_slice(text.as_bytes());
                }
                Err(e) => {
                    report.unreadable += 1;
                    let bad = serde_json::json!({"__unreadable": {
                        "file": name, "line": n + 1, "error": e.to_string(),
                    }});
                    serde_json::to_writer(&mut data, &bad).map_err(io::Error::other)?;
                }
            }
        }
    }
    data.extend_from_slice(b"]}");
    let page = page(&data);
    let tmp = temp_beside(output);
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(page.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, output)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    report.bytes = page.len() as u64;
    Ok(report)
}

/// The page around `data` (JSON). In JSON text `<` only occurs inside strings, where `\u003c`
/// means the same: escaping it keeps `</script>` and `<!--` out of the element.
fn page(data: &[u8]) -> String {
    let data = String::from_utf8_lossy(data).replace('<', "\\u003c");
    TEMPLATE
        .replacen("/*{{CSS}}*/", CSS, 1)
        .replacen("/*{{JS}}*/", JS, 1)
        .replacen("/*{{DATA}}*/", &data, 1)
}

fn temp_beside(output: &Path) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "llmobs-traces.html".into());
    name.push(format!(".{}.tmp", std::process::id()));
    output.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("llmobs-viewer-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn hostile_text_stays_inside_the_data_element_and_bad_lines_are_reported() {
        let dir = temp("hostile");
        let input = dir.join("p.jsonl");
        let span = serde_json::json!([{"spans": [{"name": "</script><script>alert(1)</script>",
            "span_id": "1", "trace_id": "a", "parent_id": "undefined", "start_ns": 1, "duration": 1,
            "meta": {"span": {"kind": "llm"}, "input": {"value": "<img src=x onerror=alert(2)> <!--"}}}]}]);
        std::fs::write(&input, format!("{span}\nnot json {{\n\n")).unwrap();
        let out = dir.join("v.html");
        let r = write_viewer(&[&input], &out).unwrap();
        assert_eq!((r.payloads, r.unreadable), (1, 1));
        let html = std::fs::read_to_string(&out).unwrap();
        assert_eq!(r.bytes, html.len() as u64);
        // One data element, closed once; the payload's markup is escaped inside it.
        let start = html.find("id=\"llmobs-data\">").unwrap();
        let end = start + html[start..].find("</script>").unwrap();
        let data = &html[start + "id=\"llmobs-data\">".len()..end];
        assert!(!data.contains('<'), "{data}");
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(
            v["lines"][0][0]["spans"][0]["name"],
            "</script><script>alert(1)</script>"
        );
        assert_eq!(v["lines"][1]["__unreadable"]["line"], 2);
        assert!(html.contains("Content-Security-Policy"));
        assert!(!dir
            .join(format!("v.html.{}.tmp", std::process::id()))
            .exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_input_is_an_error_naming_it() {
        let dir = temp("missing");
        let e = write_viewer(&[dir.join("nope.jsonl")], &dir.join("v.html")).unwrap_err();
        assert!(e.to_string().contains("nope.jsonl"), "{e}");
        assert!(!dir.join("v.html").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
