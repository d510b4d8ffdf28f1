#!/usr/bin/env bash
# Run every fuzz target of the repository (`*/fuzz/fuzz_targets/*.rs`, the
# cargo-fuzz layout) for FUZZ_SECONDS each (default 30), starting from the
# target's committed seeds (`seeds/<target>/`, or what the fuzz crate's own
# `make_seeds` binary writes) and its local corpus (`corpus/<target>/`, not
# committed). A crash, a hang or a failed build fails this script; libFuzzer
# leaves the input under `artifacts/<target>/`. Installs the pinned
# cargo-fuzz when it is missing. Uses the toolchain pinned in
# rust-toolchain.toml (cargo-fuzz needs a nightly).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
CARGO_FUZZ_VERSION=0.13.2

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
for target in "${targets[@]}"; do
    dir=${target%/fuzz_targets/*}
    name=$(basename "$target" .rs)
    echo "== fuzz $dir $name (${FUZZ_SECONDS}s)"
    (
        cd "$dir"
        if [ -f src/make_seeds.rs ] && [ ! -d "corpus/$name" ]; then
            cargo run --quiet --bin make_seeds
        fi
        mkdir -p "corpus/$name"
        corpora=("corpus/$name")
        if [ -d "seeds/$name" ]; then
            corpora+=("seeds/$name")
        fi
        # -timeout: one input running over 10 s counts as a hang (a crash).
        # Only the summary and any failure reach the log; the status is
        # cargo fuzz's own, not grep's.
        set +e
        cargo fuzz run "$name" "${corpora[@]}" -- \
            -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 2>&1 |
            grep -E '^(Done|stat::number_of_executed_units|==[0-9]+==|SUMMARY|thread .* panicked|Error|error|artifact_prefix|Test unit written)'
        status=${PIPESTATUS[0]}
        set -e
        if [ "$status" -ne 0 ]; then
            echo "FAIL fuzz $dir $name (status $status)"
        fi
        exit "$status"
    )
done
echo "== fuzz: ${#targets[@]} targets, ${FUZZ_SECONDS}s each, no crash"
