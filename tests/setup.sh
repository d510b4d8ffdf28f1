#!/usr/bin/env bash
# Installs what a fresh machine lacks: the pinned nightly with rust-src, QEMU,
# and veritysetup (the dm-verity tests compare our trees with it).
# Safe to run again: each step is skipped when already done.
set -euo pipefail

TOOLCHAIN=nightly-2026-05-20

have_toolchain() {
    rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1 &&
        rustup component list --toolchain "$TOOLCHAIN" --installed 2>/dev/null | grep -q '^rust-src' &&
        rustup component list --toolchain "$TOOLCHAIN" --installed 2>/dev/null | grep -q '^clippy' &&
        rustup component list --toolchain "$TOOLCHAIN" --installed 2>/dev/null | grep -q '^rustfmt'
}

if ! have_toolchain; then
    echo "setup: installing Rust $TOOLCHAIN with rust-src, rustfmt, clippy"
    rustup toolchain install "$TOOLCHAIN" --profile minimal -c rust-src -c rustfmt -c clippy
fi

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    echo "setup: installing QEMU (qemu-system-x86)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-system-x86 >/dev/null
fi

# veritysetup lives in /usr/sbin, which a non-root PATH may lack.
have_veritysetup() {
    command -v veritysetup >/dev/null 2>&1 || [ -x /usr/sbin/veritysetup ] || [ -x /sbin/veritysetup ]
}

if ! have_veritysetup; then
    echo "setup: installing veritysetup (cryptsetup-bin)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq cryptsetup-bin >/dev/null
fi

echo "setup: $(rustup run "$TOOLCHAIN" rustc --version), $(qemu-system-x86_64 --version | head -n1)"
