#!/usr/bin/env bash
# Build mkimage, the unikernel and the example image (tests/example/), then
# boot the image on QEMU's microvm and run /etc/demo.sh in the guest.
# Exits 0 when the guest ran the script and powered off cleanly.
#
# Installs what is missing first (tests/setup.sh: the pinned toolchain, QEMU).
# Environment: ACCEL (default "-accel kvm -accel tcg"), MEM (default 16M),
# OUT (where the image goes, default target/example).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/target/example}
MEM=${MEM:-16M}
# This machine kind's paravirtual KVM (kvm_pvm) runs this kernel far slower than TCG.
if [ -z "${ACCEL:-}" ] && [ -d /sys/module/kvm_pvm ]; then ACCEL="-accel tcg"; fi
read -r -a ACCEL_ARGS <<< "${ACCEL:--accel kvm -accel tcg}"
mkdir -p "$OUT"

bash "$ROOT/tests/setup.sh"

echo "== building mkimage"
(cd "$ROOT" && cargo build --release -p mkimage)
MKIMAGE=${CARGO_TARGET_DIR:-$ROOT/target}/release/mkimage

echo "== building the kernel"
# From inside kernel/ so kernel/.cargo/config.toml (target, build-std) applies.
# The kernel is its own workspace. An application's kernel needs no in-guest
# test suites, so this one is built without them (about 300 KiB smaller, small
# enough for -m 2M), into kernel/target/lean beside the test kernel.
(cd "$ROOT/kernel" && CARGO_TARGET_DIR="$ROOT/kernel/target/lean" cargo build --release --no-default-features)
KERNEL=$ROOT/kernel/target/lean/x86_64-unikernel/release/kernel

echo "== building the image"
IMG=$OUT/example.img
"$MKIMAGE" build -m "$ROOT/tests/example/example.manifest" -o "$IMG"

QEMU=(qemu-system-x86_64 -machine microvm -nodefaults -no-reboot -display none -serial stdio
      "${ACCEL_ARGS[@]}" -cpu max -m "$MEM"
      -device isa-debug-exit,iobase=0xf4,iosize=0x04
      -kernel "$KERNEL"
      -drive "file=$IMG,if=none,id=d0,format=raw,readonly=on" -device virtio-blk-device,drive=d0
      -append "run=/etc/demo.sh")

# Print the command so it can be copied: quote only the words that need it.
echo "== booting:"
for word in "${QEMU[@]}"; do
    if [[ $word =~ ^[A-Za-z0-9_./=,:+-]+$ ]]; then printf '%s ' "$word"; else printf "'%s' " "$word"; fi
done
echo
echo

LOG=$OUT/boot.log
set +e
timeout 120 "${QEMU[@]}" </dev/null | tee "$LOG"
status=${PIPESTATUS[0]}
set -e

echo
# isa-debug-exit: the kernel's exit code c gives QEMU status (c << 1) | 1.
# 0 would be a triple fault, 124 the timeout.
if [ "$status" -ne 1 ]; then
    echo "FAILED: QEMU exited with status $status (kernel exit code $(( status >> 1 )) if odd; see the exit codes in init/src/lib.rs)"
    exit 1
fi
if ! tr -d '\r' < "$LOG" | grep -qx hello; then
    echo "FAILED: the guest did not read back what it wrote to /tmp/x"
    exit 1
fi
echo "OK: the example booted, ran /etc/demo.sh and powered off (QEMU status 1 = kernel exit 0)"
