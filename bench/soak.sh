#!/usr/bin/env bash
# Run `ordersys dev` under a steady load for a long time and sample what it holds and does: RSS,
# Go heap in use, the broker's log on disk, the whole data directory, its CPU and the orders it
# finished a second, every 30 s, as CSV on stdout. Then
# restart it on the same data directory and sample its heap right after the start, when the
# broker has loaded its log back.
#
#   bash bench/soak.sh RATE DURATION       e.g. bash bench/soak.sh 250 35m
#
# Everything listens on 127.0.0.1 and is stopped when the script exits. Settings, all optional:
#   BIN=path (a built ordersys; default: build bin/ordersys)   KEEP=1 (keep the data directory)
#   DEVFLAGS="--topic-retention-bytes 16MiB ..." (passed to dev)
set -euo pipefail
rate=${1:?rate}
duration=${2:?duration}
cd "$(dirname "$0")/.."
bin=${BIN:-}
if [ -z "$bin" ]; then go build -o bin/ordersys ./cmd/ordersys; bin=$PWD/bin/ordersys; fi
dir=$(mktemp -d /tmp/ordersys-soak-XXXXXX)
port=$((30000 + RANDOM % 2000)); kport=$((25000 + RANDOM % 5000)); mport=$((32000 + RANDOM % 2000))
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $dir" >&2 || rm -rf "$dir"
}
trap cleanup EXIT
start_dev() {
  # shellcheck disable=SC2086
  "$bin" dev --data-dir "$dir/data" --addr "127.0.0.1:$port" --kafka-addr "127.0.0.1:$kport" \
    --metrics-addr "127.0.0.1:$mport" --log-level warn ${DEVFLAGS:-} >/dev/null 2>>"$dir/dev.log" & dev=$!
  pids+=("$dev")
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/api/utility/readiness" >/dev/null && return; sleep 0.2; done
  echo "dev did not become ready" >&2; exit 1
}
heap() { curl -fs "http://127.0.0.1:$mport/metrics" | awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%.1f", $2 / 1048576}'; }
finished() { curl -fs "http://127.0.0.1:$mport/metrics" | awk '/^ordersys_orders_finished_total/ {n += $2} END {printf "%d", n}'; }
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$dev/status"; }
mib() { du -sm "$1" | cut -f1; }
cpu() { awk '{print $14 + $15}' "/proc/$dev/stat"; }
hz=$(getconf CLK_TCK)
sample() { # seconds, phase
  local c f; c=$(cpu); f=$(finished)
  echo "$1,$2,$(rss),$(heap),$(mib "$dir/data/kafka"),$(mib "$dir/data"),$(echo "scale=1; ($c - $c0) * 100 / $hz / 30" | bc),$(( (f - f0) / 30 ))"
  c0=$c; f0=$f
}

start_dev
echo "s,phase,rss_mib,heap_inuse_mib,kafka_log_mib,data_dir_mib,cpu_pct_of_core,finished_per_s"
"$bin" loadgen --target "http://127.0.0.1:$port" --rate "$rate" --duration "$duration" >"$dir/loadgen.out" 2>&1 & load=$!
pids+=("$load")
t0=$(date +%s); c0=$(cpu); f0=$(finished)
while kill -0 "$load" 2>/dev/null; do
  sleep 30
  sample $(( $(date +%s) - t0 )) load
done
wait "$load" || true
tail -n 8 "$dir/loadgen.out" >&2
sleep 30; sample $(( $(date +%s) - t0 )) idle
kill "$dev"; wait "$dev" 2>/dev/null || true
start_dev; c0=$(cpu); f0=$(finished)
sleep 30; sample $(( $(date +%s) - t0 )) restarted
