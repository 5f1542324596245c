#!/usr/bin/env bash
# The same stack natively (lab up's processes under cgroup caps) and under compose (the
# containers compose.yaml caps), A/B through `lab ab`: one profile, one scenario, one load,
# alternated, each figure's ratio with its 95% interval. What the container path costs.
#
#   scripts/native-vs-compose.sh [profile] [rounds]
#
# SCENARIO (default read) and USERS (default 100) choose the step. Needs root (native cgroups)
# and a Docker engine with Compose v2; where containers may not raise their open-file limit to
# 65536, set LAB_NOFILE lower (compose.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-tight}
exec "${LAB_BIN:-target/release/lab}" ab --a runtime:native --b runtime:compose \
    --db postgres --profile "$profile" --scenario "${SCENARIO:-read}" --users "${USERS:-100}" \
    --rounds "${2:-5}" --step-secs 15 --warmup-secs 5 --label "native-vs-compose-$profile"
