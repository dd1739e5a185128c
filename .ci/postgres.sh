#!/usr/bin/env bash
# Starts Debian's PostgreSQL on 127.0.0.1:5432 and creates the test role and
# database. Prints the DSN for CLAWFLEET_TEST_POSTGRES_DSN. Idempotent.
set -euo pipefail
# Only the DSN goes to stdout: pg_ctlcluster prints notes such as
# "Removed stale pid file." there, which would end up in the DSN.
main() {
ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$ver" '$1==v && $2=="main" {print $4}' | grep -q online; then
  # A server killed without cleanup (e.g. at the end of an earlier session)
  # leaves socket lock files naming a dead (or reused) PID.
  for lock in /var/run/postgresql/.s.PGSQL.*.lock; do
    [ -e "$lock" ] || continue
    pid=$(head -1 "$lock")
    if [ "$(ps -p "$pid" -o comm= 2>/dev/null)" != postgres ]; then
      rm -f "$lock" "${lock%.lock}"
    fi
  done
  pg_ctlcluster "$ver" main start
fi
for _ in $(seq 1 30); do
  runuser -u postgres -- pg_isready -q -h 127.0.0.1 && break
  sleep 1
done
runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname='clawfleet'" | grep -q 1 ||
  runuser -u postgres -- psql -qc "CREATE ROLE clawfleet LOGIN PASSWORD 'clawfleet'"
runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_database WHERE datname='clawfleet_test'" | grep -q 1 ||
  runuser -u postgres -- psql -qc "CREATE DATABASE clawfleet_test OWNER clawfleet"
}
main >&2
echo "postgres://clawfleet:clawfleet@127.0.0.1:5432/clawfleet_test?sslmode=disable"
