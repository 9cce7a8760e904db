//! The OTLP destination against a real OpenTelemetry backend: Arize Phoenix.
//!
//! The test installs Phoenix (`arize-phoenix` from PyPI) into a virtualenv under `target/` the
//! first time (about 15 s with `uv`, which it installs first; later runs reuse the virtualenv),
//! starts it on a loopback port with a fresh database, runs the Furnish Hub example against it,
//! and reads the spans back through Phoenix's REST API (`GET /v1/projects/{project}/spans`).
//!
//! Two runs of the example:
//! - with the OTLP destination alone (only `OTEL_EXPORTER_OTLP_ENDPOINT` set), as a user
//!   pointing the example at Phoenix would run it: five traces, one per customer message, each
//!   with the right OpenInference kinds, parents, names, model, token counts, messages and session;
//! - with a Datadog Agent as well (a loopback one this test starts): every span the Agent
//!   receives arrives in Phoenix with the same trace id, span id and parent, so one trace can be
//!   found in both, and with the same name, kind, model, token counts, messages and session.
//!
//! Needs Python 3.11 or newer (`python3`, or the interpreter named by `LLMOBS_TEST_PYTHON`) and
//! access to PyPI the first time. Run with `cargo test --features otlp --test phoenix`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use llmobs_bench::intake::Intake;
use serde_json::Value;

/// The Phoenix release the test is written against.
const PHOENIX: &str = "arize-phoenix==20.26.1";
/// Phoenix imports for 10-20 s before it listens, about 35 s on its first start (it compiles
/// its modules then); a slow machine gets room.
const START_TIMEOUT: Duration = Duration::from_secs(240);
/// Phoenix stores what it accepted asynchronously (about 150 ms later).
const STORE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the virtualenv and each run's files live: `target/tmp/phoenix`.
fn home() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("phoenix")
}

fn run(cmd: &mut Command, what: &str) -> bool {
    match cmd.status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("{what}: {s}");
            false
        }
        Err(e) => {
            eprintln!("{what}: {e}");
            false
        }
    }
}

