#!/usr/bin/env bash
# Template expansion (issue 12): `validate` and `plan` of playbooks with
# 100 000 `${{ … }}` references must take well under a second — expansion is
# linear in the number of references. Not a test: prints figures for
# docs/benchmarks.md.
#   1. all 100 000 references in one step's `run` string;
#   2. 1000 steps of 100 references each.
set -euo pipefail
BIN=$(realpath "${1:-target/release/cutover}")
ROUNDS=${ROUNDS:-5}
REFS=${REFS:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$REFS" <<'PY'
import sys
work, refs = sys.argv[1], int(sys.argv[2])
head = "name: bench-templates\nvars:\n  a: x\n  b: y\nsecrets: [TOKEN]\nsteps:\n"
ref = lambda i: ("${{ vars.a }}", "${{ vars.b }}", "${{ env.HOME }}", "${{ secrets.TOKEN }}")[i % 4]
with open(f"{work}/one.yaml", "w") as f:
    f.write(head)
    f.write('  - id: s1\n    action: shell\n    with: { run: "echo ' + "".join(ref(i) for i in range(refs)) + '" }\n')
with open(f"{work}/spread.yaml", "w") as f:
    f.write(head)
    per = 100
    for s in range(refs // per):
        f.write(f'  - id: s{s}\n    action: shell\n    with: {{ run: "echo ' + " ".join(ref(i) for i in range(per)) + '" }\n')
PY

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for shape in one spread; do
  for cmd in validate plan; do
    times=()
    for round in $(seq 1 "$ROUNDS"); do
      t0=$(now); "$BIN" "$cmd" "$work/$shape.yaml" >/dev/null; t1=$(now)
      times+=("$(echo "($t1 - $t0) * 1000" | bc)")
    done
    echo "$cmd $REFS references ($shape): $(printf '%s\n' "${times[@]}" | median | xargs printf '%.0f') ms (median of $ROUNDS, $(du -k "$work/$shape.yaml" | cut -f1) KiB)"
  done
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); date: $(date -u +%Y-%m-%d)"
