#!/usr/bin/env bash
# In-guest benchmark: builds the test image and the kernel, boots `bench` on
# microvm and q35, prints each figure with its virtio requests and same-run
# ratios, the stripped kernel size and the smallest -m that boots.
# --vs-linux: only the comparison with Debian's Linux on EROFS, SquashFS and EROFS-LZ4
# images of the same tree (downloads the packages with apt-get download).
# Usage: tests/guest-bench.sh [--runs N] [--machine microvm|q35] [--vs-linux]
# GUEST_ACCEL=tcg forces TCG (the default is -accel kvm -accel tcg).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release -p tests --bin guest-bench -- "$@"
