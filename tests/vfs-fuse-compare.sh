#!/usr/bin/env bash
# Run the same ordinary programs (cp -a, tar -x, mv, ln, chmod, rm -r, and a
# few writes) against our VFS mounted through FUSE (vfs-fuse) and against a
# tmpfs directory, then compare the two trees: names, types, modes, owners,
# link counts, sizes, link targets, file contents and the file times that
# cp -a and tar keep.
#
# Usage: tests/vfs-fuse-compare.sh [VFS_FUSE_BINARY]
# Needs /dev/fuse and root (for the FUSE and tmpfs mounts); exits 0 and
# says it skipped when either is missing. Prints one line per step and
# ends with "N passed, N failed".
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-}
if [ -z "$BIN" ]; then
    (cd "$ROOT" && cargo build -q -p tests --bin vfs-fuse) || exit 1
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/vfs-fuse
fi
if [ ! -e /dev/fuse ] || [ "$(id -u)" != 0 ]; then
    echo "skipped: needs /dev/fuse and root (have: $(ls /dev/fuse 2>&1 | head -1); uid $(id -u))"
    exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vfs-fuse-compare.XXXXXX")
OURS=$WORK/vfs
THEIRS=$WORK/tmpfs
SRC=$WORK/src
mkdir -p "$OURS" "$THEIRS" "$SRC"
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    mountpoint -q "$OURS" && umount -l "$OURS"
    mountpoint -q "$THEIRS" && umount -l "$THEIRS"
    rm -rf "$WORK"
}
trap cleanup EXIT

mount -t tmpfs -o size=64m,mode=755 tmpfs "$THEIRS" || { echo "FAIL mount tmpfs"; exit 1; }
"$BIN" "$OURS" &
PID=$!
for _ in $(seq 1 600); do
    mountpoint -q "$OURS" && break
    sleep 0.1
done
mountpoint -q "$OURS" || { echo "FAIL vfs-fuse did not mount"; exit 1; }

# The source tree: odd modes, owners, hard links, every kind of symlink,
# empty directories, nanosecond times.
mkdir -p "$SRC"/etc/empty "$SRC"/usr/lib/deep "$SRC"/sticky "$SRC"/ünï
printf 'guest\n' >"$SRC"/etc/hostname
printf 'root:x:0:0::/:/bin/sh\n' >"$SRC"/etc/passwd
head -c 200000 /dev/urandom >"$SRC"/usr/lib/libfoo.so
printf 'deep' >"$SRC"/usr/lib/deep/data
: >"$SRC"/usr/lib/empty
printf '#!/bin/sh\n' >"$SRC"/usr/lib/setuid
printf 'x' >"$SRC"/ünï/日本
ln "$SRC"/etc/passwd "$SRC"/etc/passwd-link
ln "$SRC"/etc/passwd "$SRC"/usr/lib/passwd-link2
ln -s hostname "$SRC"/etc/rel
ln -s /etc/hostname "$SRC"/etc/abs
ln -s ../nowhere "$SRC"/etc/dangling
ln -s usr/lib "$SRC"/lib
chown 1234:5678 "$SRC"/usr/lib/libfoo.so
chown -h 99:98 "$SRC"/etc/rel
chown 7:8 "$SRC"/sticky
chmod 4755 "$SRC"/usr/lib/setuid
chmod 0600 "$SRC"/etc/passwd
chmod 1777 "$SRC"/sticky
chmod 0700 "$SRC"/etc/empty
find "$SRC" -depth -exec touch -h -d '2021-02-03 04:05:06.123456789' {} +

START=$(date +%s)
passed=0
failed=0
# step NAME COMMAND...: run COMMAND with $R set to each root; both must
# succeed or both fail.
step() {
    local name=$1 rc_ours rc_theirs
    shift
    (R=$OURS; eval "$*") >"$WORK/ours.out" 2>&1
    rc_ours=$?
    (R=$THEIRS; eval "$*") >"$WORK/theirs.out" 2>&1
    rc_theirs=$?
    if [ "$rc_ours" = "$rc_theirs" ]; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: exit $rc_ours on vfs, $rc_theirs on tmpfs: $(head -3 "$WORK/ours.out" | tr '\n' ' ')"
        failed=$((failed + 1))
    fi
}

