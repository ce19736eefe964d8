#!/usr/bin/env bash
# Side-by-side benchmark: bin/qjournal vs qemu-img, identical flags on identical fresh images.
#
# Builds nothing: run `mvn -B package -DskipTests` first so bin/qjournal works.
# Runs alternate (QEMU, ours, QEMU, ours, ...) so drift in the machine hits both sides;
# each cell is the median of REPS runs. Output: a markdown table on stdout, progress on stderr.
#
# Environment knobs:
#   REPS=5                 repetitions per row (median taken)
#   BENCH_DIR=/var/tmp/... where images go (must not be tmpfs if you want disk numbers)
#   C4K=100000 C64K=20000 C1M=2000 CFLUSH=2000   write request counts (aim: 1-3 s per run)
#   CFLUSH64L=20000        requests of the longer flush-interval-64 journal rows
#   R4K=300000 R64K=100000 R1M=30000             read request counts (reads are cheaper)
#   JOURNAL=auto|yes|no    journal rows (auto: only when `bin/qjournal bench` knows --journal)
#   SECTIONS="main journal"  which sections to run (e.g. SECTIONS=journal for the journal rows only)
set -euo pipefail

ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QJ="$ROOT/bin/qjournal"
REPS="${REPS:-5}"
C4K="${C4K:-100000}"
C64K="${C64K:-20000}"
C1M="${C1M:-2000}"
CFLUSH="${CFLUSH:-2000}"
CFLUSH64L="${CFLUSH64L:-20000}"
R4K="${R4K:-300000}"
R64K="${R64K:-100000}"
R1M="${R1M:-30000}"
JOURNAL="${JOURNAL:-auto}"
SECTIONS="${SECTIONS:-main journal}"
STARTUP="not measured"
IMG_SIZE=4G

die() { echo "bench.sh: $*" >&2; exit 1; }
note() { echo "bench.sh: $*" >&2; }

command -v qemu-img >/dev/null || die "qemu-img not found"
"$QJ" --version >/dev/null 2>&1 || die "$QJ does not run (build with: mvn -B package -DskipTests)"

BENCH_DIR="${BENCH_DIR:-$(mktemp -d /var/tmp/qjournal-bench.XXXXXX)}"
mkdir -p "$BENCH_DIR"
cleanup() { rm -rf "$BENCH_DIR"; }
trap cleanup EXIT

now() { date +%s.%N; }

