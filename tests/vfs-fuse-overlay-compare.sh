#!/usr/bin/env bash
# Run the same ordinary programs (cp -a, mv, rm -r, ln, chmod, chown,
# appends, truncate) on image files through our overlay and through Linux
# overlayfs, then compare the two trees: names, types, modes, owners, link
# counts, sizes, link targets, contents, file times and hard-link groups.
#
# Ours: `vfs-fuse --image IMG --overlay` (the image built from a source tree
# by mkimage --dir, a ramfs on top). Theirs: `mount -t overlay` with the
# same tree as the lower layer and upper/work directories on tmpfs, with
# the options our overlay follows (index=on, redirect_dir=off,
# metacopy=off, xino=off).
#
# Usage: tests/vfs-fuse-overlay-compare.sh [VFS_FUSE_BINARY [MKIMAGE_BINARY]]
# Needs /dev/fuse and root (for the FUSE, tmpfs and overlay mounts); exits 0
# and says it skipped when either is missing. Prints one line per step and
# ends with "N passed, N failed".
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=${1:-}
MKIMAGE=${2:-}
if [ -z "$BIN" ]; then
    (cd "$ROOT" && cargo build -q -p tests --bin vfs-fuse) || exit 1
    BIN=$TARGET/debug/vfs-fuse
fi
if [ -z "$MKIMAGE" ]; then
    (cd "$ROOT" && cargo build -q -p mkimage) || exit 1
    MKIMAGE=$TARGET/debug/mkimage
fi
if [ ! -e /dev/fuse ] || [ "$(id -u)" != 0 ]; then
    echo "skipped: needs /dev/fuse and root (have: $(ls /dev/fuse 2>&1 | head -1); uid $(id -u))"
    exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vfs-fuse-overlay.XXXXXX")
OURS=$WORK/vfs
THEIRS=$WORK/overlay
SCRATCH=$WORK/tmpfs
SRC=$SCRATCH/lower
mkdir -p "$OURS" "$THEIRS" "$SCRATCH"
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill -TERM "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    mountpoint -q "$OURS" && umount -l "$OURS"
    mountpoint -q "$THEIRS" && umount -l "$THEIRS"
    mountpoint -q "$SCRATCH" && umount -l "$SCRATCH"
    rm -rf "$WORK"
}
trap cleanup EXIT

mount -t tmpfs -o size=64m,mode=755 tmpfs "$SCRATCH" || { echo "FAIL mount tmpfs"; exit 1; }
mkdir -p "$SRC" "$SCRATCH/upper" "$SCRATCH/work"

# The image's tree: odd modes and owners, hard links, symlinks, an empty
# directory, a bigger file; whole-second times (ROFS v2 keeps seconds).
mkdir -p "$SRC"/etc/empty "$SRC"/etc/conf.d "$SRC"/usr/lib/deep "$SRC"/var/log
printf 'guest\n' >"$SRC"/etc/hostname
printf 'welcome\n' >"$SRC"/etc/motd
printf 'root:x:0:0::/:/bin/sh\n' >"$SRC"/etc/passwd
printf 'root:x:0:\n' >"$SRC"/etc/group
printf 'a=1\n' >"$SRC"/etc/conf.d/a.conf
printf 'b=2\n' >"$SRC"/etc/conf.d/b.conf
head -c 300000 /dev/urandom >"$SRC"/usr/lib/libfoo.so
printf 'deep' >"$SRC"/usr/lib/deep/data
: >"$SRC"/var/log/empty.log
head -c 1000000 /dev/urandom >"$SRC"/big.bin
ln "$SRC"/etc/passwd "$SRC"/usr/lib/passwd-link
ln -s hostname "$SRC"/etc/rel
ln -s /etc/hostname "$SRC"/etc/abs
ln -s usr/lib "$SRC"/lib
chown 1234:5678 "$SRC"/usr/lib/libfoo.so
chown -h 99:98 "$SRC"/etc/rel
chmod 0600 "$SRC"/etc/passwd
chmod 0700 "$SRC"/etc/empty
chmod 0755 "$SRC"
find "$SRC" -depth -exec touch -h -d '2021-02-03 04:05:06' {} +

IMG=$WORK/image.img
"$MKIMAGE" build --dir "$SRC" --no-mount-points -o "$IMG" >"$WORK/mkimage.out" 2>&1 ||
    { echo "FAIL mkimage build: $(head -3 "$WORK/mkimage.out")"; exit 1; }
mount -t overlay overlay \
    -o "lowerdir=$SRC,upperdir=$SCRATCH/upper,workdir=$SCRATCH/work,index=on,redirect_dir=off,metacopy=off,xino=off" \
    "$THEIRS" || { echo "FAIL mount -t overlay"; exit 1; }
"$BIN" "$OURS" --image "$IMG" --overlay --size 32M &
PID=$!
for _ in $(seq 1 600); do
    mountpoint -q "$OURS" && break
    sleep 0.1
done
mountpoint -q "$OURS" || { echo "FAIL vfs-fuse did not mount"; exit 1; }

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
        echo "FAIL $name: exit $rc_ours on vfs, $rc_theirs on overlayfs: $(head -3 "$WORK/ours.out" | tr '\n' ' ')"
        failed=$((failed + 1))
    fi
}

step "cp -a of image files" 'cp -a "$R/etc" "$R/etc-copy" && cp -a "$R/usr/lib/libfoo.so" "$R/var/"'
step "cp -a onto an image file" 'cp -a "$R/etc/group" "$R/etc/hostname"'
step "mv image file" 'mv "$R/etc/motd" "$R/etc/motd.old"'
step "mv over an image file" 'mv "$R/etc/conf.d/a.conf" "$R/etc/conf.d/b.conf"'
step "mv image dir (EXDEV, copied)" 'mv "$R/usr/lib/deep" "$R/deep-moved"'
step "append to an image file" 'printf more >>"$R/etc/passwd"'
step "truncate an image file" 'truncate -s 1000 "$R/big.bin"'
step "chmod and chown image files" 'chmod 0640 "$R/etc/motd.old" && chown 7:8 "$R/etc/group" && chown -h 5:6 "$R/etc/abs"'
step "ln to an image file" 'ln "$R/usr/lib/libfoo.so" "$R/libfoo-link"'
step "rm -r image dirs" 'rm -r "$R/usr" "$R/var/log"'
step "rm -r and mkdir again (opaque)" 'rm -r "$R/etc/conf.d" && mkdir "$R/etc/conf.d" && printf c >"$R/etc/conf.d/c.conf"'
step "rmdir non-empty fails" 'rmdir "$R/etc"'
step "rename dir with lower part fails or copies" 'mv -T "$R/etc" "$R/etc2" && test -d "$R/etc2"'

# Compare: one line per entry below the root (the root's own attributes
# are the upper layer's and differ by construction), times only for files
# and symlinks (a time from this run shows as "now").
describe() {
    (cd "$1" && find . -mindepth 1 -printf '%p %y %m %U %G %n %l\n' | sort)
    (cd "$1" && find . -mindepth 1 \( -type f -o -type l \) -printf '%p %s %T@\n' | sort |
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
    echo "FAIL trees equal: overlayfs (-) vs vfs (+):"
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
# The image itself is never written.
if "$MKIMAGE" verify "$IMG" >"$WORK/verify.out" 2>&1 &&
    "$MKIMAGE" cat "$IMG" /etc/passwd | cmp -s - <(printf 'root:x:0:0::/:/bin/sh\n'); then
    echo "PASS image unchanged"
    passed=$((passed + 1))
else
    echo "FAIL image unchanged: $(head -3 "$WORK/verify.out")"
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
