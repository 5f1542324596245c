#!/usr/bin/env bash
# nginx configuration A/B: the repository's nginx.conf (A) against the same file with a patch
# from nginx/experiments/ applied (B), through `lab ab` (alternated runs, each figure's ratio
# with its 95% interval and a verdict). A change to nginx.conf is kept only when B is better
# beyond noise.
#
#   scripts/nginx-ab.sh nginx/experiments/<name>.patch [rounds]
#
# The default step is where nginx is the limit: native, `tight` (nginx at 0.1 CPU), Postgres,
# reads by id at 100 users; SCENARIO, USERS and RUNTIME change it. Needs root for the caps.
set -euo pipefail
cd "$(dirname "$0")/.."
patch_file=$(realpath "${1:?give a patch of nginx.conf, e.g. nginx/experiments/<name>.patch}")
rounds=${2:-5}
name=$(basename "$patch_file" .patch)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp nginx.conf "$work/nginx.conf"
patch -s -d "$work" -p1 <"$patch_file" || { echo "the patch no longer applies to nginx.conf" >&2; exit 1; }
mkdir -p nginx/experiments/applied
cp "$work/nginx.conf" "nginx/experiments/applied/$name.conf"
exec "${LAB_BIN:-target/release/lab}" ab --a base --b "nginx:nginx/experiments/applied/$name.conf" \
    --runtime "${RUNTIME:-native}" --db postgres --profile tight \
    --scenario "${SCENARIO:-siege/urls/by-id.txt}" --users "${USERS:-100}" \
    --rounds "$rounds" --step-secs 15 --warmup-secs 3 --label "nginx-ab-$name"
