#!/usr/bin/env bash
# Batch job benchmark: the integrity sweep against qemu-img check run over the same images one
# after another; the dedup scan against a plain sequential read (cat) of the same files; the
# peak memory of a dedup-compaction of a 16 GiB image with the default heap.
#
# Builds nothing: run `mvn -B package -DskipTests` first. Needs root to drop the page cache
# between runs (the "same cache preparation" for both sides); without root both sides run
# with whatever the cache holds, and the output says so.
#
# Environment knobs:
#   REPS=3            repetitions (median taken)
#   BENCH_DIR=...     where images go (not tmpfs)
#   IMAGES=100        images in the sweep directory
#   PER_IMAGE_MIB=210 data written into each (100 x 210 MiB > 20 GiB)
#   BIG_GIB=16        size (fully written) of the image for the memory row
#   SCAN_SETS="4x1 8x2"  the scan's image sets, COUNTxGIB each (4 x 1 GiB, 8 x 2 GiB)
#   SECTIONS="sweep scan memory"
set -euo pipefail

ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QJ="$ROOT/bin/qjournal"
REPS="${REPS:-3}"
IMAGES="${IMAGES:-100}"
PER_IMAGE_MIB="${PER_IMAGE_MIB:-210}"
BIG_GIB="${BIG_GIB:-16}"
SECTIONS="${SECTIONS:-sweep scan memory}"
SCAN_SETS="${SCAN_SETS:-4x1 8x2}"

die() { echo "batch-bench.sh: $*" >&2; exit 1; }
note() { echo "batch-bench.sh: $*" >&2; }
command -v qemu-img >/dev/null || die "qemu-img not found"
"$QJ" --version >/dev/null 2>&1 || die "$QJ does not run (build with: mvn -B package -DskipTests)"

BENCH_DIR="${BENCH_DIR:-$(mktemp -d /var/tmp/qjournal-batch-bench.XXXXXX)}"
mkdir -p "$BENCH_DIR"
trap 'rm -rf "$BENCH_DIR"' EXIT
STATE="$BENCH_DIR/state"
# The launcher records the batch commands' class archive the first time it runs them after a
# build (about a second, once); that happens here, not inside a timed run.
"$QJ" batch --state-dir "$STATE" list >/dev/null 2>&1 || true

