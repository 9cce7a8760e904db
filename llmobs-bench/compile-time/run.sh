#!/usr/bin/env bash
# Compile-time cost of the attributes: writes three crates of 200 functions each (plain,
# `#[llmobs::task]`, `#[tracing::instrument]`) under target/compile-time/, builds their
# dependencies once, then times `cargo check` of each crate alone, cleaned first, RUNS times
# (default 3), and keeps the median. The dependencies are excluded from the timing because a
# user pays for them once, while the attributes cost on every edit of their own crate.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/target/compile-time"
runs=${RUNS:-3}
fns=${FNS:-200}
metrics="${CRITERION_HOME:-${CARGO_TARGET_DIR:-$root/target}/criterion}/llmobs-metrics"
export CARGO_TARGET_DIR="$out/target"
mkdir -p "$out" "$metrics"

generate() {
    local name=$1 attr=$2 dep=$3
    local dir="$out/$name"
    mkdir -p "$dir/src"
    # Its own [workspace] keeps it out of the llmobs workspace it sits under; the copied
    # lockfile resolves the same dependency versions the benches use, without a registry.
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$dep

[workspace]
TOML
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    {
        echo "//! $fns functions, $name."
        for i in $(seq 1 "$fns"); do
            [ -n "$attr" ] && echo "$attr"
            cat <<RS
pub fn step_$i(input: &str, n: u64) -> Result<u64, String> {
    if input.is_empty() {
        return Err(format!("step $i: empty input"));
    }
    Ok(n.wrapping_mul($i) + input.len() as u64)
}
RS
        done
    } > "$dir/src/lib.rs"
}

generate ct_plain "" ""
generate ct_llmobs "#[llmobs::task]" "llmobs = { path = \"$root\" }"
generate ct_tracing "#[tracing::instrument]" 'tracing = "0.1"'

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for name in ct_plain ct_llmobs ct_tracing; do
    manifest="$out/$name/Cargo.toml"
    # Builds the dependencies once so only the crate itself is timed below.
    cargo check --quiet --manifest-path "$manifest"
    times=()
    for _ in $(seq 1 "$runs"); do
        cargo clean --quiet --manifest-path "$manifest" -p "$name"
        start=$(date +%s%N)
        cargo check --quiet --manifest-path "$manifest"
        end=$(date +%s%N)
        times+=("$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", (e - s) / 1e9}')")
    done
    med=$(printf '%s\n' "${times[@]}" | median)
    short=${name#ct_}
    echo "$med" > "$metrics/compile_${short}_seconds"
    echo "cargo check, $fns fns, $short: median ${med} s (runs: ${times[*]})"
done
