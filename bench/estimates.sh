#!/usr/bin/env bash
# How well a rehearsal predicts the night: a copy + checksum verify playbook,
# rehearsed (`run --rehearsal --vars staging.yaml`), then `plan --measure`
# against production's source predicts the live run, which is then run and
# timed (the sum of its steps' journaled durations, what the estimate
# predicts). Two cases, each from an empty state directory:
#   quarter  rehearsal on pgbench scale SMALL (5), live on scale BIG (20)
#   same     rehearsal and live on the same scale BIG data
# For each: the prediction with --measure (scaled), without (the rehearsal's
# median, unscaled), the live figure and the errors. Goals (issue 20): within
# ±15 % on the same data, ±25 % after a quarter-size rehearsal.
#
#   bash bench/estimates.sh [path/to/cutover]
#   SMALL=5 BIG=20 ROUNDS=3 JOBS=2 bash bench/estimates.sh
set -euo pipefail

BIN=${1:-target/release/cutover}
SMALL=${SMALL:-5}
BIG=${BIG:-20}
ROUNDS=${ROUNDS:-3}
JOBS=${JOBS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/sandbox/bench-estimates}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release)
  BIN=$ROOT/target/release/cutover
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

. "$ROOT/bench/lib/postgres_pair.sh"
start_pair
# The source server holds staging (small) and production (big).
for db in staging production; do psql_on "$OLD_PORT" -c "CREATE DATABASE $db"; done
echo "pgbench -i -s $SMALL (staging) and -s $BIG (production) on the source …"
"$PGBIN/pgbench" -i -q -s "$SMALL" -h 127.0.0.1 -p "$OLD_PORT" -U postgres staging >"$WORK/pgbench-init.log" 2>&1
"$PGBIN/pgbench" -i -q -s "$BIG" -h 127.0.0.1 -p "$OLD_PORT" -U postgres production >>"$WORK/pgbench-init.log" 2>&1
for db in staging production; do psql_on "$OLD_PORT" -d "$db" -c "VACUUM ANALYZE"; done
size() { psql_on "$OLD_PORT" -d "$1" -c "SELECT pg_database_size('$1')"; }
mb() { awk "BEGIN { printf \"%.0f\", $1 / 1048576 }"; }
echo "staging $(mb "$(size staging)") MB, production $(mb "$(size production)") MB; $ROUNDS rounds, $JOBS jobs"

source_url() { echo "postgres://postgres@127.0.0.1:$OLD_PORT/$1"; }
target_url() { echo "postgres://postgres@127.0.0.1:$NEW_PORT/$1"; }

cat >"$WORK/pb.yaml" <<YAML
name: bench-estimates
vars:
  source: "$(source_url production)"
  target: "$(target_url production)"
steps:
  - id: copy
    action: postgres.copy
    with: { source: "\${{ vars.source }}", target: "\${{ vars.target }}", jobs: $JOBS }
  - id: verify
    action: postgres.verify
    with: { source: "\${{ vars.source }}", target: "\${{ vars.target }}", mode: checksum }
YAML

fresh_target() {
  psql_on "$NEW_PORT" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

# The sum of the step durations of the newest run in a state directory, in ms.
steps_ms() {
  python3 - "$1" <<'PY'
import json, os, sys
runs = os.path.join(sys.argv[1], "runs")
newest = max(os.listdir(runs), key=lambda r: os.path.getmtime(os.path.join(runs, r, "journal.jsonl")))
total = 0
for line in open(os.path.join(runs, newest, "journal.jsonl")):
    record = json.loads(line)
    if record["event"] == "step_finished":
        total += record["data"]["duration_ms"]
    if record["event"] == "run_finished" and record["data"].get("outcome") not in (None, "completed", "done"):
        sys.exit(f"run {newest} ended {record['data'].get('outcome')}")
print(total)
PY
}
plan_ms() {
  "$BIN" plan "$WORK/pb.yaml" --state-dir "$1" --output json "${@:2}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["estimate_ms"])'
}

# One case: rehearse on $1 (a database of the source), then predict and run production.
one_case() {
  local rehearse_on=$1 state="$WORK/state-$1-$2"
  rm -rf "$state"
  cat >"$WORK/rehearsal.yaml" <<YAML
source: "$(source_url "$rehearse_on")"
target: "$(target_url rehearsal)"
YAML
  fresh_target rehearsal
  "$BIN" run "$WORK/pb.yaml" --rehearsal --vars "$WORK/rehearsal.yaml" --state-dir "$state" \
    --output json >"$WORK/rehearsal-$1-$2.log" 2>&1 || { echo "rehearsal failed; see $WORK" >&2; exit 1; }
  local rehearsed unscaled scaled live
  rehearsed=$(steps_ms "$state")
  unscaled=$(plan_ms "$state")
  scaled=$(plan_ms "$state" --measure)
  "$BIN" plan "$WORK/pb.yaml" --state-dir "$state" --measure >"$WORK/plan-$1-$2.txt"
  fresh_target production
  "$BIN" run "$WORK/pb.yaml" --state-dir "$state" --output json >"$WORK/live-$1-$2.log" 2>&1 ||
    { echo "live run failed; see $WORK" >&2; exit 1; }
  live=$(steps_ms "$state")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rehearsed" "$unscaled" "$scaled" "$live" >>"$WORK/results.tsv"
  awk -v c="$1" -v r="$2" -v h="$rehearsed" -v u="$unscaled" -v s="$scaled" -v l="$live" 'BEGIN {
    printf "round %s  rehearsal on %-10s rehearsed %6.2f s  predicted %6.2f s (unscaled %6.2f s)  live %6.2f s  error %+5.1f %% (unscaled %+5.1f %%)\n",
      r, c, h / 1000, s / 1000, u / 1000, l / 1000, (s - l) * 100 / l, (u - l) * 100 / l }'
}

: >"$WORK/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
  one_case staging "$round"
  one_case production "$round"
done

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
column_of() { awk -F'\t' -v c="$1" -v k="$2" '$1 == c { print $k }' "$WORK/results.tsv"; }
errors_of() { awk -F'\t' -v c="$1" -v k="$2" '$1 == c { printf "%+.1f\n", ($k - $6) * 100 / $6 }' "$WORK/results.tsv"; }
echo
echo "### Estimates: copy + checksum verify, pgbench scale $SMALL / $BIG, $JOBS jobs, $ROUNDS rounds"
echo
echo "| rehearsal on | rehearsed (s) | predicted, --measure (s) | unscaled (s) | live (s) | error, --measure (each round) | error, unscaled (each round) | goal |"
echo "|---|---|---|---|---|---|---|---|"
for c in staging production; do
  case $c in
    staging) label="scale $SMALL (a quarter)"; goal="±25 %" ;;
    production) label="scale $BIG (the same data)"; goal="±15 %" ;;
  esac
  secs() { column_of "$c" "$1" | median | awk '{ printf "%.2f", $1 / 1000 }'; }
  list() { errors_of "$c" "$1" | paste -sd ' ' | sed 's/ /, /g; s/$/ %/'; }
  echo "| $label | $(secs 3) | $(secs 5) | $(secs 4) | $(secs 6) | $(list 5) | $(list 4) | $goal |"
done
echo
echo "(seconds: medians over the rounds; errors: (predicted − live) ÷ live, per round)"
echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ { print $2 }') GB memory; $("$PGBIN/postgres" --version); $(date -u +%Y-%m-%d)"
