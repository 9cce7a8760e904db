#!/usr/bin/env bash
# Runs every llmobs benchmark (`cargo bench`: criterion benches, the overload run, compile
# times) from a clean slate and prints one markdown table with the peers side by side. About
# 6 minutes on a 2-core machine once built (building the benches from scratch adds a few).
#
#   bash llmobs-bench/run.sh                  # OVERLOAD_SECONDS=10 RUNS=3 by default
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
crit="${CRITERION_HOME:-${CARGO_TARGET_DIR:-$root/target}/criterion}"
log="${CARGO_TARGET_DIR:-$root/target}/llmobs-bench.log"

# Numbers from an earlier run must not fill in for a bench that failed this time.
rm -rf "$crit"
mkdir -p "$(dirname "$log")"
: > "$log"

echo "== cargo bench (log: $log)" >&2
# Every bench: criterion groups, OTLP against the OpenTelemetry SDK, overload, compile time, and
# the table at the end.
cargo bench -p llmobs-bench --features otlp 2>&1 | tee -a "$log" | grep -E '^(overload|delivered|  |cargo check|==|Benchmarking [^ ]+$)' >&2 || true
echo >&2
echo "Date: $(date -u +%Y-%m-%d)"
cargo run --release --quiet -p llmobs-bench --bin report
