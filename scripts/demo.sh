#!/usr/bin/env bash
# `make demo`: a real PostgreSQL cutover on a sandbox this script sets up and
# tears down itself — two throwaway clusters on loopback ports behind HAProxy
# (TCP mode), pgbench writing through HAProxy as the application, and
# playbooks/postgres-logical-cutover.yaml moving it from the old cluster to
# the new one. Then the audit of the run. With DEMO_VIA=pgbouncer (`make
# demo-pgbouncer`) the application writes through PgBouncer instead and
# playbooks/postgres-pgbouncer-cutover.yaml switches it with no failed query.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/cutover}
DEMO=$PWD/sandbox/demo
VIA=${DEMO_VIA:-haproxy}
rm -rf "$DEMO" && mkdir -p "$DEMO"
. scripts/sandbox.sh

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  sandbox_down "$DEMO"
}
trap cleanup EXIT

say "starting two PostgreSQL clusters behind HAProxy and PgBouncer, loading pgbench data (scale 5)"
sandbox_up "$DEMO" 5
if [ "$VIA" = pgbouncer ]; then
  APP_PORT=$PGB_PORT APP_URL=$PGB_URL PLAYBOOK=postgres-pgbouncer-cutover.yaml
else
  PLAYBOOK=postgres-logical-cutover.yaml
fi
export APP_URL
echo "old cluster :$OLD_PORT, new cluster :$NEW_PORT, the application's address ($VIA) :$APP_PORT"
psql_old() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$OLD_PORT" -U postgres "$@"; }
psql_new() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$NEW_PORT" -U postgres "$@"; }

say "the application writes through $VIA (pgbench, 2 clients)"
"$PGBIN/pgbench" -n -c 2 -T 120 -h 127.0.0.1 -p "$APP_PORT" -U app shop >"$DEMO/pgbench.log" 2>&1 &
PIDS+=($!)
sleep 2

cp "playbooks/$PLAYBOOK" "$DEMO/cutover.yaml"
say "plan"
"$BIN" plan "$DEMO/cutover.yaml" | head -n 40
say "cutover run"
"$BIN" run "$DEMO/cutover.yaml" --operator demo

say "after the cutover"
HISTORY_OLD=$(psql_old -d shop -At -c "SELECT count(*) FROM pgbench_history")
HISTORY_NEW=$(psql_new -d shop -At -c "SELECT count(*) FROM pgbench_history")
SERVED_BY=$("$PGBIN/psql" -X -At -h 127.0.0.1 -p "$APP_PORT" -U app -d shop -c "SELECT inet_server_port()")
echo "pgbench transactions committed on the old cluster: $HISTORY_OLD, present on the new one: $HISTORY_NEW"
echo "the application's address now reaches port $SERVED_BY (new cluster: $NEW_PORT)"
RUN=$(ls "$DEMO/.cutover/runs" | tail -n 1)
say "audit show $RUN"
"$BIN" audit show --state-dir "$DEMO/.cutover" "$RUN"
"$BIN" audit verify --state-dir "$DEMO/.cutover" "$RUN"
"$BIN" audit report --state-dir "$DEMO/.cutover" "$RUN" --out "$DEMO/report.html" >/dev/null
echo "report: $DEMO/report.html"
# pgbench prints an error (and aborts the client) for every failed query.
echo "pgbench errors during the cutover: $(grep -c -E 'error|aborted' "$DEMO/pgbench.log" || true)"
[ "$SERVED_BY" = "$NEW_PORT" ] && [ "$HISTORY_OLD" -le "$HISTORY_NEW" ]
