#!/usr/bin/env bash
# What the hooks cost: the bench runner's pingpong and threadring (and any other cases
# named) on one worker and on the ManualScheduler, in four states run in turn, round
# after round, in one sitting (BENCHMARKS.md, "Hooks"):
#
#   no-hooks   zeta-bench built without zeta's `observe` feature: no hook code at all
#   none       built with it, no observer installed
#   noop       built with it, a NoopObserver (wants no frequent hook)
#   runs       built with it, an observer counting every run (Interests::RUNS)
#
#   scripts/hooks-cost.sh                       # 5 rounds, pingpong threadring, scale 1
#   ROUNDS=3 SCALE=0.5 scripts/hooks-cost.sh pingpong
#
# Each run prints ns/op and its own floor's ns/op (the hand-rolled single-thread loop,
# run by the same process just before): a state's cost is read against the no-hooks
# runs of the same round, and the floor column shows how the machine moved meanwhile.
# The table at the end gives, per case, mode and state, the median ns/op over the
# rounds and the median ratio to the floor.
#
# Needs cargo and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-5}"
SCALE="${SCALE:-1}"
cases=("$@")
[[ ${#cases[@]} -gt 0 ]] || cases=(pingpong threadring)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build --release --locked -q -p zeta-bench --bin zeta-bench
cp target/release/zeta-bench "$work/no-hooks"
cargo build --release --locked -q -p zeta-bench --bin zeta-bench --features observe
cp target/release/zeta-bench "$work/hooks"

echo "hooks-cost: $ROUNDS rounds, scale $SCALE, cases ${cases[*]}, $(rustc --version)"
for round in $(seq 1 "$ROUNDS"); do
  for mode in "--workers 1" "--manual"; do
    for state in no-hooks none noop runs; do
      binary="$work/hooks"
      [[ $state == no-hooks ]] && binary="$work/no-hooks"
      observer="$state"
      [[ $state == no-hooks ]] && observer=none
      # shellcheck disable=SC2086 # $mode is two words on purpose
      ZETA_BENCH_OBSERVER="$observer" "$binary" "${cases[@]}" $mode --scale "$SCALE" --json \
        2>/dev/null >"$work/${round}_${mode//[- ]/}_$state.json"
    done
  done
  echo "round $round done"
done

python3 - "$work" "$ROUNDS" <<'PY'
import glob, json, os, statistics, sys

work, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
for path in sorted(glob.glob(os.path.join(work, "*.json"))):
    round_, mode, state = os.path.basename(path)[:-5].split("_", 2)
    with open(path) as f:
        doc = json.load(f)
    for case in doc["cases"]:
        if not case["ok"] or not case["floor"]["ok"]:
            sys.exit(f"hooks-cost: {case['name']} failed in {path}")
        key = (case["name"], mode, state)
        rows.setdefault(key, []).append((case["ns_per_op"], case["floor"]["ns_per_op"]))

states = ["no-hooks", "none", "noop", "runs"]
print()
print("| case | mode | " + " | ".join(states) + " | floor |")
print("|---|---|" + "--:|" * (len(states) + 1))
for name, mode in sorted({(n, m) for n, m, _ in rows}):
    cells, floors = [], []
    for state in states:
        runs = rows.get((name, mode, state), [])
        ns = statistics.median(r[0] for r in runs)
        ratio = statistics.median(r[0] / r[1] for r in runs)
        floors.extend(r[1] for r in runs)
        cells.append(f"{ns:.1f} ({ratio:.2f})")
    print(f"| {name} | {mode} | " + " | ".join(cells) + f" | {statistics.median(floors):.1f} |")
print()
print(f"ns/op, median of {rounds} rounds (median ratio to the floor of the same run)")
PY
