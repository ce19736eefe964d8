#!/usr/bin/env bash
# NBD server benchmark: qjournald vs qemu-storage-daemon vs qemu-nbd, each serving the same
# kind of fresh qcow2 image on the same disk, fio's nbd engine as the client.
#
# Builds nothing: run `mvn -B package -DskipTests` first so bin/qjournald works.
# Servers alternate per repetition (qsd, qemu-nbd, ours, qsd, ...) so drift hits all of them;
# each cell is the median of REPS runs. Output: markdown on stdout, progress on stderr.
#
# Environment knobs:
#   REPS=3                 repetitions per row (median taken)
#   BENCH_DIR=/var/tmp/... where images go (not tmpfs if you want disk numbers)
#   SIZE=1G                image size; reads run over a prefilled READ_SIZE of it
#   READ_SIZE=512M WRITE_SIZE=256M  bytes per read / write job
#   RUNTIME=5 RAMP=2       seconds measured per run, after RAMP seconds of warm-up (fio's
#                          --ramp_time: JIT and caches warm on every server alike)
#   FSYNC_COUNT=2000       writes in the syncs-per-flush count
#   IMAGES=100             images for the start-up and memory rows
#   SECTIONS="rows startup"
#   BEFORE=DIR             also run the qjournald of another checkout (built; e.g. a git worktree
#                          of the previous release) as a fourth server, "before", to show that a
#                          change made no row slower: ours/before in the same run (not with TLS=1)
#   TLS=1                  every server requires TLS (certificates made here with openssl, QEMU's
#                          tls-creds-x509 layout); fio connects with nbds://...?tls-verify-peer=false
#                          (fio's libnbd may not read a certificate directory: encrypted, server
#                          not authenticated, the same for every server). qjournald's TLS provider:
#                          JAVA_OPTS=-Dqjournald.nbd.tlsProvider=jdk to compare with the default.
set -euo pipefail

ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QJD="$ROOT/bin/qjournald"
REPS="${REPS:-3}"
SIZE="${SIZE:-1G}"
READ_SIZE="${READ_SIZE:-512M}"
WRITE_SIZE="${WRITE_SIZE:-256M}"
FSYNC_COUNT="${FSYNC_COUNT:-2000}"
RUNTIME="${RUNTIME:-5}"
RAMP="${RAMP:-2}"
IMAGES="${IMAGES:-100}"
SECTIONS="${SECTIONS:-rows startup}"
TLS="${TLS:-0}"
BEFORE="${BEFORE:-}"
KINDS="qsd qemu-nbd ours"
if [ -n "$BEFORE" ]; then
  [ "$TLS" = 1 ] && { echo "nbd-bench.sh: BEFORE and TLS=1 do not go together" >&2; exit 1; }
  [ -x "$BEFORE/bin/qjournald" ] || { echo "nbd-bench.sh: $BEFORE/bin/qjournald missing" >&2; exit 1; }
  KINDS="$KINDS before"
fi
PORT=$((20000 + RANDOM % 20000))

die() { echo "nbd-bench.sh: $*" >&2; exit 1; }
note() { echo "nbd-bench.sh: $*" >&2; }

for t in qemu-img qemu-io qemu-nbd qemu-storage-daemon fio python3 strace; do
  command -v "$t" >/dev/null || die "$t not found (apt-get install qemu-utils qemu-system-common fio python3 strace)"
done
fio --enghelp 2>/dev/null | grep -qw nbd || die "this fio has no nbd engine"
[ -x "$QJD" ] || die "$QJD missing"

BENCH_DIR="${BENCH_DIR:-$(mktemp -d /var/tmp/qjournald-bench.XXXXXX)}"
mkdir -p "$BENCH_DIR"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() { stop_server; rm -rf "$BENCH_DIR"; }
trap cleanup EXIT

# TLS=1: a CA and a server certificate for 127.0.0.1, as QEMU's endpoint=server directory wants them.
PKI="$BENCH_DIR/pki"
QEMU_TLS=() QSD_TLS="" OURS_TLS=() URI_SCHEME="nbd" URI_QUERY=""
if [ "$TLS" = 1 ]; then
  mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem
    openssl req -x509 -new -key ca-key.pem -days 2 -subj "/CN=bench CA" -out ca-cert.pem
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-key.pem
    openssl req -new -key server-key.pem -subj /CN=localhost -out server.csr
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n' >server.ext
    openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -extfile server.ext -out server-cert.pem
  ) >/dev/null 2>&1 || die "openssl could not make the test certificates"
  QEMU_TLS=(--object "tls-creds-x509,id=tls0,dir=$PKI,endpoint=server,verify-peer=off")
  QSD_TLS=",tls-creds=tls0"
  OURS_TLS=(--nbd-tls-creds "$PKI")
  URI_SCHEME="nbds"
  URI_QUERY="?tls-verify-peer=false"
fi

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

wait_port() {
  local i
  for i in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited before listening: $(tail -3 "$BENCH_DIR/server.log")"
    sleep 0.05
  done
  die "server did not listen on $PORT"
}

