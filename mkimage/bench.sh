#!/usr/bin/env bash
# Build speed of mkimage against mksquashfs and mkfs.erofs (both without
# compression) on one large tree: by default the pinned toolchain's lib/
# directory (hundreds of MB in thousands of files).
#
# Goal: mkimage faster than both.
#
# Page caches cannot be dropped here, so each tool runs twice and the second
# (warm-cache) run is the one reported; all tools read the same warm tree.
#
# Then a small tree (SMALL_TREE, default /usr/share/doc): `build --dir` and
# `build --tar` (of a tar made from the same tree) against `mkfs.erofs` on
# the tree. Goal: both at most 1.0x mkfs.erofs's wall time.
#
# Then the same big tree compressed: `--format v3 --compress lz4` against
# `mkfs.erofs -zlz4` (goal: wall <= 1.0x, image <= 1.05x erofs's).
#
# Usage: mkimage/bench.sh [TREE]     (SMALL_TREE=DIR to choose the small tree)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=${1:-$(cd "$ROOT" && rustc --print sysroot)/lib}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mkimage-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "== building mkimage (release)"
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release -q -p mkimage)
MKIMAGE=$TARGET/release/mkimage

if ! command -v mksquashfs >/dev/null || ! command -v mkfs.erofs >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing squashfs-tools and erofs-utils"
        apt-get install -y -qq squashfs-tools erofs-utils >/dev/null 2>&1 || true
    fi
fi

files=$(find "$SRC" -type f | wc -l)
bytes=$(du -sb "$SRC" | cut -f1)
echo "== tree: $SRC ($files files, $((bytes / 1048576)) MiB)"
echo "== each tool runs twice; the second (warm-cache) run is reported"

# Run "$@" twice; print the second run's "wall user+sys" seconds.
time_warm() {
    local out=$1
    shift
    local t
    rm -f "$out"
    "$@" >/dev/null 2>&1
    rm -f "$out"
    t=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1 )
    awk -v t="$t" 'BEGIN { split(t, f, " "); printf "%.3f %.3f", f[1], f[2] + f[3] }'
}

size_mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }

