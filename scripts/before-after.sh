#!/usr/bin/env bash
# The app at two git revisions, A/B, through `lab ab`: each revision checked out in a worktree
# under .lab/ab/ and built once, then the same bench (native, tight, Postgres) alternated
# before, after, after, before..., each figure's ratio with its 95% interval and a verdict, the
# noise floor (before against itself) first.
#
#   scripts/before-after.sh <before-rev> [after-rev] [label]
#
# SCENARIO (default read), USERS (default 100) and ROUNDS (default 5) choose the step.
# Needs root for the caps and cargo to build the revisions.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?give the git revision before the change, e.g. HEAD~3}
after=${2:-HEAD}
exec "${LAB_BIN:-target/release/lab}" ab --a "git:$before" --b "git:$after" --aa \
    --runtime native --db postgres --profile tight --scenario "${SCENARIO:-read}" \
    --users "${USERS:-100}" --rounds "${ROUNDS:-5}" --step-secs 15 --warmup-secs 3 \
    --label "${3:-before-after}"