CACHE="dropped before each run"
drop_caches() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then
    echo 3 > /proc/sys/vm/drop_caches
  else
    CACHE="not dropped (not root): warm"
  fi
}
now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# wall CMD...: the command's wall time in seconds; a failing command ends the benchmark.
wall() {
  local t0 t1
  t0=$(now)
  "$@" >"$BENCH_DIR/cmd.out" 2>&1 || { cat "$BENCH_DIR/cmd.out" >&2; die "failed: $*"; }
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# Images with 64 KiB clusters filled by qemu-io byte patterns, one pattern per MiB: every
# cluster holds one of at most 251 contents, so nearly all of them are duplicates (the scan
# fingerprints every cluster all the same; the compaction then frees nearly everything).
make_image() {
  local f="$1" mib="$2" i cmds=()
  qemu-img create -q -f qcow2 "$f" "$((mib + 64))M"
  for ((i = 0; i < mib; i++)); do
    if ((i % 4 == 3)); then cmds+=(-c "write -P 0x11 ${i}M 1M"); else cmds+=(-c "write -P $(((i * 7 + ${#f}) % 251 + 1)) ${i}M 1M"); fi
  done
  qemu-io -f qcow2 "${cmds[@]}" "$f" >/dev/null
}

ROWS=()
sweep() {
  local dir="$BENCH_DIR/sweep" i q=() o=()
  mkdir -p "$dir"
  note "writing $IMAGES images of $PER_IMAGE_MIB MiB"
  for ((i = 0; i < IMAGES; i++)); do make_image "$dir/img$i.qcow2" "$PER_IMAGE_MIB"; done
  local total
  total=$(du -sb "$dir" | awk '{ printf "%.1f", $1 / 1073741824 }')
  for ((i = 0; i < REPS; i++)); do
    drop_caches
    q+=("$(wall bash -c "for f in '$dir'/*.qcow2; do qemu-img check \"\$f\" >/dev/null || exit 1; done")")
    drop_caches
    rm -rf "$STATE"
    o+=("$(wall "$QJ" batch --state-dir "$STATE" start integrity-sweep -p "dirs=$dir" --wait -q)")
    note "sweep run $((i + 1)): qemu-img check loop ${q[-1]} s, qjournal batch ${o[-1]} s"
  done
  local qm om
  qm=$(printf '%s\n' "${q[@]}" | median); om=$(printf '%s\n' "${o[@]}" | median)
  ROWS+=("| integrity sweep of $IMAGES images, $total GiB on disk: \`qemu-img check\` one after another vs \`qjournal batch start integrity-sweep --wait\` (wall, s) | $qm | $om | $(awk -v q="$qm" -v o="$om" 'BEGIN { printf "%.2f", o / q }') (target <= 1.0) |")
  rm -rf "$dir"
}

# scan COUNT GIB: the dedup dry run over COUNT images of GIB GiB each against cat of the files.
scan() {
  local count="$1" gib="$2" dir="$BENCH_DIR/scan" f i c=() o=() h=() bytes
  mkdir -p "$dir"
  # Random data: nearly every cluster unique, as on a real guest disk, so the scan's cost is
  # reading and fingerprinting every cluster, not sharing duplicates.
  note "writing $count x $gib GiB images of random data for the scan"
  head -c "${gib}G" /dev/urandom > "$dir/random.raw"
  for ((i = 0; i < count; i++)); do qemu-img convert -O qcow2 "$dir/random.raw" "$dir/s$i.qcow2"; done
  rm -f "$dir/random.raw"
  bytes=$(du -cb "$dir"/*.qcow2 | tail -1 | awk '{ print $1 }')
  # The same preparation for both sides: one untimed read first, so a VM's host holds the
  # files in its own cache (which no guest can drop; without this, cat timings here swung
  # between 1.8 and 6.5 s with the host's cache), then the guest's page cache dropped.
  warm() { cat "$dir"/*.qcow2 > /dev/null; drop_caches; }
  for ((i = 0; i < REPS; i++)); do
    warm
    c+=("$(wall bash -c "cat '$dir'/*.qcow2 > /dev/null")")
    warm
    rm -rf "$STATE"
    o+=("$(wall "$QJ" batch --state-dir "$STATE" start dedup-compaction -p "dirs=$dir" -p dry-run=true --wait -q)")
    # The scan's own span, from the report: an image's work began duration-ms before its
    # record was stored ("finished"); the runtime's start before the first image and the job's
    # end after the last are left out.
    h+=("$("$QJ" batch --state-dir "$STATE" report 1 --output=json | python3 -c '
import json, sys, datetime
rs = [json.loads(l) for l in sys.stdin if l.strip()]
end = [datetime.datetime.fromisoformat(r["finished"].replace("Z", "+00:00")).timestamp() for r in rs]
start = [e - r["duration-ms"] / 1000 for e, r in zip(end, rs)]
print("%.3f" % (max(end) - min(start)))')")
    note "scan run $((i + 1)): cat ${c[-1]} s, dedup dry run ${o[-1]} s wall, its scan ${h[-1]} s"
  done
  local cm om hm
  cm=$(printf '%s\n' "${c[@]}" | median); om=$(printf '%s\n' "${o[@]}" | median); hm=$(printf '%s\n' "${h[@]}" | median)
  rate() { awk -v b="$bytes" -v t="$1" 'BEGIN { printf "%.0f", b / t / 1e6 }'; }
  ROWS+=("| dedup scan (dry run: every data cluster read and fingerprinted) of $count x $gib GiB images of random data vs \`cat\` of the same files: wall, s (MB/s) | $cm ($(rate "$cm") MB/s) | $om ($(rate "$om") MB/s) | $(awk -v c="$cm" -v o="$om" 'BEGIN { printf "%.2f", c / o }') (target >= 0.7) |")
  ROWS+=("| the same, the scan's own rate: bytes over the span from the first image's start to the last image's end (no runtime start-up, no job bookkeeping after) | $cm ($(rate "$cm") MB/s) | $hm ($(rate "$hm") MB/s) | $(awk -v c="$cm" -v o="$hm" 'BEGIN { printf "%.2f", c / o }') (target >= 0.7) |")
  rm -rf "$dir"
}

MEMORY_ROW=""
memory() {
  local dir="$BENCH_DIR/big"
  mkdir -p "$dir"
  note "writing a ${BIG_GIB} GiB image"
  make_image "$dir/big.qcow2" $((BIG_GIB * 1024))
  local before after
  before=$(qemu-img info --output=json "$dir/big.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["actual-size"])')
  rm -rf "$STATE"
  /usr/bin/time -f "%M %e" -o "$BENCH_DIR/time.txt" "$QJ" batch --state-dir "$STATE" start dedup-compaction -p "dirs=$dir" --wait -q >/dev/null 2>&1 || true
  after=$(qemu-img info --output=json "$dir/big.qcow2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["actual-size"])')
  qemu-img check "$dir/big.qcow2" >/dev/null || die "qemu-img check failed after the dedup-compaction"
  read -r kb secs < "$BENCH_DIR/time.txt"
  MEMORY_ROW="dedup-compaction of a ${BIG_GIB} GiB image (fully written with qemu-io byte patterns: nearly every cluster a duplicate), default heap: peak resident memory $((kb / 1024)) MiB, ${secs} s; actual-size $((before / 1048576)) MiB -> $((after / 1048576)) MiB; qemu-img check clean"
  rm -rf "$dir"
}

[[ " $SECTIONS " == *" sweep "* ]] && sweep
if [[ " $SECTIONS " == *" scan "* ]]; then
  for set in $SCAN_SETS; do scan "${set%x*}" "${set#*x}"; done
fi
[[ " $SECTIONS " == *" memory "* ]] && memory

echo "Measured $(date -u '+%Y-%m-%d %H:%M') UTC on $(nproc) CPUs, $(uname -sr), $(qemu-img --version | head -1); page cache $CACHE; median of $REPS runs."
echo
echo "| Benchmark | QEMU / cat | qjournal | ratio |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
[ -n "$MEMORY_ROW" ] && echo "$MEMORY_ROW"
true