# start_server KIND IMAGE [WRAPPER...]: serves IMAGE as export "disk" on 127.0.0.1:$PORT.
start_server() {
  local kind="$1" img="$2"; shift 2
  PORT=$((PORT + 1))
  case "$kind" in
    qsd)
      # No iothread object: QEMU 7.2's qemu-storage-daemon aborts on client disconnect with one.
      "$@" qemu-storage-daemon "${QEMU_TLS[@]}" \
        --blockdev "driver=file,node-name=file,filename=$img,cache.direct=off" \
        --blockdev driver=qcow2,node-name=disk,file=file \
        --nbd-server "addr.type=inet,addr.host=127.0.0.1,addr.port=$PORT$QSD_TLS" \
        --export type=nbd,id=e,node-name=disk,name=disk,writable=on >"$BENCH_DIR/server.log" 2>&1 &
      ;;
    qemu-nbd)
      "$@" qemu-nbd "${QEMU_TLS[@]}" ${QSD_TLS:+--tls-creds=tls0} -f qcow2 -x disk -b 127.0.0.1 -p "$PORT" -t --cache=writeback --shared=8 "$img" \
        >"$BENCH_DIR/server.log" 2>&1 &
      ;;
    before)
      "$@" "$BEFORE/bin/qjournald" --image "disk=$img" --nbd "127.0.0.1:$PORT" \
        --jmx "127.0.0.1:$((PORT + 20000))" --jmx-no-auth >"$BENCH_DIR/server.log" 2>&1 &
      ;;
    ours)
      "$@" "$QJD" --image "disk=$img" --nbd "127.0.0.1:$PORT" "${OURS_TLS[@]}" \
        --jmx "127.0.0.1:$((PORT + 20000))" --jmx-no-auth \
        >"$BENCH_DIR/server.log" 2>&1 &
      ;;
  esac
  SERVER_PID=$!
  wait_port
}

# fio_run NAME ARGS...: prints IOPS of the job (read + write).
fio_run() {
  local name="$1"; shift
  local out="$BENCH_DIR/fio.json"
  fio --name="$name" --ioengine=nbd --uri="$URI_SCHEME://127.0.0.1:$PORT/disk$URI_QUERY" --output-format=json \
    --output="$out" "$@" >/dev/null 2>"$BENCH_DIR/fio.err" || { cat "$BENCH_DIR/fio.err" >&2; die "fio failed: $*"; }
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print("%.1f" % (j["read"]["iops"] + j["write"]["iops"]))' "$out"
}

fresh() { rm -f "$1"; qemu-img create -q -f qcow2 "$1" "$SIZE"; }
PREFILLED="$BENCH_DIR/prefilled.qcow2"
prefill() {
  fresh "$PREFILLED"
  qemu-io -f qcow2 -c "write -P 0x5a 0 $READ_SIZE" "$PREFILLED" >/dev/null
}

ROWS=()
# row LABEL FIO-ARGS... (image: "fresh" or "prefilled" via IMAGE_KIND)
row() {
  local label="$1"; shift
  local kind i img="$BENCH_DIR/served.qcow2" v
  declare -A res=([qsd]="" [qemu-nbd]="" [ours]="" [before]="")
  for ((i = 0; i < REPS; i++)); do
    for kind in $KINDS; do
      if [ "$IMAGE_KIND" = prefilled ]; then cp --sparse=always "$PREFILLED" "$img"; else fresh "$img"; fi
      sync
      start_server "$kind" "$img"
      v=$(fio_run "$label" "$@")
      stop_server
      res[$kind]+="$v "
      note "$label: $kind run $((i + 1)): $v IOPS"
    done
  done
  local q n o
  q=$(tr ' ' '\n' <<<"${res[qsd]}" | grep . | median)
  n=$(tr ' ' '\n' <<<"${res[qemu-nbd]}" | grep . | median)
  o=$(tr ' ' '\n' <<<"${res[ours]}" | grep . | median)
  local row="| $label | $q | $n | $o | $(awk -v q="$q" -v o="$o" 'BEGIN { printf "%.2f", o / q }') | $(awk -v q="$n" -v o="$o" 'BEGIN { printf "%.2f", o / q }') |"
  if [ -n "$BEFORE" ]; then
    local b
    b=$(tr ' ' '\n' <<<"${res[before]}" | grep . | median)
    row+=" $b | $(awk -v b="$b" -v o="$o" 'BEGIN { printf "%.2f", o / b }') |"
  fi
  ROWS+=("$row")
}

# syncs per client flush: fdatasync+fsync calls of the whole server process during the
# flush-after-every-write job, divided by the flushes fio sent.
SYNC_ROWS=()
sync_count() {
  local kind="$1" img="$BENCH_DIR/served.qcow2" log="$BENCH_DIR/strace.txt"
  fresh "$img"
  start_server "$kind" "$img" strace -f -c -e trace=fdatasync,fsync -o "$log"
  fio_run syncs --rw=randwrite --bs=4k --iodepth=1 --fsync=1 --number_ios="$FSYNC_COUNT" --size="$WRITE_SIZE" >/dev/null
  # SERVER_PID is strace: stop the server under it, so strace writes its summary and exits.
  local child
  for child in $(ps --ppid "$SERVER_PID" -o pid=); do kill -TERM "$child" 2>/dev/null || true; done
  for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  stop_server
  local n
  n=$(awk '$NF == "fdatasync" || $NF == "fsync" { n += $4 } END { print n + 0 }' "$log")
  SYNC_ROWS+=("| $kind | $FSYNC_COUNT | $n | $(awk -v n="$n" -v f="$FSYNC_COUNT" 'BEGIN { printf "%.2f", n / f }') |")
}

