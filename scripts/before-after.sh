#!/usr/bin/env bash
# Benchmarks two builds back to back on the same machine: the same bench (native, tight,
# Postgres) alternating before, after, before, after (each side's two runs give the run-to-run
# noise to judge the before/after ratio against), and one `lab compare` of the runs.
#
#   scripts/before-after.sh <before-bin-dir> <after-bin-dir> [label]
#
# Each bin dir holds a release `lab` and `app`. Build the "before" side from the older commit
# in its own worktree AND its own target dir (workspace crates hash the same in any checkout,
# so a shared target dir hands one side's binaries to the other):
#   git worktree add /tmp/before <commit> && cargo build --release -p app -p lab \
#     --manifest-path /tmp/before/Cargo.toml --target-dir /tmp/before-target
#
# Each side uses its own lab, so each runs its own scenario files. When the scenarios changed
# between the two (the `after` one uses an API the `before` app lacks), SAME_URLS=1 adds a
# third side, "after-app-before-urls": the new app driven by the old lab, so the win of the
# service alone is shown apart from the win of the new API.
# SCENARIOS (default read,mixed) and USERS (default 10,50,100) choose the steps.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?before bin dir}
after=${2:?after bin dir}
label=${3:-refactor}
args=(bench --db postgres --profile tight --scenario "${SCENARIOS:-read,mixed}"
      --users "${USERS:-10,50,100}" --step-secs 10 --warmup-secs 3)
run() { # side lab-dir app-dir
  # Each side keeps its own state folder: the native database persists between runs, and an
  # older app refuses a database a newer one migrated.
  LAB_APP_BIN="$3/app" "$2/lab" "${args[@]}" --state-dir ".lab/before-after-$1" \
    --label "$label-$1-postgres" >&2
  ls -d results/*-"$label-$1-postgres" | tail -1
}
runs=()
for _ in 1 2; do
  runs+=("$(run before "$before" "$before")")
  runs+=("$(run after "$after" "$after")")
  if [ "${SAME_URLS:-0}" = 1 ]; then
    runs+=("$(run after-app-before-urls "$before" "$after")")
  fi
done
"$after/lab" compare "${runs[@]}" --out "results/compare-$label-before-after"
