//! The trace viewer in a real browser: the Furnish Hub example writes `llmobs-traces.html` at
//! exit; `llmobs-viewer` makes a page of that run plus a file of hostile, failing traces and an
//! unreadable line; Chromium (Debian's, driven by Playwright through `executable_path`) checks
//! through the DOM what a user sees (`tests/viewer/browser.py`), and a page of 10,000 traces and
//! 100,000 spans opens with its list paged and searchable. Screenshots of each step go to
//! `target/viewer-screens/`.
//!
//! Needs Chromium at `/usr/bin/chromium` (`.ci/run` installs Debian's `chromium`; the test does
//! too when it runs as root and it is missing) and Python 3 with access to PyPI the first time
//! (Playwright is installed into a virtualenv under `target/`).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use llmobs_bench::local_payloads::{line, span, write_big};
use serde_json::{json, Value};

fn target_tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// Chromium, installed with apt-get when missing (once for the tests of this binary).
fn chromium() -> PathBuf {
    static CHROMIUM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHROMIUM.get_or_init(find_or_install_chromium).clone()
}

fn find_or_install_chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("LLMOBS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    if !path.exists() {
        // As root (CI machines), install Debian's package; otherwise say what is missing.
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        assert!(
            root,
            "no Chromium at {}: install Debian's `chromium` or set LLMOBS_TEST_CHROMIUM",
            path.display()
        );
        let ok = Command::new("apt-get")
            .args(["install", "-y", "-q", "chromium"])
            .status()
            .is_ok_and(|s| s.success())
            || (Command::new("apt-get")
                .args(["update", "-q"])
                .status()
                .is_ok()
                && Command::new("apt-get")
                    .args(["install", "-y", "-q", "chromium"])
                    .status()
                    .is_ok_and(|s| s.success()));
        assert!(
            ok && path.exists(),
            "could not install chromium with apt-get"
        );
    }
    path
}

/// Python with Playwright, in a virtualenv under `target/` (installed on first use, once for
/// the tests of this binary, which run in parallel).
fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install_playwright).clone()
}

fn install_playwright() -> PathBuf {
    let venv = target_tmp().join("playwright-venv");
    let py = venv.join("bin").join("python");
    let marker = venv.join("installed-playwright");
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "could not create a virtualenv with python3 -m venv");
        let ok = Command::new(venv.join("bin").join("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "playwright==1.65.2",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "could not install playwright from PyPI");
        std::fs::write(&marker, "").unwrap();
    }
    py
}

/// Runs the browser script; returns what it printed (JSON).
fn browse(mode: &str, page: &Path) -> Value {
    let screens = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/viewer-screens");
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/viewer/browser.py"))
        .arg(mode)
        .arg(page)
        .arg(&screens)
        .env("LLMOBS_TEST_CHROMIUM", chromium())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser check `{mode}` failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON summary")
}

/// Two failing traces whose names, messages and errors are markup, and an unreadable line.
fn hostile(path: &Path) {
    let now = 1_796_000_000_000_000_000u64;
    let mut a = span(
        "6b0000000000000000000000000000a1",
        1,
        None,
        "<img src=x onerror=\"window.__xss=1\">",
        "workflow",
        now,
    );
    a["status"] = json!("error");
    a["meta"]["error"] = json!({"type": "ValueError", "message": "boom", "stack": ""});
    let mut boom = span(
        "6b0000000000000000000000000000a1",
        2,
        Some(1),
        "boom",
        "task",
        now + 1000,
    );
    boom["status"] = json!("error");
    boom["meta"]["error"] = json!({"type": "ValueError", "message": "<b>bad</b> input", "stack": "at <script>x</script>"});
    let mut b = span(
        "6b0000000000000000000000000000b2",
        3,
        None,
        "<script>window.__xss=2</script>",
        "agent",
        now + 5000,
    );
    b["status"] = json!("error");
    let mut llm = span(
        "6b0000000000000000000000000000b2",
        4,
        Some(3),
        "chat",
        "llm",
        now + 6000,
    );
    llm["meta"]["input"] = json!({"messages": [{"role": "user", "content": "<img src=x onerror=\"window.__xss=3\">"}]});
    llm["meta"]["output"] = json!({"messages": [{"role": "assistant", "content": "<a href=\"javascript:window.__xss=4\">x</a>"}]});
    let text = format!(
        "{}\n{}\nthis line is not JSON {{\n",
        line(vec![a, boom]),
        line(vec![b, llm])
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_viewer_shows_the_furnish_hub_run_in_chromium_and_keeps_hostile_text_as_text() {
    let dir = target_tmp().join(format!("viewer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let payloads = dir.join("llmobs-payloads.jsonl");
    let out = support::bare("furnish_hub")
        .env("DD_LLMOBS_LOCAL_FILE", &payloads)
        .current_dir(&dir)
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Local mode wrote the viewer beside the payload file at exit, and said so last.
    let own = dir.join("llmobs-traces.html");
    assert!(own.exists(), "{stderr}");
    assert!(
        stderr.trim_end().ends_with("open it in a browser"),
        "{stderr}"
    );

    let bad = dir.join("hostile.jsonl");
    hostile(&bad);
    let page = dir.join("viewer.html");
    let made = Command::new(env!("CARGO_BIN_EXE_llmobs-viewer"))
        .arg("-o")
        .arg(&page)
        .arg(&payloads)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(String::from_utf8_lossy(&made.stdout).contains("1 unreadable lines skipped"));
    browse("furnish", &page);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ten_thousand_traces_open_paged_and_searchable() {
    let dir = target_tmp().join(format!("viewer-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let payloads = dir.join("big.jsonl");
    write_big(&payloads, 10_000, 10).unwrap();
    let page = dir.join("big.html");
    let report = llmobs::write_viewer(&[&payloads], &page).unwrap();
    assert_eq!(report.unreadable, 0);
    let summary = browse("scale", &page);
    eprintln!(
        "viewer of 10,000 traces / 100,000 spans: {} MiB, ready in {} ms",
        report.bytes >> 20,
        summary["first_paint_ms"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
