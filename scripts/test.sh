#!/usr/bin/env bash
# The project's one test command (README and .ci/run call it): sets up what the tests need
# (scripts/setup.sh), then formatting, lints, static checks of the container files, and the
# whole test suite against real PostgreSQL, MariaDB, nginx and siege. Nothing is skipped: a
# test that needs a database fails when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://lab:lab@127.0.0.1:5432/postgres}"
export TEST_MYSQL_URL="${TEST_MYSQL_URL:-mysql://lab:lab@127.0.0.1:3306/mysql}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build (the lab's tests run the real app binary)"
cargo build --workspace --locked
if [ -x scripts/static-checks.sh ]; then
  echo "== static checks (compose, nginx -t, hadolint, runtime libraries)"
  scripts/static-checks.sh
fi
echo "== tests"
cargo test --workspace --locked --no-fail-fast
echo "== schemathesis against /openapi.json through nginx (native stack, Postgres)"
scripts/schemathesis.sh
