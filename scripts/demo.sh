#!/usr/bin/env bash
# `make demo`: a real PostgreSQL cutover on a sandbox this script sets up and
# tears down itself — two throwaway clusters on loopback ports behind HAProxy
# (TCP mode), pgbench writing through HAProxy as the application, and
# playbooks/postgres-logical-cutover.yaml moving it from the old cluster to
# the new one. Then the audit of the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/target/release/cutover}
DEMO=$PWD/sandbox/demo
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
rm -rf "$DEMO" && mkdir -p "$DEMO"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# initdb and postgres refuse to run as root: use the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

OLD_PORT=$(free_port); NEW_PORT=$(free_port); APP_PORT=$(free_port)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for c in old new; do [ -d "$DEMO/$c" ] && as_pg "$PGBIN/pg_ctl" -D "$DEMO/$c" -m immediate stop >/dev/null 2>&1 || true; done
  [ -f "$DEMO/haproxy.pid" ] && kill "$(cat "$DEMO/haproxy.pid")" 2>/dev/null || true
}
trap cleanup EXIT

say "starting two PostgreSQL clusters (old :$OLD_PORT, new :$NEW_PORT)"
[ "$(id -u)" = 0 ] && chown postgres "$DEMO"
for c in old:$OLD_PORT new:$NEW_PORT; do
  name=${c%%:*}; port=${c##*:}
  as_pg "$PGBIN/initdb" -D "$DEMO/$name" -A trust -U postgres >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$DEMO/$name" -l "$DEMO/$name.log" -w \
    -o "-p $port -k $DEMO -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_connections=60" start >/dev/null
done
psql_old() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$OLD_PORT" -U postgres "$@"; }
psql_new() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$NEW_PORT" -U postgres "$@"; }
for p in psql_old psql_new; do $p -c "CREATE DATABASE shop" -c "CREATE ROLE app LOGIN" >/dev/null; done

say "loading sample data (pgbench, scale 5) into the old cluster"
"$PGBIN/pgbench" -i -q -s 5 -h 127.0.0.1 -p "$OLD_PORT" -U postgres shop 2>&1 | tail -n 1
psql_old -d shop -c "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app" >/dev/null

say "HAProxy on :$APP_PORT sends the application to the old cluster"
cat > "$DEMO/haproxy.cfg" <<CFG
global
  stats socket $DEMO/haproxy.sock mode 600 level admin
defaults
  mode tcp
  timeout connect 2s
  timeout client 10m
  timeout server 10m
frontend pg
  bind 127.0.0.1:$APP_PORT
  default_backend db
backend db
  server old 127.0.0.1:$OLD_PORT
  server new 127.0.0.1:$NEW_PORT disabled
CFG
haproxy -D -p "$DEMO/haproxy.pid" -f "$DEMO/haproxy.cfg"

say "the application writes through HAProxy (pgbench, 2 clients)"
"$PGBIN/pgbench" -n -c 2 -T 120 -h 127.0.0.1 -p "$APP_PORT" -U app shop >"$DEMO/pgbench.log" 2>&1 &
PIDS+=($!)
sleep 2

cp playbooks/postgres-logical-cutover.yaml "$DEMO/cutover.yaml"
export SOURCE_URL="postgres://postgres@127.0.0.1:$OLD_PORT/shop"
export TARGET_URL="postgres://postgres@127.0.0.1:$NEW_PORT/shop"
export APP_URL="postgres://app@127.0.0.1:$APP_PORT/shop"
export APP_ROLE=app HAPROXY_SOCKET=$DEMO/haproxy.sock
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
[ "$SERVED_BY" = "$NEW_PORT" ] && [ "$HISTORY_OLD" -le "$HISTORY_NEW" ]
