//! A bounded, visible exit: with the intake unreachable, dropping the guard waits at most the
//! shutdown timeout (default 3 s) whether or not `flush()` ran first, and one line on stderr
//! says what was not delivered, with no logger installed.

mod support;

use std::time::{Duration, Instant};

/// Agentless with a key and no network (the intake's address refuses connections).
fn unreachable_intake(name: &str) -> std::process::Command {
    let mut cmd = support::bare(name);
    cmd.env("DD_API_KEY", "test-key")
        .env("DD_LLMOBS_AGENTLESS_ENABLED", "1")
        .env("DD_LLMOBS_OVERRIDE_ORIGIN", support::closed_port_url())
        .env("DD_LLMOBS_ML_APP", "exit-test");
    cmd
}

fn run_timed(mut cmd: std::process::Command) -> (Duration, String, bool) {
    let start = Instant::now();
    let out = cmd.output().expect("the example starts");
    (
        start.elapsed(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn without_flush_exit_waits_the_shutdown_timeout_and_says_what_was_lost() {
    // `rag` does not call flush(): only the guard's drop waits.
    let (took, stderr, ok) = run_timed(unreachable_intake("rag"));
    assert!(ok, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("were not delivered"))
        .unwrap_or_else(|| panic!("no loss line on stderr: {stderr}"));
    assert!(line.starts_with("llmobs: "), "{line}");
    assert!(line.contains("spans and 0 evaluations"), "{line}");
    assert!(line.contains("3.0 s shutdown timeout"), "{line}");
    // The bound is the behaviour under test (3 s), with room for a loaded machine.
    assert!(took < Duration::from_secs(8), "exit took {took:?}");
}

#[test]
fn after_a_flush_that_timed_out_exit_does_not_wait_again() {
    // `furnish_hub` calls flush() (here bounded to 1 s), then drops the guard.
    let mut cmd = unreachable_intake("furnish_hub");
    cmd.env("DD_LLMOBS_FLUSH_TIMEOUT", "1")
        .env("DD_LLMOBS_SHUTDOWN_TIMEOUT", "30");
    let (took, stderr, ok) = run_timed(cmd);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("were not delivered"))
        .unwrap_or_else(|| panic!("no loss line on stderr: {stderr}"));
    assert!(line.contains("evaluations"), "{line}");
    // Not 1 s of flush plus 30 s of shutdown: the intake just had its chance.
    assert!(took < Duration::from_secs(15), "exit took {took:?}");
}
