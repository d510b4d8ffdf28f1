#!/usr/bin/env bash
# Every test, host and in-guest: formatting and lints of the host crates, the host
# test suites, and the QEMU runner that boots the kernel on q35 and microvm.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/setup.sh

echo "== cargo fmt --check"
cargo fmt --all --check
(cd kernel && cargo fmt --check)

echo "== cargo clippy (host crates)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== kernel parser tests (host)"
cargo test --manifest-path kernel/host-tests/Cargo.toml --target-dir kernel/target/host-tests

echo "== cargo test (host suites, then in-guest suites under QEMU)"
cargo test --workspace