/// The virtualenv with Phoenix, installed on first use. A marker file written last tells a
/// complete install from an interrupted one, which is started over.
fn phoenix_venv() -> PathBuf {
    let home = home();
    let venv = home.join("venv");
    let marker = venv.join(format!("installed-{PHOENIX}"));
    if marker.exists() {
        return venv;
    }
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::create_dir_all(&home).expect("create target/tmp/phoenix");
    let python = std::env::var("LLMOBS_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!("installing {PHOENIX} into {}", venv.display());
    assert!(
        run(
            Command::new(&python).args(["-m", "venv"]).arg(&venv),
            "python3 -m venv"
        ),
        "could not create a virtualenv with `{python} -m venv`: Phoenix needs Python 3.11 or newer \
         (set LLMOBS_TEST_PYTHON to another interpreter)"
    );
    let bin = venv.join("bin");
    let quiet = ["--quiet", "--disable-pip-version-check"];
    // uv installs Phoenix's 140 wheels in seconds where pip takes over a minute; pip is the
    // fallback if uv cannot be had.
    let with_uv = run(
        Command::new(bin.join("pip"))
            .arg("install")
            .args(quiet)
            .arg("uv"),
        "pip install uv",
    ) && run(
        Command::new(bin.join("uv"))
            .args(["pip", "install", "--quiet", "--python"])
            .arg(bin.join("python"))
            .arg(PHOENIX)
            .env("UV_CACHE_DIR", home.join("uv-cache")),
        "uv pip install",
    );
    if !with_uv {
        assert!(
            run(
                Command::new(bin.join("pip"))
                    .arg("install")
                    .args(quiet)
                    .arg(PHOENIX),
                "pip install"
            ),
            "could not install {PHOENIX} from PyPI"
        );
    }
    std::fs::write(&marker, PHOENIX).expect("write the install marker");
    venv
}

/// A Phoenix server on a loopback port with its own database, stopped when dropped.
struct Phoenix {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Phoenix {
    fn start() -> Phoenix {
        let venv = phoenix_venv();
        let dir = home().join(format!("run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["work", "tmp", "home"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create the run directory");
        }
        let port = support::free_port();
        let log = File::create(dir.join("phoenix.log")).expect("create the log");
        // A clean environment: no OTEL_* of the caller's (Phoenix traces itself when told
        // to), nothing in the user's home, no outside resources, no telemetry. gRPC cannot be
        // turned off; port 0 lets the OS choose a free one.
        let child = Command::new(venv.join("bin").join("phoenix"))
            .arg("serve")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.join("home"))
            .env("TMPDIR", dir.join("tmp"))
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", port.to_string())
            .env("PHOENIX_GRPC_PORT", "0")
            .env("PHOENIX_WORKING_DIR", dir.join("work"))
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
            .env("PHOENIX_LOG_MIGRATIONS", "false")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start phoenix");
        let mut phoenix = Phoenix {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        phoenix.wait_ready();
        phoenix
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("phoenix.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        loop {
            if let Ok(r) = agent.get(format!("{}/healthz", self.url)).call() {
                if r.status() == 200 {
                    eprintln!("phoenix ready after {:.1?}", started.elapsed());
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "phoenix exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "phoenix did not answer /healthz within {START_TIMEOUT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The spans of `project` (404 until its first span is stored: then none).
    fn spans(&self, project: &str) -> Vec<Value> {
        let url = format!("{}/v1/projects/{project}/spans?limit=1000", self.url);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut r = agent.get(&url).call().expect("phoenix answers");
        if r.status() == 404 {
            return Vec::new();
        }
        assert_eq!(r.status(), 200, "GET {url}");
        let text = r.body_mut().read_to_string().expect("an answer");
        let body: Value = serde_json::from_str(&text).expect("a JSON answer");
        assert!(body["next_cursor"].is_null(), "more than 1,000 spans");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// The spans of `project` once `n` are stored (and none more arrives for a moment).
    fn wait_for_spans(&self, project: &str, n: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let spans = self.spans(project);
            if spans.len() >= n {
                std::thread::sleep(Duration::from_millis(500));
                return self.spans(project);
            }
            assert!(
                started.elapsed() < STORE_TIMEOUT,
                "phoenix holds {} of {n} spans in project {project} after {STORE_TIMEOUT:?}:\n{}",
                spans.len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- phoenix log ---\n{}", self.log());
        }
        // SIGTERM is Phoenix's graceful shutdown; it is killed if it takes over 10 s.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the Furnish Hub example with `env`, and returns its output once it succeeded.
fn furnish_hub(env: &[(&str, &str)]) -> Output {
    let mut cmd = support::bare("furnish_hub");
    cmd.env("DD_LLMOBS_LOCAL_FILE", home().join("unused.jsonl"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the example starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "furnish_hub failed:\n{stderr}");
    assert!(
        stderr.contains(" 0 dropped"),
        "furnish_hub dropped telemetry:\n{stderr}"
    );
    out
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

fn attr_str<'a>(span: &'a Value, key: &str) -> &'a str {
    attr(span, key).as_str().unwrap_or_default()
}

/// The OpenInference kind Phoenix shows for an LLM Observability kind.
fn openinference_kind(kind: &str) -> &'static str {
    match kind {
        "llm" => "LLM",
        "embedding" => "EMBEDDING",
        "agent" => "AGENT",
        "tool" => "TOOL",
        "retrieval" => "RETRIEVER",
        "workflow" | "task" => "CHAIN",
        other => panic!("unexpected span kind {other}"),
    }
}

/// What one Phoenix span says, in a form that two runs of the example share (no ids, times or
/// durations): kind, name, parent's name, model, token counts and the first message's role.
fn shape(span: &Value, by_id: &HashMap<&str, &Value>) -> String {
    let parent = span["parent_id"]
        .as_str()
        .map(|p| attr_str(by_id[p], "llmobs.span.name"))
        .unwrap_or("-");
    format!(
        "{} {} under {parent}; model {}; tokens {}/{}; first input role {}",
        span["span_kind"].as_str().unwrap_or_default(),
        span["name"].as_str().unwrap_or_default(),
        attr_str(span, "llm.model_name"),
        attr(span, "llm.token_count.prompt"),
        attr(span, "llm.token_count.completion"),
        attr_str(span, "llm.input_messages.0.message.role"),
    )
}

/// Checks one project's spans as the OTLP-alone run must leave them, and returns each trace's
/// span shapes (sorted), traces by their root's start.
fn check_traces(spans: &[Value], session: &str) -> Vec<Vec<String>> {
    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["context"]["span_id"].as_str().expect("span id"), s))
        .collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");
    let mut traces: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for s in spans {
        let trace = s["context"]["trace_id"].as_str().expect("trace id");
        assert_eq!(trace.len(), 32, "a 128-bit trace id: {trace}");
        traces.entry(trace).or_default().push(s);
    }
    assert_eq!(traces.len(), 5, "one trace per customer message");
    let mut shapes = Vec::new();
    for (trace, mut members) in traces {
        members.sort_by_key(|s| s["start_time"].as_str().unwrap_or_default().to_owned());
        let roots: Vec<_> = members
            .iter()
            .filter(|s| s["parent_id"].is_null())
            .collect();
        assert_eq!(roots.len(), 1, "trace {trace} has one root");
        let root = roots[0];
        assert_eq!(root["span_kind"], "CHAIN");
        assert_eq!(root["name"], "invoke_workflow handle_message");
        assert_eq!(attr_str(root, "llmobs.span.kind"), "workflow");
        for s in &members {
            // Every parent is a span of the same trace, and every span carries the session.
            if let Some(p) = s["parent_id"].as_str() {
                let parent = by_id.get(p).unwrap_or_else(|| panic!("parent {p} missing"));
                assert_eq!(parent["context"]["trace_id"].as_str(), Some(trace));
            }
            assert_eq!(attr_str(s, "session.id"), session, "{s}");
            assert_eq!(attr_str(s, "gen_ai.conversation.id"), session);
            let kind = attr_str(s, "llmobs.span.kind");
            assert_eq!(s["span_kind"], openinference_kind(kind), "{s}");
            assert_eq!(s["status_code"], "UNSET", "{s}");
        }
        let kinds: Vec<&str> = members
            .iter()
            .map(|s| attr_str(s, "llmobs.span.kind"))
            .collect();
        for k in ["workflow", "task", "agent", "retrieval", "embedding", "llm"] {
            assert!(
                kinds.contains(&k),
                "trace {trace} has a {k} span: {kinds:?}"
            );
        }
        // The model call: GenAI name, model, token counts and messages in both conventions.
        let llm = members
            .iter()
            .find(|s| attr_str(s, "llmobs.span.kind") == "llm")
            .expect("an llm span");
        assert_eq!(llm["name"], "chat furnish-offline-responder");
        assert_eq!(
            attr_str(
                by_id[llm["parent_id"].as_str().unwrap()],
                "llmobs.span.kind"
            ),
            "agent",
            "the model is called by the agent"
        );
        assert_eq!(attr_str(llm, "llm.model_name"), "furnish-offline-responder");
        assert_eq!(
            attr_str(llm, "gen_ai.request.model"),
            "furnish-offline-responder"
        );
        let prompt = attr(llm, "llm.token_count.prompt")
            .as_i64()
            .expect("tokens");
        let completion = attr(llm, "llm.token_count.completion").as_i64().unwrap();
        assert!(prompt > 0 && completion > 0, "{llm}");
        assert_eq!(
            attr(llm, "gen_ai.usage.input_tokens").as_i64(),
            Some(prompt),
            "{llm:#}"
        );
        assert_eq!(
            attr(llm, "gen_ai.usage.output_tokens").as_i64(),
            Some(completion)
        );
        assert_eq!(
            attr(llm, "llm.token_count.total").as_i64(),
            Some(prompt + completion)
        );
        assert_eq!(attr_str(llm, "llm.input_messages.0.message.role"), "system");
        assert_eq!(attr_str(llm, "llm.input_messages.1.message.role"), "user");
        assert_eq!(
            attr_str(llm, "llm.output_messages.0.message.role"),
            "assistant"
        );
        assert!(!attr_str(llm, "llm.output_messages.0.message.content").is_empty());
        let genai: Value = serde_json::from_str(attr_str(llm, "gen_ai.output.messages"))
            .expect("gen_ai.output.messages is JSON");
        assert_eq!(genai[0]["role"], "assistant");
        assert_eq!(genai[0]["parts"][0]["type"], "text");
        // Sorted: Phoenix keeps microseconds, so a parent and its first child can start at the
        // same time and come back in either order.
        let mut trace_shapes: Vec<String> = members.iter().map(|s| shape(s, &by_id)).collect();
        trace_shapes.sort();
        shapes.push((
            root["start_time"].as_str().unwrap_or_default().to_owned(),
            trace_shapes,
        ));
    }
    shapes.sort();
    shapes.into_iter().map(|(_, s)| s).collect()
}

/// The session id the example used: `session-{pid}`, as its root spans say.
fn session_of(spans: &[Value]) -> String {
    let root = spans
        .iter()
        .find(|s| s["parent_id"].is_null())
        .expect("a root span");
    attr_str(root, "session.id").to_owned()
}

#[test]
fn furnish_hub_traces_arrive_in_phoenix_with_their_kinds_parents_and_ids() {
    let phoenix = Phoenix::start();

    // 1. The OTLP destination alone, as `cargo run --example furnish_hub --features otlp` runs
    // with the endpoint set: Phoenix files the spans under the ml_app.
    // Phoenix has no OTLP logs endpoint, so evaluations are turned off.
    let alone = furnish_hub(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", phoenix.url.as_str()),
        ("OTEL_LOGS_EXPORTER", "none"),
    ]);
    let spans = phoenix.wait_for_spans("furnish-hub", 25);
    let session = session_of(&spans);
    assert!(session.starts_with("session-"), "{session}");
    let shapes = check_traces(&spans, &session);
    assert!(
        String::from_utf8_lossy(&alone.stdout).contains("assistant > "),
        "the example answered"
    );

    // 2. Beside a Datadog Agent: the same spans, with the same ids, in both.
    let agent = Intake::start();
    furnish_hub(&[
        ("DD_TRACE_AGENT_URL", agent.url().as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", phoenix.url.as_str()),
        ("OTEL_LOGS_EXPORTER", "none"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "openinference.project.name=beside-datadog",
        ),
    ]);
    let datadog = agent.span_events();
    assert!(datadog.len() >= 25, "the Agent got {} spans", datadog.len());
    let spans = phoenix.wait_for_spans("beside-datadog", datadog.len());
    assert_eq!(spans.len(), datadog.len(), "every span, once, in both");
    let by_id: HashMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["context"]["span_id"].as_str().unwrap(), s))
        .collect();
    for dd in &datadog {
        let id: u64 = dd["span_id"].as_str().unwrap().parse().unwrap();
        let hex = format!("{id:016x}");
        let otel = by_id
            .get(hex.as_str())
            .unwrap_or_else(|| panic!("span {} ({hex}) not in phoenix: {dd}", dd["name"]));
        assert_eq!(otel["context"]["trace_id"], dd["trace_id"], "{dd}");
        match dd["parent_id"].as_str().unwrap() {
            "undefined" => assert!(otel["parent_id"].is_null(), "{otel}"),
            p => assert_eq!(
                otel["parent_id"].as_str(),
                Some(format!("{:016x}", p.parse::<u64>().unwrap()).as_str())
            ),
        }
        let kind = dd["meta"]["span"]["kind"].as_str().unwrap();
        assert_eq!(attr_str(otel, "llmobs.span.kind"), kind);
        assert_eq!(otel["span_kind"], openinference_kind(kind));
        assert_eq!(attr(otel, "llmobs.span.name"), &dd["name"]);
        assert_eq!(attr(otel, "session.id"), &dd["session_id"]);
        if let Some(model) = dd["meta"]["model_name"].as_str() {
            let key = if kind == "embedding" {
                "embedding.model_name"
            } else {
                "llm.model_name"
            };
            assert_eq!(attr_str(otel, key), model, "{otel}");
        }
        for (dd_metric, otel_key) in [
            ("input_tokens", "llm.token_count.prompt"),
            ("output_tokens", "llm.token_count.completion"),
        ] {
            if let Some(n) = dd["metrics"][dd_metric].as_f64() {
                assert_eq!(attr(otel, otel_key).as_f64(), Some(n), "{otel}");
            }
        }
        if let Some(messages) = dd["meta"]["input"]["messages"].as_array() {
            for (i, m) in messages.iter().enumerate() {
                let key = format!("llm.input_messages.{i}.message.role");
                assert_eq!(attr(otel, &key), &m["role"], "{otel}");
            }
        }
    }
    // The same program, run again: the same trace shapes as the OTLP-alone run.
    let session = session_of(&spans);
    assert_eq!(check_traces(&spans, &session), shapes);
}
