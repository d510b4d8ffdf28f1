#!/usr/bin/env bash
# In-guest benchmark: builds the test image and the kernel, boots `bench` on
# microvm and q35, prints each figure with the Linux anchor figures as ratios,
# the stripped kernel size and the smallest -m that boots.
# Usage: tests/guest-bench.sh [--runs N] [--machine microvm|q35]
# GUEST_ACCEL=tcg forces TCG (the default is -accel kvm -accel tcg).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release -p tests --bin guest-bench -- "$@"