STARTUP_ROWS=()
startup() {
  local dir="$BENCH_DIR/many" i
  mkdir -p "$dir"
  for i in $(seq 1 "$IMAGES"); do qemu-img create -q -f qcow2 "$dir/img$i.qcow2" 1G; done
  local sock="$BENCH_DIR/notify.sock" t0 t1 rss
  for ((i = 0; i < REPS; i++)); do
    PORT=$((PORT + 1))
    rm -f "$sock"
    # A datagram listener standing in for systemd: prints the time READY=1 arrives.
    python3 - "$sock" >"$BENCH_DIR/ready.txt" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
while True:
    m = s.recv(4096).decode()
    if "READY=1" in m:
        print("%.6f" % time.time())
        break
PY
    local lpid=$!
    while [ ! -S "$sock" ]; do sleep 0.01; done
    t0=$(date +%s.%N)
    NOTIFY_SOCKET="$sock" "$QJD" --image-dir "$dir" --nbd "127.0.0.1:$PORT" --jmx "127.0.0.1:$((PORT + 20000))" \
      --jmx-no-auth >"$BENCH_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    wait "$lpid" || die "no READY=1 from qjournald: $(tail -3 "$BENCH_DIR/server.log")"
    t1=$(cat "$BENCH_DIR/ready.txt")
    sleep 1
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$SERVER_PID/status")
    stop_server
    STARTUP_ROWS+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $((rss / 1024))")
    note "startup run $((i + 1)): ${STARTUP_ROWS[-1]} (s, MiB)"
  done
}

if [[ " $SECTIONS " == *" rows "* ]]; then
  prefill
  timed=(--time_based --runtime="$RUNTIME" --ramp_time="$RAMP")
  IMAGE_KIND=prefilled row "4 KiB random read, qd 32" --rw=randread --bs=4k --iodepth=32 --size="$READ_SIZE" "${timed[@]}"
  IMAGE_KIND=fresh row "4 KiB random write, qd 32" --rw=randwrite --bs=4k --iodepth=32 --size="$SIZE" "${timed[@]}"
  IMAGE_KIND=fresh row "64 KiB sequential write, qd 32" --rw=write --bs=64k --iodepth=32 --size="$SIZE" "${timed[@]}"
  IMAGE_KIND=prefilled row "1 MiB sequential read, qd 32" --rw=read --bs=1m --iodepth=32 --size="$READ_SIZE" "${timed[@]}"
  IMAGE_KIND=fresh row "4 KiB random write, flush after each (fsync=1, qd 1)" --rw=randwrite --bs=4k --iodepth=1 --fsync=1 --size="$SIZE" "${timed[@]}"
  for kind in qsd qemu-nbd ours; do sync_count "$kind"; done
fi
if [[ " $SECTIONS " == *" startup "* ]]; then
  startup
fi

echo "Measured $(date -u '+%Y-%m-%d %H:%M') UTC on $(nproc) CPUs, $(uname -sr), $(qemu-storage-daemon --version | head -1), fio $(fio --version), median of $REPS runs; IOPS from fio's nbd engine$([ "$TLS" = 1 ] && echo ", every connection over TLS (nbds://)")."
echo
if [ ${#ROWS[@]} -gt 0 ]; then
  if [ -n "$BEFORE" ]; then
    echo "| Workload | qemu-storage-daemon (IOPS) | qemu-nbd (IOPS) | qjournald (IOPS) | ours/qsd | ours/qemu-nbd | before: $(git -C "$BEFORE" rev-parse --short HEAD 2>/dev/null || echo "$BEFORE") (IOPS) | ours/before |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  else
    echo "| Workload | qemu-storage-daemon (IOPS) | qemu-nbd (IOPS) | qjournald (IOPS) | ours/qsd | ours/qemu-nbd |"
    echo "|---|---:|---:|---:|---:|---:|"
  fi
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "| Server | client flushes | fdatasync+fsync | per flush |"
  echo "|---|---:|---:|---:|"
  printf '%s\n' "${SYNC_ROWS[@]}"
  echo
fi
if [ ${#STARTUP_ROWS[@]} -gt 0 ]; then
  echo "qjournald with $IMAGES images (1 GiB each), start to READY=1 and resident memory 1 s later:"
  echo
  echo "| Run | start to READY=1 (s) | VmRSS (MiB) |"
  echo "|---|---:|---:|"
  i=1
  for r in "${STARTUP_ROWS[@]}"; do echo "| $i | ${r% *} | ${r#* } |"; i=$((i + 1)); done
fi
