//! Running the examples as child processes, as a user would run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The names of the examples in `examples/`, sorted.
#[allow(dead_code)] // not every test binary uses it
pub fn example_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/ is readable")
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}

/// The built example `name` (`target/<profile>/examples/<name>`). The examples are built (or
/// found up to date) once per test process: a filtered test run may not have built them, or
/// may have left them older than the library.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf();
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        // Into the same target directory and profile as this test.
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--examples", "--quiet", "--target-dir"])
            .arg(profile_dir.parent().expect("<target>"))
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        // With the features this test was built with, so the examples link the same library.
        let features: Vec<&str> = [
            ("http", cfg!(feature = "http")),
            ("otlp", cfg!(feature = "otlp")),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if !features.is_empty() {
            cmd.arg("--features").arg(features.join(","));
        }
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "the examples build");
    });
    profile_dir.join("examples").join(name)
}

/// A command for example `name` with nothing configured: no Agent, no key, no model; stdin
/// closed, output captured.
pub fn bare(name: &str) -> Command {
    let mut cmd = Command::new(example(name));
    for var in [
        "DD_API_KEY",
        "DD_TRACE_AGENT_URL",
        "DD_AGENT_HOST",
        "DD_TRACE_AGENT_PORT",
        "DD_LLMOBS_AGENTLESS_ENABLED",
        "DD_AGENTLESS_ENABLED",
        "DD_LLMOBS_ENABLED",
        "DD_LLMOBS_OVERRIDE_ORIGIN",
        "OPENAI_API_KEY",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "OTEL_LOGS_EXPORTER",
        "OTEL_RESOURCE_ATTRIBUTES",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A loopback address nothing listens on.
#[allow(dead_code)] // not every test binary uses it
pub fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// A loopback port that was free a moment ago, for a server the test starts.
#[allow(dead_code)] // not every test binary uses it
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    l.local_addr().expect("addr").port()
}
