#!/usr/bin/env bash
# Does NOTIFY on every outbox-writing commit cap PostgreSQL's commit rate? NOTIFY takes a global
# lock while committing, so notifying transactions commit one at a time. This runs the same
# create-order-shaped transaction with and without pg_notify on a throwaway PostgreSQL and prints
# pgbench's transactions per second for each.
#
#   bash bench/pg-notify.sh [clients] [seconds]
set -euo pipefail
clients=${1:-32}
seconds=${2:-15}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/ordersys-pgbench-XXXXXX)
port=$((20000 + RANDOM % 10000))
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
cleanup() { as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT

as_pg "$pgbin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c synchronous_commit=on" >/dev/null
psql=("$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -v ON_ERROR_STOP=1)
"${psql[@]}" -f "$here/pg-notify-schema.sql"
"${psql[@]}" -c "LISTEN outbox" >/dev/null # a listener exists, as the relay's lease would be

for script in pg-notify-without.sql pg-notify-with.sql; do
  tps=$("$pgbin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c "$clients" -j 2 -T "$seconds" \
        -f "$here/$script" postgres | awk '/^tps/ {print $3; exit}')
  printf '%-26s %s tps (%s clients, %ss)\n' "$script" "$tps" "$clients" "$seconds"
  "${psql[@]}" -c "TRUNCATE outbox, orders"
done