# Runs a command, prints its duration in seconds: the "Run completed in X seconds" line when
# the tool prints one (bench), else the wall time.
timed() {
  local out t0 t1 secs
  t0=$(now)
  out=$("$@" 2>&1) || { echo "$out" >&2; die "failed: $*"; }
  t1=$(now)
  secs=$(sed -n 's/.*[Cc]ompleted in \([0-9.]*\) seconds.*/\1/p' <<<"$out" | tail -n1)
  if [ -z "$secs" ]; then
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
  fi
  echo "$secs"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

fresh() { rm -f "$1"; qemu-img create -q -f qcow2 "$1" "$IMG_SIZE"; }

ROWS=()
# row NAME QEMU_SECONDS OURS_SECONDS: ratio is throughput ours/QEMU = time QEMU / time ours.
row() {
  local ratio
  ratio=$(awk -v q="$2" -v o="$3" 'BEGIN { if (o > 0) printf "%.2f", q / o; else print "n/a" }')
  ROWS+=("| $1 | $2 | $3 | $ratio |")
  note "$1: qemu $2 s, ours $3 s, ratio $ratio"
}

# bench_write LABEL ARGS...: allocating writes, a fresh image per run.
bench_write() {
  local label="$1"; shift
  local q=() o=() i f="$BENCH_DIR/w.qcow2"
  for ((i = 0; i < REPS; i++)); do
    fresh "$f"; q+=("$(timed qemu-img bench -f qcow2 "$@" "$f")")
    fresh "$f"; o+=("$(timed "$QJ" bench -f qcow2 "$@" "$f")")
  done
  row "$label" "$(printf '%s\n' "${q[@]}" | median)" "$(printf '%s\n' "${o[@]}" | median)"
}

# bench_read LABEL SIZE WCOUNT RCOUNT: reads of an image of exactly WCOUNT*SIZE bytes written
# once by qemu-img bench -w, so every read (bench wraps at the image end) hits written data.
bench_read() {
  local label="$1" size="$2" wcount="$3" rcount="$4"
  local q=() o=() i f="$BENCH_DIR/r.qcow2" bytes
  bytes=$(( $(numfmt --from=iec "${size^^}") * wcount ))
  rm -f "$f"
  qemu-img create -q -f qcow2 "$f" "$bytes"
  qemu-img bench -q -f qcow2 -w -s "$size" -c "$wcount" "$f" >/dev/null
  for ((i = 0; i < REPS; i++)); do
    q+=("$(timed qemu-img bench -f qcow2 -s "$size" -c "$rcount" "$f")")
    o+=("$(timed "$QJ" bench -f qcow2 -s "$size" -c "$rcount" "$f")")
  done
  row "$label" "$(printf '%s\n' "${q[@]}" | median)" "$(printf '%s\n' "${o[@]}" | median)"
}

bench_check() {
  local q=() o=() v=() i f="$BENCH_DIR/check.qcow2"
  rm -f "$f"
  qemu-img create -q -f qcow2 -o cluster_size=4k,preallocation=metadata "$f" 8G
  for ((i = 0; i < REPS; i++)); do
    q+=("$(timed qemu-img check "$f")")
    o+=("$(timed "$QJ" check "$f")")
    v+=("$(timed "$QJ" --version)")
  done
  row "check, 8 GiB, 4 KiB clusters, preallocation=metadata (wall)" \
      "$(printf '%s\n' "${q[@]}" | median)" "$(printf '%s\n' "${o[@]}" | median)"
  STARTUP="$(printf '%s\n' "${v[@]}" | median) s"
}

# ---- journal rows (the journal issue fills these in) --------------------------------------
# fdatasync+fsync calls made by a command, counted with strace.
count_syncs() {
  local log="$BENCH_DIR/strace.txt"
  strace -f -c -e trace=fdatasync,fsync -o "$log" "$@" >/dev/null 2>&1 || die "failed under strace: $*"
  awk '$NF == "fdatasync" || $NF == "fsync" { n += $4 } END { print n + 0 }' "$log"
}

JROWS=()
journal_rows() {
  local has=no
  if "$QJ" bench --help 2>&1 | grep -q -- '--journal'; then has=yes; fi
  if [ "$JOURNAL" = no ] || { [ "$JOURNAL" = auto ] && [ "$has" = no ]; }; then
    JROWS+=("| (journal rows not measured: \`bin/qjournal bench\` has no --journal yet) | | | | |")
    return
  fi
  command -v strace >/dev/null || die "strace not found (needed for fdatasync counts)"
  local fi mode i f="$BENCH_DIR/j.qcow2" q p o qs ps os spec count
  # flush interval:request count. The longer run of flush-interval 64 shows the steady state:
  # 2000 requests take about 0.1 s, of which the JVM's first compilations are a good part.
  # Each repetition runs QEMU, ours plain and ours with the journal back to back, so the three
  # see the same state of the host; the journal's win over plain is counted pair by pair.
  for spec in "1:$CFLUSH" "64:$CFLUSH" "64:$CFLUSH64L"; do
    fi=${spec%%:*}; count=${spec#*:}
    local depth=1; [ "$fi" -ge 64 ] && depth=64
    local args=(-f qcow2 -w -s 4k -S 64k -d "$depth" --flush-interval="$fi" -c "$count")
    q=(); p=(); o=()
    local wins=0
    for ((i = 0; i < REPS; i++)); do
      fresh "$f"; q+=("$(timed qemu-img bench "${args[@]}" "$f")")
      fresh "$f"; p+=("$(timed "$QJ" bench "${args[@]}" "$f")")
      fresh "$f"; o+=("$(timed "$QJ" bench --journal "${args[@]}" "$f")")
      if awk -v a="${o[-1]}" -v b="${p[-1]}" 'BEGIN { exit !(a <= b) }'; then wins=$((wins + 1)); fi
    done
    fresh "$f"; qs=$(count_syncs qemu-img bench "${args[@]}" "$f")
    fresh "$f"; ps=$(count_syncs "$QJ" bench "${args[@]}" "$f")
    fresh "$f"; os=$(count_syncs "$QJ" bench --journal "${args[@]}" "$f")
    local qm pm om
    qm=$(printf '%s\n' "${q[@]}" | median); pm=$(printf '%s\n' "${p[@]}" | median); om=$(printf '%s\n' "${o[@]}" | median)
    for mode in plain journal; do
      local m=$pm s=$ps extra=""
      [ "$mode" = journal ] && { m=$om; s=$os; extra=" (journal/plain $(awk -v a="$pm" -v b="$om" 'BEGIN { printf "%.2f", a / b }'), journal faster in $wins of $REPS)"; }
      JROWS+=("| 4 KiB alloc writes -S 64k -d $depth -c $count, flush every $fi, ours ${mode}${extra} | $qm | $m | $(awk -v q="$qm" -v o="$m" 'BEGIN { if (o > 0) printf "%.2f", q / o; else print "n/a" }') | $qs / $s |")
    done
    note "journal rows fi=$fi -c $count: qemu $qm s ($qs syncs), plain $pm s ($ps), journal $om s ($os), journal faster in $wins of $REPS"
  done
}
# Replay of a full 64 MiB journal: a child writes 512-byte blocks into thousands of distinct L2
# tables with a flush every 64 writes until the ring is three quarters full (the checkpoint
# threshold), then dies without closing (`abort`); we time `qjournal replay`.
REPLAY_ROW=""
replay_row() {
  local f="$BENCH_DIR/replay.qcow2" n=${REPLAY_WRITES:-40000} i
  qemu-img create -q -f qcow2 -o cluster_size=512 "$f" 2G || die "qemu-img create failed"
  {
    for ((i = 0; i < n; i++)); do
      echo "write -q -P 7 $((i * 32768)) 512"
      if (( (i + 1) % 64 == 0 )); then echo flush; fi
    done
    echo abort
  } | "$QJ" io --journal=size=64M,commit-interval=3600s,commit-datasize=64M "$f" >/dev/null 2>&1 || true
  local used
  used=$("$QJ" info --output=json "$f" | awk -F': ' '/"used-bytes"/ { gsub(/[ ,]/, "", $2); print $2 }')
  local t
  t=$(timed "$QJ" replay "$f")
  qemu-img check -q "$f" || die "replayed image does not check clean"
  REPLAY_ROW="Replay of a 64 MiB journal holding $((used / 1048576)) MiB of committed transactions: ${t} s (wall, JVM start included; \`qjournal replay\`, then \`qemu-img check\` clean)"
  note "replay: $REPLAY_ROW"
}
# --------------------------------------------------------------------------------------------

note "images in $BENCH_DIR, $REPS repetitions per row"
if [[ " $SECTIONS " == *" main "* ]]; then
  bench_write "4 KiB sequential allocating writes (-c $C4K)" -w -s 4k -c "$C4K"
  bench_write "64 KiB sequential allocating writes (-c $C64K)" -w -s 64k -c "$C64K"
  bench_write "1 MiB sequential allocating writes (-c $C1M)" -w -s 1M -c "$C1M"
  bench_read "4 KiB sequential reads of written data (-c $R4K)" 4k "$C4K" "$R4K"
  bench_read "64 KiB sequential reads of written data (-c $R64K)" 64k "$C64K" "$R64K"
  bench_read "1 MiB sequential reads of written data (-c $R1M)" 1M "$C1M" "$R1M"
  bench_write "4 KiB writes, --flush-interval=1 -d 1 (-c $CFLUSH)" -w -s 4k -d 1 --flush-interval=1 -c "$CFLUSH"
  bench_check
fi
if [[ " $SECTIONS " == *" journal "* ]]; then
  journal_rows
  replay_row
fi

echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs, $(uname -sr), $(qemu-img --version | head -n1), $("$QJ" --version 2>&1 | head -n1); median of $REPS alternating runs."
echo
echo "| Benchmark | QEMU (s) | qjournal (s) | throughput ours/QEMU |"
echo "|---|---:|---:|---:|"
if [ ${#ROWS[@]} -gt 0 ]; then printf '%s\n' "${ROWS[@]}"; fi
echo
echo "\`bin/qjournal --version\` start-up (wall): ${STARTUP}"
echo
echo "| Journal benchmark | QEMU (s) | qjournal (s) | throughput ours/QEMU | fdatasync+fsync QEMU / ours |"
echo "|---|---:|---:|---:|---:|"
if [ ${#JROWS[@]} -gt 0 ]; then printf '%s\n' "${JROWS[@]}"; fi
if [ -n "$REPLAY_ROW" ]; then
  echo
  echo "$REPLAY_ROW"
fi
