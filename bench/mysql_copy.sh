#!/usr/bin/env bash
# mysql.copy against the usual ways of copying a MySQL/MariaDB database, on a
# throwaway pair of MariaDB servers holding a generated shop database:
#   cutover        a playbook with one mysql.copy step (release build)
#   dump|load      mariadb-dump --single-transaction | mariadb
#   mydumper       mydumper -t J then myloader -t J (if the Debian package
#                  installs; it is installed when apt can)
# Rounds are interleaved (the order rotates each round); medians are reported:
# wall time, MB/s (the source's data + index size over the wall time) and,
# for cutover, its peak RSS (/usr/bin/time -v).
#
#   bash bench/mysql_copy.sh [path/to/cutover]
#   ROWS=4000000 ROUNDS=3 JOBS=2 bash bench/mysql_copy.sh
#   METHODS=cutover bash bench/mysql_copy.sh   (leave the slow dump|load out; NO_MYDUMPER=1 too)
set -euo pipefail

BIN=${1:-target/release/cutover}
ROWS=${ROWS:-4000000}
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/sandbox/bench-mysql-copy}
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)

if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release)
  BIN=$ROOT/target/release/cutover
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq time >/dev/null 2>&1 || true
fi
if ! command -v mydumper >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq mydumper >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq mydumper >/dev/null 2>&1; } || true
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sql_on() { local port=$1; shift; mariadb -h 127.0.0.1 -P "$port" -u root -N -B --default-character-set=utf8mb4 "$@"; }

PIDS=()
down() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  return 0
}
trap down EXIT

rm -rf "$WORK" && mkdir -p "$WORK"
OLD_PORT=$(free_port)
NEW_PORT=$(free_port)
for c in old:$OLD_PORT:1 new:$NEW_PORT:2; do
  IFS=: read -r name port id <<<"$c"
  mariadb-install-db --no-defaults --user=root --auth-root-authentication-method=normal --skip-test-db \
    --datadir="$WORK/$name" >/dev/null 2>&1
  "$MARIADBD" --no-defaults --user=root --datadir="$WORK/$name" --socket="$WORK/$name.sock" \
    --port="$port" --tmpdir="$WORK" --bind-address=127.0.0.1 --log-error="$WORK/$name.err" --pid-file="$WORK/$name.pid" \
    --server-id="$id" --log-bin=binlog --binlog-format=ROW \
    --innodb-buffer-pool-size=1G --innodb-log-file-size=512M --max-allowed-packet=64M &
  PIDS+=($!)
done
for port in $OLD_PORT $NEW_PORT; do
  for _ in $(seq 1 200); do sql_on "$port" -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.05; done
done

echo "generating $ROWS orders on the source …"
sql_on "$OLD_PORT" -e "CREATE DATABASE shop CHARACTER SET utf8mb4"
sql_on "$OLD_PORT" shop -e "
  CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(120) NOT NULL, name VARCHAR(80), created DATETIME, UNIQUE KEY (email));
  CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(12,2), status VARCHAR(16),
    note VARCHAR(255), attrs JSON, placed DATETIME(6), KEY (customer_id), KEY (placed));
  CREATE TABLE events (at DATETIME, kind VARCHAR(20), payload VARBINARY(64));
  INSERT INTO customers (email, name, created) SELECT CONCAT('user', seq, '@example.com'), CONCAT('Customer ', seq), NOW() - INTERVAL seq MINUTE FROM seq_1_to_$((ROWS / 20));
  INSERT INTO orders (customer_id, total, status, note, attrs, placed)
    SELECT 1 + seq % $((ROWS / 20)), (seq % 100000) / 7, ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'returned'),
           CONCAT('order ', seq, ' — ', REPEAT(SUBSTRING(MD5(seq), 1, 8), 10)), JSON_OBJECT('n', seq, 'gift', seq % 3 = 0),
           NOW(6) - INTERVAL seq SECOND FROM seq_1_to_$ROWS;
  INSERT INTO events SELECT NOW() - INTERVAL seq SECOND, 'click', UNHEX(SHA2(seq, 256)) FROM seq_1_to_$((ROWS / 4));
  ANALYZE TABLE customers, orders, events;"
