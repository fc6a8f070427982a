#!/usr/bin/env bash
# What TLS adds to a PostgreSQL connection, on a throwaway pair of clusters
# with `ssl = on` (ECDSA P-256 certificates made here with openssl) and a
# pgbench database on the source:
#   connect   N sessions opened one after another through cutover's own
#             Endpoint::connect (examples/connect_probe.rs), each running
#             SELECT 1: median and p90, for sslmode=disable, require and
#             verify-full
#   copy      a playbook with one postgres.copy step, sslmode=disable vs
#             verify-full on both ends (rounds interleaved; medians)
#
#   bash bench/postgres_tls.sh [path/to/cutover]
#   SCALE=10 ROUNDS=3 JOBS=2 CONNECTS=300 bash bench/postgres_tls.sh
set -euo pipefail

BIN=${1:-target/release/cutover}
SCALE=${SCALE:-10}
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-2}
CONNECTS=${CONNECTS:-300}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/sandbox/bench-postgres-tls}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if [ ! -x "$BIN" ] || [ ! -x "$TARGET_DIR/release/examples/connect_probe" ]; then
  (cd "$ROOT" && cargo build --release --bin cutover --example connect_probe)
  BIN=$TARGET_DIR/release/cutover
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
PROBE=$TARGET_DIR/release/examples/connect_probe

. "$ROOT/bench/lib/postgres_pair.sh"

rm -rf "$WORK" && mkdir -p "$WORK/tls"
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
(
  cd "$WORK/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
    -days 30 -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 \
    -extfile server.ext 2>/dev/null
  chmod 600 server.key
  [ "$(id -u)" = 0 ] && chown postgres server.key
  chmod 755 .
)
CA=$WORK/tls/ca.crt

OLD_PORT=$(free_port)
NEW_PORT=$(free_port)
for c in old:$OLD_PORT new:$NEW_PORT; do
  name=${c%%:*}
  port=${c##*:}
  as_pg "$PGBIN/initdb" -D "$WORK/$name" -A trust -U postgres >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$WORK/$name" -l "$WORK/$name.log" -w \
    -o "-p $port -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=60 -c max_wal_size=4GB \
        -c ssl=on -c ssl_cert_file=$WORK/tls/server.crt -c ssl_key_file=$WORK/tls/server.key" start >/dev/null
  psql_on "$port" -c "CREATE DATABASE shop"
done
echo "pgbench -i -s $SCALE on the source …"
"$PGBIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$OLD_PORT" -U postgres shop >"$WORK/pgbench-init.log" 2>&1
psql_on "$OLD_PORT" -d shop -c "VACUUM ANALYZE"
BYTES=$(psql_on "$OLD_PORT" -d shop -c "SELECT pg_database_size('shop')")
ROWS=$(psql_on "$OLD_PORT" -d shop -c "SELECT count(*) FROM pgbench_accounts")
MB=$(awk "BEGIN { printf \"%.1f\", $BYTES / 1048576 }")

url() { echo "postgres://postgres@localhost:$1/shop?$2"; }
declare -A QUERY=(
  [plain]="sslmode=disable"
  [require]="sslmode=require"
  [verify-full]="sslmode=verify-full&sslrootcert=$CA"
)

echo
echo "### connect + SELECT 1 through Endpoint::connect, $CONNECTS sessions in a row"
echo
echo "| sslmode | median (ms) | p90 (ms) |"
echo "|---|---|---|"
for mode in plain require verify-full; do
  read -r p50 p90 < <("$PROBE" "$(url "$OLD_PORT" "${QUERY[$mode]}")" "$CONNECTS")
  echo "| ${QUERY[$mode]%%&*} | $p50 | $p90 |"
done

for mode in plain verify-full; do
  cat >"$WORK/copy-$mode.yaml" <<YAML
name: bench-postgres-tls
steps:
  - id: copy
    action: postgres.copy
    with: { source: "$(url "$OLD_PORT" "${QUERY[$mode]}")", target: "$(url "$NEW_PORT" "${QUERY[$mode]}")", jobs: $JOBS }
YAML
done
: >"$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
  order=(plain verify-full)
  [ $((round % 2)) = 0 ] && order=(verify-full plain)
  for mode in "${order[@]}"; do
    psql_on "$NEW_PORT" -c "DROP DATABASE IF EXISTS shop WITH (FORCE)" -c "CREATE DATABASE shop"
    rm -rf "$WORK/.cutover"
    start=$(date +%s.%N)
    "$BIN" run "$WORK/copy-$mode.yaml" --output json >"$WORK/cutover-$mode.log" 2>&1 ||
      { echo "copy ($mode) failed; see $WORK/cutover-$mode.log" >&2; exit 1; }
    end=$(date +%s.%N)
    got=$(psql_on "$NEW_PORT" -d shop -c "SELECT count(*) FROM pgbench_accounts")
    [ "$got" = "$ROWS" ] || { echo "$mode copied $got of $ROWS rows" >&2; exit 1; }
    secs=$(awk "BEGIN { printf \"%.2f\", $end - $start }")
    printf '%s\t%s\n' "$mode" "$secs" >>"$WORK/results.tsv"
    printf 'round %s  %-12s %6s s\n' "$round" "$mode" "$secs" >&2
  done
done

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
echo "### postgres.copy: pgbench scale $SCALE ($MB MB, $ROWS rows), $JOBS jobs, median of $ROUNDS interleaved rounds"
echo
echo "| connections | wall time (s) | MB/s |"
echo "|---|---|---|"
for mode in plain verify-full; do
  secs=$(awk -F'\t' -v m="$mode" '$1 == m { print $2 }' "$WORK/results.tsv" | median)
  echo "| ${QUERY[$mode]%%&*} | $(printf '%.2f' "$secs") | $(awk "BEGIN { printf \"%.1f\", $MB / $secs }") |"
done
echo
echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ { print $2 }') GB memory; $("$PGBIN/postgres" --version); $(date -u +%Y-%m-%d)"
