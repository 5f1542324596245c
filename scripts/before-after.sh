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
# RUNTIME=compose benches the compose stack instead: each side then runs from its own source
# tree, so compose builds that side's image from its own Dockerfile and compose.yaml; give the
# "before" tree as BEFORE_SRC (the worktree above), and AFTER_SRC when the "after" side is not
# this tree as committed (compose builds from the files, uncommitted edits included). Results of
# both sides land in ./results. Where containers may not raise their open-file limit to
# 65536, set LAB_NOFILE lower (compose.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
before=$(cd "${1:?before bin dir}" && pwd)
after=$(cd "${2:?after bin dir}" && pwd)
label=${3:-refactor}
runtime=${RUNTIME:-native}
root=$(pwd)
case "$runtime" in
  native) before_src=$root ;;
  compose) before_src=$(cd "${BEFORE_SRC:?RUNTIME=compose needs BEFORE_SRC, the source tree of the before side}" && pwd) ;;
  *) echo "RUNTIME must be native or compose" >&2; exit 2 ;;
esac
args=(bench --runtime "$runtime" --db postgres --profile tight --scenario "${SCENARIOS:-read,mixed}"
      --users "${USERS:-10,50,100}" --step-secs 10 --warmup-secs 3 --results "$root/results")
run() { # side lab-dir app-dir source-tree
  # Each side keeps its own state folder: the native database persists between runs, and an
  # older app refuses a database a newer one migrated. Under compose each side's tree is its
  # own compose project (its own images and database volume).
  (cd "$4" && LAB_APP_BIN="$3/app" "$2/lab" "${args[@]}" \
    --state-dir "$root/.lab/before-after-$runtime-$1" --label "$label-$1-postgres" >&2)
  ls -d results/*-"$label-$1-postgres" | tail -1
}
runs=()
for _ in 1 2; do
  runs+=("$(run before "$before" "$before" "$before_src")")
  runs+=("$(run after "$after" "$after" "${AFTER_SRC:-$root}")")
  if [ "${SAME_URLS:-0}" = 1 ]; then
    [ "$runtime" = native ] || { echo "SAME_URLS needs RUNTIME=native" >&2; exit 2; }
    runs+=("$(run after-app-before-urls "$before" "$after" "$root")")
  fi
done
"$after/lab" compare "${runs[@]}" --out "results/compare-$label-before-after"
