//! Every example, run twice: with LLM Observability on (local mode, nothing else running) and
//! with `DD_LLMOBS_ENABLED=0`. What the application prints on stdout (what its user sees) must
//! be the same, and both runs must exit 0: turning observability off changes nothing else.

mod support;

use std::path::Path;
use std::process::Output;

fn run(name: &str, enabled: bool, payloads: &Path) -> Output {
    support::bare(name)
        .env("DD_LLMOBS_LOCAL_FILE", payloads)
        .env("DD_LLMOBS_ENABLED", if enabled { "1" } else { "0" })
        .output()
        .expect("the example starts")
}

#[test]
fn every_example_prints_the_same_with_observability_on_and_off() {
    let names = support::example_names();
    assert!(names.len() >= 6, "found examples {names:?}");
    let tmp = std::env::temp_dir().join(format!("llmobs-examples-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for name in &names {
        let on_file = tmp.join(format!("{name}-on.jsonl"));
        let off_file = tmp.join(format!("{name}-off.jsonl"));
        let on = run(name, true, &on_file);
        let off = run(name, false, &off_file);
        let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(on.status.success(), "{name} enabled: {}", stderr(&on));
        assert!(off.status.success(), "{name} disabled: {}", stderr(&off));
        assert!(!on.stdout.is_empty(), "{name} prints something");
        assert_eq!(
            String::from_utf8_lossy(&on.stdout),
            String::from_utf8_lossy(&off.stdout),
            "{name}: the application's output differs with observability off"
        );
        // Enabled really recorded (local mode wrote the payloads); disabled wrote nothing.
        assert!(
            stderr(&on).contains("llmobs trace"),
            "{name}: {}",
            stderr(&on)
        );
        let written = std::fs::read_to_string(&on_file).unwrap_or_default();
        assert!(
            written.contains("\"spans\""),
            "{name} enabled wrote no spans"
        );
        assert!(!off_file.exists(), "{name} disabled wrote a payload file");
        assert!(
            !stderr(&off).contains("llmobs trace"),
            "{name}: {}",
            stderr(&off)
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
