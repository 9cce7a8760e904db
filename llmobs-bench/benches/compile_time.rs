//! Compile-time cost of the attributes: `cargo check` of 200 instrumented functions against the
//! same crate uninstrumented and with `#[tracing::instrument]`. The measurement itself is
//! `compile-time/run.sh` (it builds generated crates with cargo); this bench runs it so that
//! `cargo bench` covers it.

use std::process::Command;

fn main() {
    if !llmobs_bench::selected("compile_time") {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/compile-time/run.sh");
    match Command::new("bash").arg(script).status() {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!("compile_time: {script} failed ({s})");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("compile_time: could not run bash {script}: {e}");
            std::process::exit(1);
        }
    }
}