step "cp -a" 'cp -a "$SRC" "$R/copy"'
step "tar -x" 'mkdir "$R/untar" && tar -C "$SRC" -cf - . | tar -C "$R/untar" -xpf -'
step "mv file" 'mv "$R/untar/usr/lib/libfoo.so" "$R/untar/libfoo.renamed"'
step "mv dir" 'mv "$R/copy/etc" "$R/moved-etc"'
step "mv over existing" 'mv "$R/untar/etc/hostname" "$R/untar/etc/passwd"'
step "ln" 'ln "$R/untar/usr/lib/deep/data" "$R/hard"'
step "ln -s" 'ln -s ../untar/etc "$R/sym"'
step "chmod" 'chmod 0640 "$R/hard" && chmod u+s "$R/untar/libfoo.renamed" && chmod -R go-w "$R/untar/usr"'
step "write and append" 'printf more >>"$R/hard" && printf new >"$R/new-file"'
step "truncate" 'truncate -s 3 "$R/untar/libfoo.renamed"'
step "rm -r" 'rm -r "$R/copy/usr" "$R/untar/sticky"'
step "rmdir non-empty fails" 'rmdir "$R/untar/usr"'
step "ln on existing fails" 'ln "$R/hard" "$R/new-file"'
# Permission checks (the kernel's default_permissions over our modes and
# owners), as an unprivileged user.
if command -v setpriv >/dev/null; then
    AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
    step "setup shared dirs" 'mkdir -m 1777 "$R/shared" && mkdir -m 2777 "$R/setgid" && chgrp 42 "$R/setgid" && printf r >"$R/shared/roots"'
    step "non-owner write refused" '! $AS_NOBODY sh -c "printf x >\"$R/moved-etc/passwd\""'
    step "sticky delete refused" '! $AS_NOBODY rm -f "$R/shared/roots"'
    step "user creates own files" '$AS_NOBODY sh -c "printf u >\"$R/shared/mine\" && mkdir \"$R/setgid/sub\" && printf g >\"$R/setgid/file\""'
    step "owner may chmod, others not" '$AS_NOBODY chmod 0600 "$R/shared/mine" && ! $AS_NOBODY chmod 0777 "$R/shared/roots"'
else
    echo "skipped: permission steps (no setpriv)"
fi

# Compare: one line per entry (times only for files and symlinks, which
# cp -a and tar restore; directory times move with every change, and a
# time from this run is shown as "now" since the two runs differ by
# microseconds).
describe() {
    (cd "$1" && find . -printf '%p %y %m %U %G %n %l\n' | sort)
    (cd "$1" && find . \( -type f -o -type l \) -printf '%p %s %T@\n' | sort |
        awk -v now="$START" '{ if ($NF >= now) $NF = "now"; print }')
    (cd "$1" && find . -type f -exec md5sum {} + | sort -k2)
    (cd "$1" && find . -type f -links +1 -printf '%p %i\n' | sort |
        awk '{ if (!($2 in first)) first[$2] = $1; print $1, first[$2] }')
}
describe "$OURS" >"$WORK/ours.tree"
describe "$THEIRS" >"$WORK/theirs.tree"
if diff -u "$WORK/theirs.tree" "$WORK/ours.tree" >"$WORK/tree.diff"; then
    echo "PASS trees equal"
    passed=$((passed + 1))
else
    echo "FAIL trees equal: tmpfs (-) vs vfs (+):"
    head -40 "$WORK/tree.diff"
    failed=$((failed + 1))
fi
if diff -r --no-dereference "$THEIRS" "$OURS" >"$WORK/data.diff" 2>&1; then
    echo "PASS diff -r --no-dereference"
    passed=$((passed + 1))
else
    echo "FAIL diff -r --no-dereference:"
    head -20 "$WORK/data.diff"
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
