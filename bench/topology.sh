#!/usr/bin/env bash
# Load the production topology on this machine and report throughput, latency and CPU split:
# a throwaway PostgreSQL (synchronous_commit on), `ordersys broker`, and one `ordersys serve`
# process per service, driven by `ordersys loadgen`.
#
#   bash bench/topology.sh RATE DURATION [PARTITIONS]     e.g. bash bench/topology.sh 150 30s
#
# PARTITIONS defaults to 1, enough for one process per service; two replicas of a service need two.
# The embedded broker fsyncs each partition's batch on its single loop, so each partition costs.
#
# Everything listens on 127.0.0.1 only and is stopped when the script exits. Settings, all optional:
#   WARMUP="RATE DURATION" or none   ANALYZE=false     SYNC_WRITES=false (broker lets the OS flush)
#   STATEMENTS=1 (statements, scans) PPROF=1 (pprof)   KEEP=1 (keep the data directory)
#   PG_SOCKET=1 (Unix socket)         PGOPTS="-c name=value"  PGLIBS=,auto_explain
#   PROCS=N: GOMAXPROCS of every ordersys process (default 1; see below)
#   ORDER_PROCS=N: GOMAXPROCS of the order service alone (default PROCS)
#   IDLE=30s: after the run and 30 s more (autovacuum tidies what the run left), how much CPU each
#             process uses over 30 s while nothing happens
#   AUTH=jwt: the services check bearer tokens (a development key under the run's directory), and
#             loadgen mints each customer its own; default none
set -euo pipefail
rate=${1:?rate}
duration=${2:?duration}
partitions=${3:-1}
cd "$(dirname "$0")/.."
go build -o bin/ordersys ./cmd/ordersys
# Seven Go processes share the two cores here. With GOMAXPROCS at the core count, each runs
# threads on both cores and hands goroutine wake-ups between them. At 150 orders/s, with a
# broker that does not fsync, PROCS=1 gave p99 from 140 to 385 ms (median 262) in eight runs,
# against 217 to 612 ms (median 321) in nine runs with 2.
ordersys=(env GOMAXPROCS="${PROCS:-1}" "$PWD/bin/ordersys")
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
dir=$(mktemp -d /tmp/ordersys-topology-XXXXXX)
pgport=$((20000 + RANDOM % 5000)); kport=$((25000 + RANDOM % 5000)); aport=$((30000 + RANDOM % 2000))
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  as_pg "$pgbin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT

as_pg "$pgbin/initdb" -D "$dir/pg" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w start \
  -o "-p $pgport -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c synchronous_commit=on \
      -c shared_preload_libraries=pg_stat_statements${PGLIBS:-} ${PGOPTS:-}" >/dev/null
db="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
[ -n "${PG_SOCKET:-}" ] && db="postgres://postgres@/postgres?host=$dir&port=$pgport&sslmode=disable"
echo "PostgreSQL: $db; partitions $partitions, PROCS=${PROCS:-1}, SYNC_WRITES=${SYNC_WRITES:-true}" >&2

"$pgbin/psql" -q "$db" -c "CREATE EXTENSION pg_stat_statements"
"${ordersys[@]}" broker --addr "127.0.0.1:$kport" --data-dir "$dir/kafka" --metrics-addr 127.0.0.1:0 --sync-writes="${SYNC_WRITES:-true}" >/dev/null 2>"$dir/broker.log" & pids+=($!); broker=$!
sleep 1
"${ordersys[@]}" migrate --database-url "$db" >/dev/null
declare -A svc mport
authflags=(--auth none); loadauth=()
if [ "${AUTH:-none}" = jwt ]; then
  "${ordersys[@]}" token --data-dir "$dir" --sub 00000000-0000-4000-8000-000000000000 >/dev/null # makes the key
  authflags=(--auth jwt --jwt-jwks-file "$dir/auth/jwks.json" --jwt-issuer ordersys-dev --jwt-audience ordersys)
  loadauth=(--token-key "$dir")
