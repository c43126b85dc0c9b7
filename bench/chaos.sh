#!/usr/bin/env bash
# The fault-injection suite: the production topology on this machine (a throwaway PostgreSQL,
# `ordersys broker`, five `ordersys serve` services with two replicas of payment and inventory)
# under load while processes are killed (SIGKILL) and restarted, frozen (SIGSTOP/SIGCONT), the
# broker killed and restarted on its data and PostgreSQL restarted with -m immediate; then an
# audit of every service's database. See docs/reliability.md.
#
#   bash bench/chaos.sh DURATION [FLAGS...]      e.g. bash bench/chaos.sh 10m --rate 40
#
# FLAGS are `ordersys chaos` flags (`ordersys chaos --help`). Everything listens on 127.0.0.1 and
# is stopped on exit, Ctrl-C included. Exits non-zero if the audit finds anything wrong; the
# run's logs and data are then kept, and the report says where.
set -euo pipefail
duration=${1:?duration, e.g. 2m}
shift
cd "$(dirname "$0")/.."
go build -o bin/ordersys ./cmd/ordersys
# exec: Ctrl-C goes to ordersys chaos itself, which stops what it started.
exec ./bin/ordersys chaos --duration "$duration" "$@"