declare -A TIMES CPUS SIZES
run() {
    local name=$1 out=$2 t
    shift 2
    t=$(time_warm "$out" "$@")
    TIMES[$name]=${t% *}
    CPUS[$name]=${t#* }
    SIZES[$name]=$(size_mib "$out")
    printf '%-32s wall %7s s  cpu %7s s  %8s MiB\n' "$name" "${TIMES[$name]}" "${CPUS[$name]}" "${SIZES[$name]}"
}

# The goal is judged on the default format (v3); v2 is shown beside it.
run "mkimage (v3, the default)" "$WORK/m.img" \
    env SOURCE_DATE_EPOCH=0 "$MKIMAGE" build --dir "$SRC" -o "$WORK/m.img"
mk=${TIMES["mkimage (v3, the default)"]}
mk_cpu=${CPUS["mkimage (v3, the default)"]}
"$MKIMAGE" verify "$WORK/m.img" >/dev/null && echo "   (mkimage verify: OK)"
rm -f "$WORK/m.img"
run "mkimage (v2, 4 KiB blocks)" "$WORK/m2.img" \
    env SOURCE_DATE_EPOCH=0 "$MKIMAGE" build --dir "$SRC" -o "$WORK/m2.img" --format v2
rm -f "$WORK/m2.img"

others=()
if command -v mksquashfs >/dev/null; then
    run "mksquashfs -noI -noD -noF -noX" "$WORK/s.img" \
        mksquashfs "$SRC" "$WORK/s.img" -noI -noD -noF -noX -noappend -no-progress -quiet
    others+=("mksquashfs -noI -noD -noF -noX")
    rm -f "$WORK/s.img"
else
    echo "mksquashfs: not installed, skipped"
fi
if command -v mkfs.erofs >/dev/null; then
    run "mkfs.erofs (uncompressed)" "$WORK/e.img" mkfs.erofs --quiet "$WORK/e.img" "$SRC"
    others+=("mkfs.erofs (uncompressed)")
    rm -f "$WORK/e.img"
else
    echo "mkfs.erofs: not installed, skipped"
fi

echo "== ratios (mkimage / other; below 1.00 means mkimage is faster)"
echo "   wall time is the goal; cpu time (user+sys) is shown too because the"
echo "   machine may be shared, which inflates wall times unevenly"
all_faster=yes
for other in "${others[@]}"; do
    ratio=$(awk -v a="$mk" -v b="${TIMES[$other]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    cpu_ratio=$(awk -v a="$mk_cpu" -v b="${CPUS[$other]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    verdict=$(awk -v r="$ratio" 'BEGIN { print (r < 1 ? "faster" : "SLOWER") }')
    [ "$verdict" = faster ] || all_faster=no
    printf 'mkimage / %-32s wall %s (%s)  cpu %s\n' "$other" "$ratio" "$verdict" "$cpu_ratio"
done
if [ ${#others[@]} -eq 0 ]; then
    echo "goal (mkimage faster than both): not measured, no other tool installed"
elif [ "$all_faster" = yes ]; then
    echo "goal (mkimage faster than both): met against ${#others[@]} tool(s)"
else
    echo "goal (mkimage faster than both): NOT met"
fi

echo "== compressed: mkimage --format v3 --compress lz4 (64 KiB clusters) against mkfs.erofs -zlz4"
echo "   goal: wall <= 1.00x mkfs.erofs's, image <= 1.05x erofs's"
run "mkimage (v3, uncompressed)" "$WORK/m3.img" \
    env SOURCE_DATE_EPOCH=0 "$MKIMAGE" build --dir "$SRC" -o "$WORK/m3.img" --format v3
rm -f "$WORK/m3.img"
run "mkimage (v3, lz4)" "$WORK/mz.img" \
    env SOURCE_DATE_EPOCH=0 "$MKIMAGE" build --dir "$SRC" -o "$WORK/mz.img" --format v3 --compress lz4
"$MKIMAGE" verify "$WORK/mz.img" >/dev/null && echo "   (mkimage verify: OK)"
"$MKIMAGE" info "$WORK/mz.img" | grep -E '^(file bytes|data bytes|stored/raw):' | sed 's/^/   /'
rm -f "$WORK/mz.img"
if command -v mkfs.erofs >/dev/null; then
    run "mkfs.erofs -zlz4" "$WORK/ez.img" mkfs.erofs --quiet -zlz4 "$WORK/ez.img" "$SRC"
    rm -f "$WORK/ez.img"
    ours="mkimage (v3, lz4)" theirs="mkfs.erofs -zlz4"
    awk -v a="${TIMES[$ours]}" -v b="${TIMES[$theirs]}" -v c="${CPUS[$ours]}" -v d="${CPUS[$theirs]}" \
        -v s="${SIZES[$ours]}" -v t="${SIZES[$theirs]}" 'BEGIN {
        w = (b > 0 ? a / b : 0); z = (t > 0 ? s / t : 0)
        printf "mkimage lz4 / mkfs.erofs -zlz4  wall %.2f (goal <= 1.00: %s)  cpu %.2f  size %.3f (goal <= 1.05: %s)\n",
            w, (w <= 1 ? "met" : "NOT met"), (d > 0 ? c / d : 0), z, (z <= 1.05 ? "met" : "NOT met") }'
else
    echo "mkfs.erofs: not installed, compressed comparison skipped"
fi

SMALL=${SMALL_TREE:-/usr/share/doc}
if [ ! -d "$SMALL" ]; then
    echo "== small tree $SMALL missing: --dir/--tar comparison skipped"
    exit 0
fi
files=$(find "$SMALL" | wc -l)
echo "== small tree: $SMALL ($files entries, $(($(du -sb "$SMALL" | cut -f1) / 1048576)) MiB)"
tar -C "$SMALL" -cf "$WORK/small.tar" .
run "mkimage build --dir" "$WORK/d.img" \
    env SOURCE_DATE_EPOCH=0 "$MKIMAGE" build --dir "$SMALL" -o "$WORK/d.img" --skip-special
run "mkimage build --tar" "$WORK/t.img" \
    env SOURCE_DATE_EPOCH=0 "$MKIMAGE" build --tar "$WORK/small.tar" -o "$WORK/t.img" --skip-special
if command -v mkfs.erofs >/dev/null; then
    run "mkfs.erofs (uncompressed)" "$WORK/se.img" mkfs.erofs --quiet "$WORK/se.img" "$SMALL"
    for mine in "mkimage build --dir" "mkimage build --tar"; do
        ratio=$(awk -v a="${TIMES[$mine]}" -v b="${TIMES["mkfs.erofs (uncompressed)"]}" \
            'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        cpu_ratio=$(awk -v a="${CPUS[$mine]}" -v b="${CPUS["mkfs.erofs (uncompressed)"]}" \
            'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 1 ? "met" : "NOT met") }')
        printf '%-22s / mkfs.erofs  wall %s  cpu %s  (goal <= 1.00: %s)\n' "$mine" "$ratio" "$cpu_ratio" "$verdict"
    done
else
    echo "mkfs.erofs: not installed, --dir/--tar comparison skipped"
fi
