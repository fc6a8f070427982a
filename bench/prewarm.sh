#!/usr/bin/env bash
# First-query latency on a cold server against a prewarmed one: a throwaway
# cluster (shared_buffers 512MB) with a pgbench database at SCALE, restarted
# before every measurement (this machine may not drop the OS page cache, so
# "cold" here is empty shared buffers with the files in the OS cache — on an
# RDS instance restored from a snapshot, cold blocks come from S3 and the
# difference is far larger). The query: LOOKUPS random primary-key lookups of
# pgbench_accounts in one statement, timed by psql. Rounds interleave
#   cold       restart, then the query
#   prewarmed  restart, a playbook with one postgres.prewarm step, then the query
#
#   bash bench/prewarm.sh [path/to/cutover]
#   SCALE=20 ROUNDS=3 LOOKUPS=20000 bash bench/prewarm.sh
set -euo pipefail

BIN=${1:-target/release/cutover}
SCALE=${SCALE:-20}
ROUNDS=${ROUNDS:-3}
LOOKUPS=${LOOKUPS:-20000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/sandbox/bench-prewarm}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --bin cutover)
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/cutover
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psql_on() { "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }

down() {
  [ -d "$WORK/db" ] && as_pg "$PGBIN/pg_ctl" -D "$WORK/db" -m immediate stop >/dev/null 2>&1
  return 0
}
trap down EXIT

rm -rf "$WORK" && mkdir -p "$WORK"
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
PORT=$(free_port)
as_pg "$PGBIN/initdb" -D "$WORK/db" -A trust -U postgres >/dev/null
OPTS="-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c shared_buffers=512MB"
as_pg "$PGBIN/pg_ctl" -D "$WORK/db" -l "$WORK/db.log" -w -o "$OPTS" start >/dev/null
psql_on -c "CREATE DATABASE shop"
echo "pgbench -i -s $SCALE …"
"$PGBIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PORT" -U postgres shop >"$WORK/pgbench-init.log" 2>&1
psql_on -d shop -c "VACUUM ANALYZE" -c "CREATE EXTENSION pg_prewarm"
MB=$(psql_on -d shop -c "SELECT pg_database_size('shop') / 1048576")
ACCOUNTS=$((SCALE * 100000))

cat >"$WORK/prewarm.yaml" <<YAML
name: prewarm
steps:
  - id: prewarm
    action: postgres.prewarm
    with: { url: "postgres://postgres@127.0.0.1:$PORT/shop" }
YAML

restart() { as_pg "$PGBIN/pg_ctl" -D "$WORK/db" -l "$WORK/db.log" -w -m fast -o "$OPTS" restart >/dev/null; }
query_ms() {
  psql_on -d shop -c '\timing on' -c "SELECT sum(abalance) FROM pgbench_accounts
      WHERE aid IN (SELECT 1 + (hashint4(g) & 2147483647) % $ACCOUNTS FROM generate_series(1, $LOOKUPS) g)" \
    | awk '/^Time:/ { print $2 }'
}

cold=() warm=() prewarm_s=()
for round in $(seq 1 "$ROUNDS"); do
  restart
  cold+=("$(query_ms)")
  restart
  start=$(date +%s.%N)
  (cd "$WORK" && "$BIN" run prewarm.yaml --output text >/dev/null)
  prewarm_s+=("$(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $start }")")
  warm+=("$(query_ms)")
  echo "round $round: cold ${cold[-1]} ms, prewarmed ${warm[-1]} ms (prewarm ${prewarm_s[-1]} s)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "database ${MB} MB, $LOOKUPS random lookups: cold median $(median "${cold[@]}") ms, prewarmed median $(median "${warm[@]}") ms, prewarm median $(median "${prewarm_s[@]}") s"
