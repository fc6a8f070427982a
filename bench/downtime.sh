#!/usr/bin/env bash
# Write downtime of a cutover (issue: traffic). A probe commits a row through
# HAProxy every 10 ms for the whole cutover, reconnecting on any error;
# downtime = the longest gap between two commits it saw. Lost = commits the
# probe saw acknowledged that are missing on the new cluster afterwards.
# Variants, interleaved round by round on fresh sandboxes:
#   logical   playbooks/postgres-logical-cutover.yaml as shipped (row counts verified inside the freeze)
#   logical-checksum  the same with `mode: checksum` for the verify inside the freeze
#   dump      playbooks/postgres-dump-restore.yaml (writes frozen during the copy)
#   floor     the logical steps scripted by hand with psql and socat
#   pgbouncer playbooks/postgres-pgbouncer-cutover.yaml, the probe writing through PgBouncer
#   pgbouncer-floor  the same steps by hand: psql against PgBouncer's admin console
# Failed = the probe's commit attempts that got an error (goal 0 through PgBouncer).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/sandbox.sh
BIN=$PWD/target/release/cutover
PROBE=$PWD/target/release/examples/write_probe
ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-5}
WORK=$PWD/sandbox/bench-downtime
VARIANTS=${VARIANTS:-"logical logical-checksum dump floor pgbouncer pgbouncer-floor"}
psql_at() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d shop -c "$2"; }
api() { echo "$1" | socat - "UNIX-CONNECT:$HAPROXY_SOCKET"; }

run_playbook() { # playbook [sed expression]
  cp "playbooks/$1" "$WORK/pb.yaml"
  [ -n "${2:-}" ] && sed -i "$2" "$WORK/pb.yaml"
  "$BIN" run "$WORK/pb.yaml" --output text >"$WORK/run.log" 2>&1
}

admin() { "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PGB_PORT" -U admin -d pgbouncer -c "$1"; }

replicate_by_hand() {
  # Replication set up beforehand, as the playbook's `replicate` step does.
  "$PGBIN/pg_dump" --schema-only -h 127.0.0.1 -p "$OLD_PORT" -U postgres shop | "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$NEW_PORT" -U postgres -d shop >/dev/null
  psql_at "$OLD_PORT" "ALTER TABLE pgbench_history REPLICA IDENTITY FULL; CREATE PUBLICATION p FOR ALL TABLES" >/dev/null
  psql_at "$NEW_PORT" "CREATE SUBSCRIPTION s CONNECTION 'host=127.0.0.1 port=$OLD_PORT user=postgres dbname=shop' PUBLICATION p" >/dev/null
  until [ "$(psql_at "$NEW_PORT" "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ]; do sleep 0.05; done
}

catch_up_by_hand() {
  # Freeze, wait for the slot to confirm the current position, sequences.
  psql_at "$OLD_PORT" "ALTER ROLE app NOLOGIN; SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'app'" >/dev/null
  local lsn; lsn=$(psql_at "$OLD_PORT" "SELECT pg_current_wal_lsn()")
  until [ "$(psql_at "$OLD_PORT" "SELECT bool_and(confirmed_flush_lsn >= '$lsn') FROM pg_replication_slots WHERE slot_name = 's'")" = t ]; do sleep 0.01; done
  psql_at "$OLD_PORT" "SELECT format('SELECT setval(%L, %s, true);', schemaname || '.' || sequencename, last_value) FROM pg_sequences WHERE last_value IS NOT NULL" | psql_at "$NEW_PORT" "$(cat)" >/dev/null 2>&1 || true
  psql_at "$OLD_PORT" "SELECT format('SELECT setval(%L, %s, true);', schemaname || '.' || sequencename, last_value) FROM pg_sequences WHERE last_value IS NOT NULL" > "$WORK/seq.sql"
  "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$NEW_PORT" -U postgres -d shop -f "$WORK/seq.sql" >/dev/null
}

floor() {
  replicate_by_hand
  catch_up_by_hand
  api "set server db/new state ready" >/dev/null
  api "set server db/old state maint" >/dev/null
  api "shutdown sessions server db/old" >/dev/null
}

pgbouncer_floor() {
  replicate_by_hand
  admin "PAUSE shop" >/dev/null
  # PAUSE can return early (after a WAIT_CLOSE): wait for the servers to go.
  until [ -z "$(admin "SHOW SERVERS" | awk -F'|' '$3 == "shop"')" ]; do sleep 0.01; done
  catch_up_by_hand
  sed -i "s/port=$OLD_PORT/port=$NEW_PORT/" "$PGBOUNCER_INI"
  admin "RELOAD" >/dev/null
  admin "RESUME shop" >/dev/null
}

one() { # variant → prints "gap_ms lost commits took failed"
  sandbox_up "$WORK" "$SCALE"
  local url=$APP_URL
  case $1 in pgbouncer*) url=$PGB_URL; export APP_URL=$PGB_URL ;; esac
  "$PROBE" "$url" 600 >"$WORK/probe.out" 2>"$WORK/probe.err" &
  local probe=$!
  sleep 1
  local started=$(date +%s.%N)
  case $1 in
    logical) run_playbook postgres-logical-cutover.yaml ;;
    logical-checksum) run_playbook postgres-logical-cutover.yaml 's/mode: counts/mode: checksum/' ;;
    dump) run_playbook postgres-dump-restore.yaml ;;
    floor) floor ;;
    pgbouncer) run_playbook postgres-pgbouncer-cutover.yaml ;;
    pgbouncer-floor) pgbouncer_floor ;;
  esac
  local took; took=$(echo "$(date +%s.%N) - $started" | bc)
  sleep 1
  kill -TERM "$probe"; wait "$probe" || true
  local out; out=$(cat "$WORK/probe.out")
  local commits=${out#*commits=}; commits=${commits%% *}
  local gap=${out##*longest_gap_ms=}
  local failed=${out#*errors=}; failed=${failed%% *}
  local on_new; on_new=$(psql_at "$NEW_PORT" "SELECT count(*) FROM probe")
  [ -s "$WORK/probe.err" ] && sed "s/^/  $1 probe: /" "$WORK/probe.err" | head -3 >&2
  sandbox_down "$WORK"
  echo "$gap $((commits - on_new)) $commits $took $failed"
}

declare -A GAPS LOST FAILED
for round in $(seq 1 "$ROUNDS"); do
  for v in $VARIANTS; do
    read -r gap lost commits took failed < <(one "$v")
    printf 'round %d  %-15s longest gap %6s ms   lost %s of %s commits   failed %s   cutover %.1fs\n' "$round" "$v" "$gap" "$lost" "$commits" "$failed" "$took"
    GAPS[$v]="${GAPS[$v]:-} $gap"; LOST[$v]=$(( ${LOST[$v]:-0} + lost )); FAILED[$v]=$(( ${FAILED[$v]:-0} + failed ))
  done
done
echo
for v in $VARIANTS; do
  median=$(echo ${GAPS[$v]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
  printf '%-15s median longest gap %6s ms over %d rounds, lost commits in all: %s, failed attempts in all: %s\n' "$v" "$median" "$ROUNDS" "${LOST[$v]}" "${FAILED[$v]}"
done
echo "scale $SCALE; machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; date: $(date -u +%Y-%m-%d)"
