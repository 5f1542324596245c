#!/usr/bin/env bash
# The web pages tested in a real browser: headless Chromium (Debian's `chromium`) opens
#   - the service's /docs page, served by the debug app on SQLite: every route of the live
#     /openapi.json listed, the "Try it" form answered by the app, no console error, no request
#     leaving 127.0.0.1 (tests/browser/test_docs.py);
#   - every committed results/**/report.html, compare.html and ab.html, and a report.html that
#     `lab report` draws afresh from a fixture run, from file://: plots and tables rendered, no
#     request at all, no console error (tests/browser/test_reports.py).
# Screenshots of each page go to target/browser/ (test artifacts, never committed).
#
# Why Playwright (PyPI) and not Selenium with Debian's chromium-driver: Playwright drives the
# Debian browser named by `executable_path` (it never downloads one; it works with the packaged
# Chromium as it is) and reports every request, console message and page error as events, which
# the "nothing fetched, nothing failed" checks read directly; Selenium sees neither requests
# nor console messages without reading the browser's performance log or speaking CDP itself.
# Playwright's node driver ships inside its wheel; nothing is fetched at run time.
#
#   scripts/browser-tests.sh               # after `cargo build --workspace`
#   scripts/browser-tests.sh -k docs       # extra arguments go to pytest
#
# Installs what is missing: Debian's chromium and a font (apt, root), and a venv at
# .lab/venv-browser with pinned playwright, pytest and pytest-timeout (one bound per test).
# Builds nothing: it needs target/debug/app and target/debug/lab (`cargo build --workspace`).
# The app listens on a port the kernel picks on 127.0.0.1, with its SQLite database seeded
# small in a temporary folder, and is stopped on exit. Each test is bounded
# (BROWSER_TEST_TIMEOUT_SECS, default 120), the whole pytest run too (BROWSER_RUN_TIMEOUT_SECS,
# default 900). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PLAYWRIGHT_VERSION=1.65.3
PYTEST_VERSION=9.2.0
PYTEST_TIMEOUT_VERSION=2.4.0
VENV=$ROOT/.lab/venv-browser
CHROMIUM=/usr/bin/chromium
APP=$ROOT/target/debug/app
LAB=$ROOT/target/debug/lab
ARTIFACTS=$ROOT/target/browser
TEST_TIMEOUT=${BROWSER_TEST_TIMEOUT_SECS:-120}
RUN_TIMEOUT=${BROWSER_RUN_TIMEOUT_SECS:-900}

log() { printf '[browser-tests] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# A font too: without one the pages still pass, but every screenshot's text is boxes.
ensure_chromium() {
    local missing=() pkg
    for pkg in chromium fonts-dejavu-core; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]} (Debian)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# python3 -m venv needs Debian's python3-venv (ensurepip) on a fresh machine.
ensure_venv() {
    local python
    python=$(command -v /usr/bin/python3 || command -v python3) ||
        { log "python3 is missing (apt-get install python3)"; return 1; }
    if [ ! -x "$VENV/bin/python" ]; then
        if ! "$python" -m venv "$VENV" >/dev/null 2>&1; then
            log "installing python3-venv (python3 -m venv failed)"
            rm -rf "$VENV"
            as_root apt-get update -qq
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            "$python" -m venv "$VENV"
        fi
    fi
    local wanted="playwright==$PLAYWRIGHT_VERSION pytest==$PYTEST_VERSION pytest-timeout==$PYTEST_TIMEOUT_VERSION"
    local installed
    installed=$("$VENV/bin/python" -c 'import importlib.metadata as m
print(" ".join(p + "==" + m.version(p) for p in ("playwright", "pytest", "pytest-timeout")))' 2>/dev/null || true)
    if [ "$installed" != "$wanted" ]; then
        log "installing $wanted into $VENV"
        # shellcheck disable=SC2086
        "$VENV/bin/pip" install -q --disable-pip-version-check $wanted
    fi
}

require_binaries() {
    local bin
    for bin in "$APP" "$LAB"; do
        [ -x "$bin" ] || { log "$bin is missing: run cargo build --workspace first"; exit 1; }
    done
}

# Starts the app on 127.0.0.1:0 and sets APP_URL from the port it logs.
start_app() {
    local db_url=sqlite://$WORK/app.db
    log "seeding $db_url (20 customers, 100 disks)"
    DATABASE_URL=$db_url RUST_LOG=warn "$APP" seed --customers 20 --disks 100 >"$WORK/seed.log" 2>&1 ||
        { cat "$WORK/seed.log" >&2; log "seeding failed"; exit 1; }
    # A token nobody knows: the stress endpoints stay shut to anything else on this machine.
    STRESS_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') \
        DATABASE_URL=$db_url APP_LISTEN=127.0.0.1:0 APP_WORKERS=1 INSTANCE_NAME=browser-tests \
        RUST_LOG=info "$APP" serve >"$WORK/app.log" 2>&1 &
    APP_PID=$!
    local deadline=$((SECONDS + 30)) port=""
    until [ -n "$port" ]; do
        kill -0 "$APP_PID" 2>/dev/null || { cat "$WORK/app.log" >&2; log "the app exited"; exit 1; }
        [ $SECONDS -ge $deadline ] && { cat "$WORK/app.log" >&2; log "the app did not listen within 30 s"; exit 1; }
        sleep 0.2
        port=$(sed -n 's/.*listening on port \([0-9][0-9]*\).*/\1/p' "$WORK/app.log" | head -n 1)
    done
    APP_URL=http://127.0.0.1:$port
    log "app listening on $APP_URL (log: $WORK/app.log)"
}

cleanup() {
    local status=$?
    if [ -n "${APP_PID:-}" ] && kill -0 "$APP_PID" 2>/dev/null; then
        kill "$APP_PID" 2>/dev/null || true
        wait "$APP_PID" 2>/dev/null || true
    fi
    if [ $status -ne 0 ] && [ -f "${WORK:-}/app.log" ]; then
        log "the app's log:"
        tail -n 30 "$WORK/app.log" >&2 || true
    fi
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
    exit $status
}

require_binaries
ensure_chromium
ensure_venv
WORK=$(mktemp -d "${TMPDIR:-/tmp}/browser-tests.XXXXXX")
APP_PID=""
trap cleanup EXIT
trap 'exit 130' INT TERM
start_app
rm -rf "$ARTIFACTS" # this run's screenshots only
mkdir -p "$ARTIFACTS"

log "running tests/browser (screenshots in $ARTIFACTS)"
export APP_URL LAB_BIN=$LAB BROWSER_EXECUTABLE=$CHROMIUM BROWSER_ARTIFACTS=$ARTIFACTS REPO_ROOT=$ROOT
# Nothing written into the work tree: no __pycache__ (tests/browser/pytest.ini keeps
# .pytest_cache out too).
export PYTHONDONTWRITEBYTECODE=1
timeout --signal=INT --kill-after=15 "$RUN_TIMEOUT" \
    "$VENV/bin/python" -m pytest tests/browser --timeout "$TEST_TIMEOUT" -v "$@"
