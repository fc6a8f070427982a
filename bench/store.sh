#!/usr/bin/env bash
# The shared state store's cost (docs/fleet.md): the same 1000-step playbook
# of `shell` steps running `true`, journaled in a local state directory and
# in a store (`--state postgres://…`: every journal line committed there
# before it is written locally). The store is a throwaway cluster on this
# machine with its defaults (fsync and synchronous_commit on), so the figure
# is a commit per event with no network: over a network, add a round trip
# per event (about 7 events a step).
#   bash bench/store.sh [path/to/cutover]
set -euo pipefail
BIN=$(realpath "${1:-target/release/cutover}")
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$ROOT/sandbox/bench-store}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
. "$ROOT/bench/lib/postgres_pair.sh"

start_pair
URL="postgres://postgres@127.0.0.1:$OLD_PORT/postgres"
"$BIN" state init --state "$URL" 2>/dev/null

{ echo "name: bench-store"; echo "steps:"
  for i in $(seq 1 "$STEPS"); do
    printf '  - id: s%d\n    action: shell\n    with: { run: "true" }\n' "$i"
  done; } > "$WORK/steps.yaml"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

local_times=(); store_times=()
for round in $(seq 1 "$ROUNDS"); do
  t0=$(now)
  "$BIN" run "$WORK/steps.yaml" --state-dir "$WORK/state" --output text >/dev/null
  t1=$(now)
  HOME=$WORK/home "$BIN" run "$WORK/steps.yaml" --state "$URL" --output text >/dev/null
  t2=$(now)
  local_times+=("$(echo "$t1 - $t0" | bc)"); store_times+=("$(echo "$t2 - $t1" | bc)")
done
lo=$(printf '%s\n' "${local_times[@]}" | median)
st=$(printf '%s\n' "${store_times[@]}" | median)
rows=$(psql_on "$OLD_PORT" -d postgres -c "SELECT count(*) FROM cutover.events")
per_event=$(echo "scale=3; ($st - $lo) * 1000 * $ROUNDS / $rows" | bc)
echo "$STEPS shell steps: local state ${lo}s   shared store ${st}s   ratio $(echo "scale=2; $st / $lo" | bc)x   (+${per_event} ms an event, $rows rows over $ROUNDS runs; median of $ROUNDS)"
