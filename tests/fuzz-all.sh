#!/usr/bin/env bash
# Run every fuzz target of the repository (`*/fuzz/fuzz_targets/*.rs`, the
# cargo-fuzz layout) for FUZZ_SECONDS each (default 20), FUZZ_JOBS at a time
# (default: the number of CPUs), starting from the target's committed seeds
# (`seeds/<target>/`, or what the fuzz crate's own `make_seeds` binary
# writes) and its local corpus (`corpus/<target>/`, not committed). A crash,
# a hang (one input over 10 s) or a failed build fails this script; libFuzzer
# leaves the input under `<crate>/artifacts/<target>/`. All fuzz crates build
# into one target dir (target/fuzz), so shared crates compile once. Installs
# the pinned cargo-fuzz when it is missing; uses the toolchain pinned in
# rust-toolchain.toml (cargo-fuzz needs a nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}
CARGO_FUZZ_VERSION=0.13.2
target_dir="$root/target/fuzz"

if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

shopt -s nullglob
targets=(*/fuzz/fuzz_targets/*.rs)
if [ ${#targets[@]} -eq 0 ]; then
    echo "no fuzz targets found" >&2
    exit 1
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Build first, one at a time (cargo serializes on the target dir anyway);
# seed corpora a crate generates are made here too.
for target in "${targets[@]}"; do
    dir=${target%/fuzz_targets/*}
    name=$(basename "$target" .rs)
    echo "== fuzz build $dir $name"
    (
        cd "$dir"
        if [ -f src/make_seeds.rs ] && [ ! -d "corpus/$name" ]; then
            cargo run --quiet --target-dir "$target_dir" --bin make_seeds
        fi
        mkdir -p "corpus/$name"
        if ! cargo fuzz build --target-dir "$target_dir" "$name" >"$logs/build" 2>&1; then
            tail -40 "$logs/build"
            echo "FAIL fuzz build $dir $name"
            exit 1
        fi
    )
done

# One target: its summary (or its failure) goes to its own log, printed when
# it ends, so parallel runs do not interleave.
run_one() {
    local dir=$1 name=$2 log=$3
    local corpora=("corpus/$name")
    cd "$root/$dir"
    if [ -d "seeds/$name" ]; then
        corpora+=("seeds/$name")
    fi
    set +e
    cargo fuzz run --target-dir "$target_dir" "$name" "${corpora[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 >"$log.full" 2>&1
    local status=$?
    set -e
    {
        echo "== fuzz $dir $name (${FUZZ_SECONDS}s)"
        grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY|thread .* panicked|Error|artifact_prefix)' "$log.full" || true
        if [ "$status" -ne 0 ]; then
            echo "FAIL fuzz $dir $name (status $status)"
        fi
    } >"$log"
    return "$status"
}

failed=0
running=0
index=0
for target in "${targets[@]}"; do
    dir=${target%/fuzz_targets/*}
    name=$(basename "$target" .rs)
    index=$((index + 1))
    run_one "$dir" "$name" "$logs/$index" &
    running=$((running + 1))
    if [ "$running" -ge "$FUZZ_JOBS" ]; then
        wait -n || failed=$((failed + 1))
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
done
for i in $(seq 1 "$index"); do
    cat "$logs/$i"
done
if [ "$failed" -ne 0 ]; then
    echo "== fuzz: $failed of ${#targets[@]} targets failed"
    exit 1
fi
echo "== fuzz: ${#targets[@]} targets, ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time, no crash"
