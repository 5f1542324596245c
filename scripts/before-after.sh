#!/usr/bin/env bash
# Benchmarks two builds back to back on the same machine, to show that a change kept the
# figures within noise: the same bench (native, tight, Postgres, read and mixed, 10/50/100
# users, 10 s steps) alternating before, after, before, after (each side's two runs give the
# run-to-run noise to judge the before/after ratio against), and one `lab compare` of the four.
#
#   scripts/before-after.sh <before-bin-dir> <after-bin-dir> [label]
#
# Each bin dir holds a release `lab` and `app` (e.g. a worktree's target/release). Build the
# "before" side from the older commit first:
#   git worktree add /tmp/before <commit> && cargo build --release -p app -p lab \
#     --manifest-path /tmp/before/Cargo.toml --target-dir /tmp/before-target
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?before bin dir}
after=${2:?after bin dir}
label=${3:-refactor}
args=(bench --db postgres --profile tight --scenario read,mixed --users 10,50,100
      --step-secs 10 --warmup-secs 3)
run() { # side dir
  LAB_APP_BIN="$2/app" "$2/lab" "${args[@]}" --label "$label-$1-postgres" >&2
  ls -d results/*-"$label-$1-postgres" | tail -1
}
b1=$(run before "$before")
a1=$(run after "$after")
b2=$(run before "$before")
a2=$(run after "$after")
"$after/lab" compare "$b1" "$a1" "$b2" "$a2" --out "results/compare-$label-before-after"
