#!/usr/bin/env bash
# Engine benchmarks (issue: engine core). Not a test: prints figures for
# docs/benchmarks.md.
#   1. 1000 `shell` steps running `true` vs the same 1000 commands in a bash loop
#      (each started the way cutover starts it: bash --noprofile --norc -eo pipefail -c).
#   2. `validate` and `plan` of a 5000-step playbook.
set -euo pipefail
BIN=$(realpath "${1:-target/release/cutover}")
ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gen() { # gen N FILE
  { echo "name: bench-$1"; echo "steps:"
    for i in $(seq 1 "$1"); do
      printf '  - id: s%d\n    action: shell\n    with: { run: "true" }\n' "$i"
    done; } > "$2"
}
gen 1000 "$work/steps1000.yaml"
gen 5000 "$work/steps5000.yaml"

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

loop_times=(); run_times=()
for round in $(seq 1 "$ROUNDS"); do
  t0=$(now)
  for i in $(seq 1 1000); do bash --noprofile --norc -eo pipefail -c true; done
  t1=$(now)
  "$BIN" run "$work/steps1000.yaml" --state-dir "$work/state" --output text >/dev/null
  t2=$(now)
  loop_times+=("$(echo "$t1 - $t0" | bc)"); run_times+=("$(echo "$t2 - $t1" | bc)")
done
loop=$(printf '%s\n' "${loop_times[@]}" | median)
run=$(printf '%s\n' "${run_times[@]}" | median)
echo "1000 shell steps:   cutover run ${run}s   bash loop ${loop}s   ratio $(echo "scale=2; $run / $loop" | bc)x   (median of $ROUNDS, fsync per event)"

for cmd in validate plan; do
  times=()
  for round in $(seq 1 "$ROUNDS"); do
    t0=$(now); "$BIN" "$cmd" "$work/steps5000.yaml" >/dev/null 2>&1; t1=$(now)
    times+=("$(echo "($t1 - $t0) * 1000" | bc)")
  done
  echo "$cmd 5000 steps:  $(printf '%s\n' "${times[@]}" | median | xargs printf '%.0f') ms (median of $ROUNDS)"
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); date: $(date -u +%Y-%m-%d)"