fi
for s in order payment inventory fulfillment notification; do
  addr=127.0.0.1:0; [ "$s" = order ] && addr=127.0.0.1:$aport
  mport[$s]=$((32100 + ${#pids[@]} * 10 + RANDOM % 10))
  procs=${PROCS:-1}; [ "$s" = order ] && procs=${ORDER_PROCS:-$procs}
  env GOMAXPROCS="$procs" "$PWD/bin/ordersys" serve "$s" --addr "$addr" --metrics-addr "127.0.0.1:${mport[$s]}" --database-url "$db" --kafka-brokers "127.0.0.1:$kport" \
    --partitions "$partitions" --migrate=false --demo-catalog --log-level warn "${authflags[@]}" ${PPROF:+--pprof-addr 127.0.0.1:$((6060 + ${#pids[@]}))} >/dev/null 2>"$dir/$s.log" & pids+=($!); svc[$s]=$!
done
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$aport/api/utility/readiness" >/dev/null && break; sleep 0.2; done

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system clock ticks
# PostgreSQL's CPU: this cluster's postmaster and its living children (every backend and worker
# is one), plus what exited children left in the postmaster's children counters (fields 16 and
# 17), so that short-lived connections are not lost. Only this cluster's: any other `postgres`
# process on the machine (another cluster, another run) is none of its CPU.
pgcpu() {
  local t=0 c pm
  pm=$(head -n1 "$dir/pg/postmaster.pid")
  t=$(awk '{print $16 + $17}' "/proc/$pm/stat")
  for p in "$pm" $(pgrep -P "$pm"); do c=$(cpu "$p" 2>/dev/null) && t=$((t + c)); done
  echo $t
}
# Consumer groups take a few seconds to form after start, and every connection of every pool
# opens, and prepares each statement, the first time it is used: a cold start is measured as a
# backlog the run then has to work off. So one order goes through the whole saga first, then 15
# seconds at the run's rate (WARMUP="RATE DURATION" to change it, WARMUP=none to skip it). At the
# run's rate, not less: the run then measures the rate itself rather than the step up to it (after
# a warm-up at half the rate, the first 5 s window's p99 at 150/s was up to twice the others').
"${ordersys[@]}" loadgen --target "http://127.0.0.1:$aport" --orders 1 --rate 1 "${loadauth[@]}" >/dev/null
warmup=${WARMUP:-"$rate 15s"}
if [ "$warmup" != none ]; then
  read -r wrate wdur <<<"$warmup"
  "${ordersys[@]}" loadgen --target "http://127.0.0.1:$aport" --rate "$wrate" --duration "$wdur" "${loadauth[@]}" >/dev/null
fi
# A brand-new database has no statistics: the planner takes order_items.order_id for a column of
# few values, and the generic plans that pgx's prepared statements cache while tables are small
# stay sequential scans as the tables grow through the run. In a database older than a minute
# autovacuum has analyzed the tables (and so replanned) every 10% of growth; ANALYZE after the
# warm-up's orders does it now (ANALYZE=false measures the brand-new case).
[ "${ANALYZE:-true}" = true ] && "$pgbin/psql" -q "$db" -c "ANALYZE"
# Count statements and table scans from here on only.
"$pgbin/psql" -qtA "$db" -c "SELECT pg_stat_reset(), pg_stat_statements_reset()" >/dev/null
xacts() { "$pgbin/psql" -qtA "$db" -c "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"; }
# The whole machine's busy and total clock ticks (/proc/stat: all but idle and iowait), kernel
# work that no process is charged with included.
machine() { awk '/^cpu /{t=0; for (i=2; i<=NF; i++) t+=$i; print t-$5-$6, t}' /proc/stat; }
# Each service's metrics at the start and the end, for the stages of each hop (bench/hopstages).
scrape() { mkdir -p "$dir/$1"; for s in "${!svc[@]}"; do curl -fs "http://127.0.0.1:${mport[$s]}/metrics" >"$dir/$1/$s"; done; }
scrape before
read -r m0 t0 <<<"$(machine)"
x0=$(xacts); b0=$(cpu $broker); p0=$(pgcpu); declare -A s0; for s in "${!svc[@]}"; do s0[$s]=$(cpu ${svc[$s]}); done
start=$(date +%s.%N)

/usr/bin/time -f "%U %S" -o "$dir/loadgen.cpu" \
  "${ordersys[@]}" loadgen --target "http://127.0.0.1:$aport" --rate "$rate" --duration "$duration" "${loadauth[@]}"

elapsed=$(echo "$(date +%s.%N) - $start" | bc)
hz=$(getconf CLK_TCK)
read -r m1 t1 <<<"$(machine)"
scrape after
# Every order created during the run has ended by now: loadgen follows each to its end.
orders=$("$pgbin/psql" -qtA "$db" -c "SELECT count(*) FROM \"order\".orders WHERE created_at >= to_timestamp($start)")
echo "Machine busy: $(( 100 * (m1 - m0) / (t1 - t0) ))% of its $(nproc) cores"
echo "CPU budget over ${elapsed%.*}s and $orders orders:"
printf '  %-13s %14s %16s\n' process "% of a core" "CPU ms / order"
line() { # name, clock ticks used
  printf '  %-13s %14s %16s\n' "$1" "$(echo "scale=1; $2 * 100 / $hz / $elapsed" | bc)" \
    "$(echo "scale=3; $2 * 1000 / $hz / $orders" | bc)"
}
total=0
add() { line "$1" "$2"; total=$((total + $2)); }
add postgresql $(( $(pgcpu) - p0 ))
add broker $(( $(cpu $broker) - b0 ))
for s in order payment inventory fulfillment notification; do add "$s" $(( $(cpu ${svc[$s]}) - s0[$s] )); done
add loadgen "$(awk -v hz="$hz" '{printf "%d", ($1 + $2) * hz + 0.5}' "$dir/loadgen.cpu")"
line "all of them" "$total"
line "machine" $(( m1 - m0 ))
xs=$(( $(xacts) - x0 ))
stmts=$("$pgbin/psql" -qtA "$db" -c "SELECT sum(calls) FROM pg_stat_statements")
echo "PostgreSQL: $xs transactions ($(echo "scale=2; $xs / $orders" | bc) an order), $stmts statements ($(echo "scale=1; $stmts / $orders" | bc) an order; BEGIN and COMMIT included)"
go run ./bench/hopstages -before "$dir/before" -after "$dir/after"

echo "Time per hop of the saga (ms): from one service's commit to the next one's, by each service's own timestamps"
"$pgbin/psql" -q "$db" -c "WITH h AS (SELECT order_id, max(at) FILTER (WHERE status = 'PENDING') AS pending,
    max(at) FILTER (WHERE status = 'PAYMENT') AS payment, max(at) FILTER (WHERE status = 'INVENTORY') AS inventory,
    max(at) FILTER (WHERE status = 'FULFILLMENT') AS fulfillment, max(at) FILTER (WHERE status = 'COMPLETED') AS completed
    FROM \"order\".order_history GROUP BY order_id),
  t AS (SELECT h.*, p.created_at AS charged, r.created_at AS reserved, s.created_at AS shipped
    FROM h JOIN payment.payments p ON p.order_id = h.order_id AND p.kind = 'CHARGE'
    JOIN inventory.reservations r ON r.order_id = h.order_id JOIN fulfillment.shipments s ON s.order_id = h.order_id
    WHERE h.completed IS NOT NULL AND h.pending >= to_timestamp($start)),
  hops AS (SELECT n, hop, 1000 * extract(epoch FROM b - a) AS ms FROM t, LATERAL (VALUES
    (1, 'order: first step', pending, payment), (2, 'order -> payment', payment, charged),
    (3, 'payment -> order', charged, inventory), (4, 'order -> inventory', inventory, reserved),
    (5, 'inventory -> order', reserved, fulfillment), (6, 'order -> fulfillment', fulfillment, shipped),
    (7, 'fulfillment -> order', shipped, completed)) v(n, hop, a, b))
  SELECT hop, count(*) AS orders, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p50,
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) AS p99 FROM hops GROUP BY n, hop ORDER BY n"

echo "create-to-COMPLETED by when the order was created (ms, 5 s windows of the measured run):"
"$pgbin/psql" -q "$db" -c "SELECT 5 * floor(extract(epoch FROM o.created_at - to_timestamp($start)) / 5) AS from_s, count(*) AS orders,
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric) AS p50,
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric) AS p99
  FROM (SELECT o.created_at, 1000 * extract(epoch FROM h.at - o.created_at) AS ms
        FROM \"order\".orders o JOIN \"order\".order_history h ON h.order_id = o.id AND h.status = 'COMPLETED'
        WHERE o.created_at >= to_timestamp($start)) o GROUP BY 1 ORDER BY 1"

if [ -n "${STATEMENTS:-}" ]; then
  echo "PostgreSQL time by statement (the 40 most frequent):"
  "$pgbin/psql" -q "$db" -c "SELECT sum(calls) AS statements FROM pg_stat_statements"
  "$pgbin/psql" -q "$db" -c "SELECT calls, rows, round(total_exec_time) AS ms, round(mean_exec_time::numeric, 3) AS mean_ms,
    left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS query FROM pg_stat_statements ORDER BY calls DESC LIMIT 40"
  echo "Table scans (a sequential scan of a growing table is a plan made while it was small):"
  "$pgbin/psql" -q "$db" -c "SELECT schemaname || '.' || relname AS table, seq_scan, seq_tup_read, idx_scan, n_live_tup,
    last_autoanalyze IS NOT NULL AS analyzed FROM pg_stat_user_tables WHERE seq_scan + coalesce(idx_scan, 0) > 0
    ORDER BY seq_tup_read DESC"
fi

if [ -n "${IDLE:-}" ]; then
  sleep 30
  b0=$(cpu $broker); p0=$(pgcpu); for s in "${!svc[@]}"; do s0[$s]=$(cpu ${svc[$s]}); done
  i0=$(date +%s.%N); sleep "$IDLE"; idle=$(echo "$(date +%s.%N) - $i0" | bc)
  echo "Idle for ${idle%.*}s (percent of one core):"
  printf '  %-13s %s\n' postgresql "$(echo "scale=2; ($(pgcpu) - $p0) * 100 / $hz / $idle" | bc)" \
    broker "$(echo "scale=2; ($(cpu $broker) - $b0) * 100 / $hz / $idle" | bc)"
  for s in order payment inventory fulfillment notification; do
    printf '  %-13s %s\n' "$s" "$(echo "scale=2; ($(cpu ${svc[$s]}) - ${s0[$s]}) * 100 / $hz / $idle" | bc)"
  done
fi
