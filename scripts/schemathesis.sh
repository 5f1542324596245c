#!/usr/bin/env bash
# Property-based API testing: schemathesis (PyPI) generates valid and invalid requests from the
# service's own /openapi.json and sends them THROUGH nginx to a native stack (two debug
# replicas, private Postgres), checking that
#   - no response is a 5xx (not_a_server_error),
#   - every status code is documented for its operation (status_code_conformance),
#   - every body matches its documented schema and content type,
#   - the stress endpoints refuse requests without the bearer token (ignored_auth).
# Every operation is tested except POST /start, the one that allocates (a tree of up to
# gigabytes); the other stress endpoints only read or free memory and are tested, paced under
# nginx's tighter stress rate limit so that they are not answered 429 by nginx instead.
#
# Postgres rather than SQLite: it is the compose stack's database, and the strictest of the
# three about what reaches it (NUL bytes, integer widths), so it finds what SQLite would let by.
#
#   scripts/schemathesis.sh        # root for the cgroups (else uncapped, which is fine here)
#
# Environment: SCHEMATHESIS_EXAMPLES (test cases per operation and phase, default 100; 20 for
# the stress endpoints, which are paced at 4 requests/s: SCHEMATHESIS_STRESS_EXAMPLES),
# SCHEMATHESIS_SEED (default 1: CI is reproducible; set another to explore),
# SCHEMATHESIS_TIMEOUT_SECS (hard cap per schemathesis run, default 300).
# The stack uses its own state folder (.lab/schemathesis) and ports (nginx 28080, replicas
# 28081-28082, Postgres 28432), so it never meets a stack started by `lab up` or the tests.
# Exits non-zero on any failure; the stack is always taken down.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SCHEMATHESIS_VERSION=4.32.5
VENV=$ROOT/.lab/venv
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-100}
STRESS_EXAMPLES=${SCHEMATHESIS_STRESS_EXAMPLES:-20}
SEED=${SCHEMATHESIS_SEED:-1}
RUN_TIMEOUT=${SCHEMATHESIS_TIMEOUT_SECS:-300}

export LAB_STATE_DIR=$ROOT/.lab/schemathesis
export LAB_HTTP_PORT=28080 LAB_PORT_BASE=28080 LAB_PG_PORT=28432
export LAB_APP_BIN=$ROOT/target/debug/app
# A small data set: ids 1..=N exist, so generated ids sometimes hit real rows.
export SEED_CUSTOMERS=100 SEED_DISKS=500 SEED_STOCK=1000000
STRESS_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export STRESS_TOKEN
BASE_URL=http://127.0.0.1:$LAB_HTTP_PORT
REPORT_DIR=$LAB_STATE_DIR/report
LAB=$ROOT/target/debug/lab

log() { printf '[schemathesis] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

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
    local installed
    installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)
    if [ "$installed" != "$SCHEMATHESIS_VERSION" ]; then
        log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
    fi
}

ensure_binaries() {
    if [ ! -x "$LAB_APP_BIN" ] || [ ! -x "$LAB" ]; then
        log "building the debug binaries"
        cargo build -p app -p lab
    fi
}

stack_down() {
    "$LAB" down >/dev/null 2>&1 || "$LAB" down || log "lab down failed: check $LAB_STATE_DIR"
}

# st run with the options both runs share; "$@" selects operations and adds options.
schemathesis() {
    local name=$1; shift
    log "run: $name"
    # From the state folder: schemathesis keeps its example database in ./.schemathesis.
    (cd "$LAB_STATE_DIR" && timeout --signal=INT --kill-after=10 "$RUN_TIMEOUT" \
        "$VENV/bin/st" run "$BASE_URL/openapi.json" \
        --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,ignored_auth \
        --seed "$SEED" \
        --request-timeout 10 \
        --header "Authorization: Bearer $STRESS_TOKEN" \
        --exclude-path /start \
        --report junit --report-junit-path "$REPORT_DIR/$name.xml" \
        --no-color \
        "$@")
}

ensure_venv
ensure_binaries
mkdir -p "$REPORT_DIR"
# A stack left behind by an interrupted run would hold the ports.
[ -f "$LAB_STATE_DIR/stack.json" ] && stack_down
trap stack_down EXIT
log "starting the stack (profile roomy, Postgres) on $BASE_URL"
"$LAB" up --profile roomy --db postgres

status=0
# The shop and service operations, under the profile's generous general limit.
schemathesis shop --exclude-tag stress --workers 2 --max-examples "$EXAMPLES" || status=1
# The stress endpoints: roomy lets 5 r/s (burst 5) through; stay under it.
schemathesis stress --include-tag stress --workers 1 --rate-limit 4/s \
    --max-examples "$STRESS_EXAMPLES" || status=1

if [ $status -ne 0 ]; then
    log "FAILED (reports in $REPORT_DIR; replica logs in $LAB_STATE_DIR/logs)"
    exit 1
fi
log "ok: no server error, every status, body and content type as documented"
