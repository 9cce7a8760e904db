#!/usr/bin/env bash
# Runs every llmobs benchmark (criterion benches, the overload run, compile times) and prints
# one markdown table with the peers side by side. About 5 minutes on a 2-core machine once
# built (building the benches from scratch adds a few minutes).
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

echo "== criterion benches (log: $log)" >&2
cargo bench -p llmobs-bench >> "$log" 2>&1
echo "== overload" >&2
cargo run --release --quiet -p llmobs-bench --bin overload -- "${OVERLOAD_SECONDS:-10}" 2>> "$log" | tee -a "$log" >&2
echo "== compile time" >&2
bash llmobs-bench/compile-time/run.sh 2>> "$log" | tee -a "$log" >&2
echo >&2
echo "Date: $(date -u +%Y-%m-%d)"
cargo run --release --quiet -p llmobs-bench --bin report