BYTES=$(sql_on "$OLD_PORT" -e "SELECT SUM(data_length + index_length) FROM information_schema.tables WHERE table_schema = 'shop'")
MB=$(awk "BEGIN { printf \"%.1f\", $BYTES / 1048576 }")
echo "source: $MB MB (data + indexes), $ROWS orders; $ROUNDS rounds, $JOBS jobs"
SOURCE="mysql://root@127.0.0.1:$OLD_PORT/shop"
TARGET="mysql://root@127.0.0.1:$NEW_PORT/shop"

cat >"$WORK/copy.yaml" <<YAML
name: bench-mysql-copy
steps:
  - id: copy
    action: mysql.copy
    with: { source: "$SOURCE", target: "$TARGET", jobs: $JOBS }
YAML

fresh_target() {
  sql_on "$NEW_PORT" -e "DROP DATABASE IF EXISTS shop; DROP DATABASE IF EXISTS _cutover; RESET MASTER"
}

run_cutover() {
  rm -rf "$WORK/.cutover"
  /usr/bin/time -v -o "$WORK/time.txt" "$BIN" run "$WORK/copy.yaml" --output json >"$WORK/cutover.log" 2>&1
  awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time.txt" >"$WORK/rss.txt"
}
run_dump_load() {
  sql_on "$NEW_PORT" -e "CREATE DATABASE shop CHARACTER SET utf8mb4"
  mariadb-dump -h 127.0.0.1 -P "$OLD_PORT" -u root --single-transaction --hex-blob --routines --triggers shop |
    sql_on "$NEW_PORT" shop
}
run_mydumper() {
  rm -rf "$WORK/mydumper"
  mydumper -h 127.0.0.1 -P "$OLD_PORT" -u root -B shop -t "$JOBS" -r 100000 -o "$WORK/mydumper" >/dev/null 2>&1
  myloader -h 127.0.0.1 -P "$NEW_PORT" -u root -B shop -t "$JOBS" -d "$WORK/mydumper" >/dev/null 2>&1
}

METHODS=(${METHODS:-cutover dump_load})
[ -z "${NO_MYDUMPER:-}" ] && command -v mydumper >/dev/null && METHODS+=(mydumper)
: >"$WORK/results.tsv"
n=${#METHODS[@]}
for round in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((n - 1))); do
    method=${METHODS[$(((i + round) % n))]}
    fresh_target
    start=$(date +%s.%N)
    "run_$method" || { echo "$method failed; see $WORK" >&2; exit 1; }
    end=$(date +%s.%N)
    got=$(sql_on "$NEW_PORT" shop -e "SELECT COUNT(*) FROM orders")
    [ "$got" = "$ROWS" ] || { echo "$method copied $got of $ROWS orders" >&2; exit 1; }
    rss=-
    [ "$method" = cutover ] && rss=$(cat "$WORK/rss.txt")
    secs=$(awk "BEGIN { printf \"%.2f\", $end - $start }")
    printf '%s\t%s\t%s\t%s\n' "$method" "$round" "$secs" "$rss" >>"$WORK/results.tsv"
    printf 'round %s  %-10s %7s s  %s\n' "$round" "$method" "$secs" "$([ "$rss" = - ] || echo "peak RSS $((rss / 1024)) MB")"
  done
done

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo
echo "### mysql.copy: generated shop database ($MB MB data + indexes, $ROWS orders), $JOBS jobs, median of $ROUNDS interleaved rounds"
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
    cutover) label="cutover mysql.copy (jobs $JOBS)" ;;
    dump_load) label="mariadb-dump --single-transaction \| mariadb" ;;
    mydumper) label="mydumper -t $JOBS + myloader -t $JOBS" ;;
  esac
  echo "| $label | $(printf '%.2f' "$secs") | $rate | $rss |"
done
echo
echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ { print $2 }') GB memory; $("$MARIADBD" --version | head -c 60); $(date -u +%Y-%m-%d)"
