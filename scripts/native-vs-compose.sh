#!/usr/bin/env bash
# The committed compose runs and their native counterpart, back to back on one machine:
#   1. compose, tight, from the bench container (the Docker path of docs/stack.md);
#   2. compose, roomy, the same way;
#   3. native, tight (lab up's processes under cgroup caps), the same scenarios and steps;
#   4. lab compare of the three.
# Postgres, read and mixed, 10-450 users, 15 s a step after 5 s of warm-up, one SLO.
# Needs root (native cgroups), a Docker engine with Compose v2, and the release binaries
# (cargo build --release -p app -p lab). Extra arguments go to every `lab bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

common=(--scenario read,mixed --users 10,50,100,250,450 --step-secs 15 --warmup-secs 5
        --slo 'p99_ms<250,availability>=99.9' "$@")
[ -f .env ] || { cp .env.example .env; sed -i "s/^STRESS_TOKEN=.*/STRESS_TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')/" .env; }
newest() { ls -d results/*-"$1" | sort | tail -n 1; }

for profile in tight roomy; do
    docker compose --env-file .env --env-file "profiles/$profile.env" up -d --build --wait
    # lab exits 2 when an SLO fails: the run is still complete and kept.
    docker compose --env-file .env --env-file "profiles/$profile.env" --profile bench run --rm --build bench \
        bench --runtime compose --profile "$profile" --label "compose-$profile-postgres" "${common[@]}" || [ $? -eq 2 ]
done
docker compose down -v

export LAB_APP_BIN="$PWD/target/release/app"
target/release/lab bench --runtime native --db postgres --profile tight --label native-tight-postgres \
    "${common[@]}" || [ $? -eq 2 ]

target/release/lab compare "$(newest native-tight-postgres)" "$(newest compose-tight-postgres)" \
    "$(newest compose-roomy-postgres)" --out results/compare-native-vs-compose-postgres
