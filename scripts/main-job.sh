#!/usr/bin/env bash
# The main job on a machine with nothing but this repository: installs nginx and siege when
# missing, builds the release binaries, runs a short native bench on the embedded default
# (SQLite) under the tight and roomy profiles, and prints where the report and plots are.
# Extra arguments go to `lab bench` (e.g. --step-secs 30 --users 10,50,100,250,450).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --bench
cargo build --release --locked -p app -p lab
export LAB_APP_BIN="$PWD/target/release/app"
exec target/release/lab bench \
  --profile tight,roomy \
  --db sqlite \
  --scenario read,mixed \
  --users 10,50,150 \
  --step-secs 10 \
  --warmup-secs 3 \
  --label main-job \
  "$@"
