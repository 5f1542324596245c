#!/usr/bin/env bash
# The project's one test command (README and .ci/run call it): sets up what the tests need
# (scripts/setup.sh, scripts/docker-engine.sh), then formatting, lints, static checks of the
# container files, and the whole test suite against real PostgreSQL, MariaDB, nginx, siege and
# a Docker engine (the compose stack built and run end to end). Nothing is skipped: a test that
# needs a database or the engine fails when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# The compose end-to-end test (lab/tests/compose.rs) needs a Docker engine. Without one the
# other tests still run and that test fails, saying why: it is never skipped.
scripts/docker-engine.sh || echo "WARNING: no Docker engine: the compose end-to-end test will fail" >&2
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
echo "== browser tests (/docs and the lab's HTML pages in headless Chromium)"
scripts/browser-tests.sh
echo "== schemathesis against /openapi.json through nginx (native stack, Postgres)"
scripts/schemathesis.sh
