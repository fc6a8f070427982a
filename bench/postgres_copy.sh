#!/usr/bin/env bash
# postgres.copy against the usual ways of copying a database, on a throwaway
# pair of PostgreSQL clusters holding a pgbench database:
#   cutover   a playbook with one postgres.copy step (release build)
#   dump|restore   pg_dump -Fc | pg_restore
#   dir -j    pg_dump -Fd -j J, then pg_restore -j J
#   pgcopydb  pgcopydb clone --table-jobs J --index-jobs J (if installed; the
#             Debian package is installed when apt can)
# Rounds are interleaved (the order rotates each round); medians are reported:
# wall time, MB/s (the source database's size over the wall time) and, for
# cutover, its peak RSS (/usr/bin/time -v).
#
#   bash bench/postgres_copy.sh [path/to/cutover]
#   SCALE=100 ROUNDS=3 JOBS=2 bash bench/postgres_copy.sh
#   COPY_WITH=", split_above: 32MB" bash bench/postgres_copy.sh   (more fields of the step)
set -euo pipefail

BIN=${1:-target/release/cutover}
SCALE=${SCALE:-10}
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-2}
COPY_WITH=${COPY_WITH:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/sandbox/bench-postgres-copy}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release)
  BIN=$ROOT/target/release/cutover
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq time >/dev/null 2>&1 || true
fi
if ! command -v pgcopydb >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq pgcopydb >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq pgcopydb >/dev/null 2>&1; } || true
fi

. "$ROOT/bench/lib/postgres_pair.sh"
start_pair
for port in $OLD_PORT $NEW_PORT; do psql_on "$port" -c "CREATE DATABASE shop"; done
echo "pgbench -i -s $SCALE on the source …"
"$PGBIN/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$OLD_PORT" -U postgres shop >"$WORK/pgbench-init.log" 2>&1
psql_on "$OLD_PORT" -d shop -c "VACUUM ANALYZE"
SOURCE="postgres://postgres@127.0.0.1:$OLD_PORT/shop"
TARGET="postgres://postgres@127.0.0.1:$NEW_PORT/shop"
BYTES=$(psql_on "$OLD_PORT" -d shop -c "SELECT pg_database_size('shop')")
ROWS=$(psql_on "$OLD_PORT" -d shop -c "SELECT count(*) FROM pgbench_accounts")
MB=$(awk "BEGIN { printf \"%.1f\", $BYTES / 1048576 }")
echo "source: $MB MB, $ROWS pgbench_accounts rows; $ROUNDS rounds, $JOBS jobs"

cat >"$WORK/copy.yaml" <<YAML
name: bench-postgres-copy
steps:
  - id: copy
    action: postgres.copy
    with: { source: "$SOURCE", target: "$TARGET", jobs: $JOBS$COPY_WITH }
YAML

fresh_target() {
  psql_on "$NEW_PORT" -c "DROP DATABASE IF EXISTS shop WITH (FORCE)" -c "CREATE DATABASE shop"
  # Every method starts with no dirty pages of the one before: a checkpoint
  # writing them out would otherwise be charged to whichever run it lands in.
  for port in $OLD_PORT $NEW_PORT; do psql_on "$port" -c CHECKPOINT; done
}

run_cutover() {
  rm -rf "$WORK/.cutover"
  /usr/bin/time -v -o "$WORK/time.txt" "$BIN" run "$WORK/copy.yaml" --output json >"$WORK/cutover.log" 2>&1
  awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt" >"$WORK/rss.txt"
}
run_dump_restore() {
  "$PGBIN/pg_dump" -Fc -h 127.0.0.1 -p "$OLD_PORT" -U postgres shop |
    "$PGBIN/pg_restore" -h 127.0.0.1 -p "$NEW_PORT" -U postgres -d shop --exit-on-error
}
run_dir_jobs() {
  rm -rf "$WORK/dump.d"
  "$PGBIN/pg_dump" -Fd -j "$JOBS" -f "$WORK/dump.d" -h 127.0.0.1 -p "$OLD_PORT" -U postgres shop
  "$PGBIN/pg_restore" -j "$JOBS" -h 127.0.0.1 -p "$NEW_PORT" -U postgres -d shop --exit-on-error "$WORK/dump.d"
}
run_pgcopydb() {
  rm -rf "$WORK/pgcopydb"
  pgcopydb clone --source "$SOURCE" --target "$TARGET" --table-jobs "$JOBS" --index-jobs "$JOBS" \
    --dir "$WORK/pgcopydb" >"$WORK/pgcopydb.log" 2>&1
}

METHODS=(${METHODS:-cutover dump_restore dir_jobs})
[ -z "${NO_PGCOPYDB:-}" ] && command -v pgcopydb >/dev/null && METHODS+=(pgcopydb)
: >"$WORK/results.tsv"
n=${#METHODS[@]}
for round in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    method=${METHODS[$(((i + round) % n))]}
    fresh_target
    start=$(date +%s.%N)
    "run_$method" || { echo "$method failed; see $WORK" >&2; exit 1; }
    end=$(date +%s.%N)
    got=$(psql_on "$NEW_PORT" -d shop -c "SELECT count(*) FROM pgbench_accounts")
    [ "$got" = "$ROWS" ] || { echo "$method copied $got of $ROWS rows" >&2; exit 1; }
    rss=-
    [ "$method" = cutover ] && rss=$(cat "$WORK/rss.txt")
    secs=$(awk "BEGIN { printf \"%.2f\", $end - $start }")
    printf '%s\t%s\t%s\t%s\n' "$method" "$round" "$secs" "$rss" >>"$WORK/results.tsv"
    printf 'round %s  %-13s %7s s  %s\n' "$round" "$method" "$secs" "$([ "$rss" = - ] || echo "peak RSS $((rss / 1024)) MB")"
  done
done

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
echo "### postgres.copy: pgbench scale $SCALE ($MB MB, $ROWS rows in pgbench_accounts), $JOBS jobs, median of $ROUNDS interleaved rounds"
echo
echo "| method | wall time (s) | MB/s | peak RSS |"
echo "|---|---|---|---|"
for method in "${METHODS[@]}"; do
  secs=$(awk -F'\t' -v m="$method" '$1 == m { print $3 }' "$WORK/results.tsv" | median)
  rate=$(awk "BEGIN { printf \"%.1f\", $MB / $secs }")
  rss=-
  if [ "$method" = cutover ]; then
    rss="$(($(awk -F'\t' '$1 == "cutover" { print $4 }' "$WORK/results.tsv" | median | cut -d. -f1) / 1024)) MB"
  fi
  case $method in
    cutover) label="cutover postgres.copy (jobs $JOBS)" ;;
    dump_restore) label="pg_dump -Fc \| pg_restore" ;;
    dir_jobs) label="pg_dump -Fd -j $JOBS + pg_restore -j $JOBS" ;;
    pgcopydb) label="pgcopydb clone (table/index jobs $JOBS)" ;;
  esac
  echo "| $label | $(printf '%.2f' "$secs") | $rate | $rss |"
done
echo
echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ { print $2 }') GB memory; $("$PGBIN/postgres" --version); $(date -u +%Y-%m-%d)"
