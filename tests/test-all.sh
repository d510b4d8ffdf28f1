#!/usr/bin/env bash
# Every test, host and in-guest: formatting and lints of the workspace (init,
# the kernel's policy, included) and of the kernel, the host test suites, and
# the QEMU runner that boots the kernel on q35 and microvm; then every fuzz
# target for FUZZ_SECONDS (default 20) each (tests/fuzz-all.sh). Ends with
# one `N passed, N failed` line that adds up every test binary's result.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh

echo "== cargo fmt --check"
cargo fmt --all --check
(cd kernel && cargo fmt --check)

echo "== cargo clippy (workspace, then the kernel)"
cargo clippy --workspace --all-targets -- -D warnings
(cd kernel && cargo clippy -- -D warnings)

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== cargo test (host suites, then in-guest suites under QEMU)"
cargo test --workspace 2>&1 | tee -a "$log"

echo "== fuzz targets"
bash tests/fuzz-all.sh

# `set -o pipefail` already stopped us if any cargo test failed.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f; if (p == 0 || f != 0) exit 1 }' "$log"
