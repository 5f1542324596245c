#!/usr/bin/env bash
# The service alone, measured: ONE replica of the release build in a cgroup capped at 1 CPU,
# over Postgres, driven by wrk on 127.0.0.1 (no nginx, no rate limit).
#
# Reports, for GET /disks/{id} (random ids) and POST /orders (random customer and disk):
# requests/s, p99 latency, and CPU microseconds per request = CPU time the replica's cgroup
# used (cpuacct / cpu.stat) divided by the requests answered. Also the replica's idle RSS and
# its peak RSS while 450 connections hit it.
#
# Usage (as root, for the cgroup):
#   siege/service-bench.sh [POSTGRES_ADMIN_URL]
#     default admin URL: postgres://postgres@127.0.0.1:5432/postgres
#   A throwaway database is created on that server, seeded, and dropped at the end.
# Knobs (environment): DURATION (s, default 15), CONNECTIONS (default 64), WRK_THREADS (1),
#   PORT (18180), SEED_DISKS (100000), SEED_CUSTOMERS (1000), DB_POOL_MAX (app default),
#   APP_BIN (default: target/release/app, built when missing or BUILD=1).
# Targets (issue 2): < 50 µs CPU per read; idle RSS < 20 MB; < 60 MB at 450 connections.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL="${1:-postgres://postgres@127.0.0.1:5432/postgres}"
DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-64}"
WRK_THREADS="${WRK_THREADS:-1}"
PORT="${PORT:-18180}"
SEED_DISKS="${SEED_DISKS:-100000}"
SEED_CUSTOMERS="${SEED_CUSTOMERS:-1000}"
APP_BIN="${APP_BIN:-target/release/app}"
NAME="shop_bench_$$"
BASE="http://127.0.0.1:${PORT}"
WORK="$(mktemp -d)"

die() { echo "service-bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it creates a cgroup)"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
command -v psql >/dev/null || die "psql is missing (apt-get install postgresql-client)"
command -v curl >/dev/null || die "curl is missing"

# --- cgroup: v2 when the unified hierarchy is mounted alone, else v1 cpu+cpuacct+memory ----
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  CG_VERSION=2
  CG_DIRS=("/sys/fs/cgroup/${NAME}")
else
  CG_VERSION=1
  # cpu and cpuacct may be one mount (cpu,cpuacct) reached through two symlinks: dedupe.
  CG_DIRS=()
  while read -r dir; do CG_DIRS+=("$dir"); done < <(
    for controller in cpu cpuacct memory; do
      echo "$(readlink -f "/sys/fs/cgroup/${controller}")/${NAME}"
    done | sort -u)
fi

APP_PID=""
cleanup() {
  set +e
  if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
    kill "$APP_PID"; wait "$APP_PID" 2>/dev/null
  fi
  for dir in "${CG_DIRS[@]}"; do [ -d "$dir" ] && rmdir "$dir" 2>/dev/null; done
  psql "$ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS \"${NAME}\" WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# --- build, database, seed ----------------------------------------------------------------
if [ ! -x "$APP_BIN" ] || [ "${BUILD:-0}" = 1 ]; then
  echo "== building the release binary"
  cargo build --release -p app >&2
fi
DB_URL="$(printf '%s' "$ADMIN_URL" | sed -E "s#^([a-z]+://[^/]+)(/[^?]*)?#\1/${NAME}#")"
psql "$ADMIN_URL" -qAtc "CREATE DATABASE \"${NAME}\"" >/dev/null
echo "== seeding ${SEED_CUSTOMERS} customers and ${SEED_DISKS} disks"
DATABASE_URL="$DB_URL" RUST_LOG=warn "$APP_BIN" seed --customers "$SEED_CUSTOMERS" \
  --disks "$SEED_DISKS" --stock 1000000000 --reset

# --- start one replica inside the cgroup, capped at 1 CPU --------------------------------
for dir in "${CG_DIRS[@]}"; do mkdir -p "$dir"; done
if [ "$CG_VERSION" = 2 ]; then
  echo "+cpu +memory" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
  echo "100000 100000" > "${CG_DIRS[0]}/cpu.max"
else
  cpu_dir="$(readlink -f /sys/fs/cgroup/cpu)/${NAME}"
  echo 100000 > "${cpu_dir}/cpu.cfs_period_us"
  echo 100000 > "${cpu_dir}/cpu.cfs_quota_us"
fi
cpu_usage_ns() {
  if [ "$CG_VERSION" = 2 ]; then
    awk '$1 == "usage_usec" { print $2 * 1000 }' "${CG_DIRS[0]}/cpu.stat"
  else
    cat "$(readlink -f /sys/fs/cgroup/cpuacct)/${NAME}/cpuacct.usage"
  fi
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/${APP_PID}/status"; }

# The child joins every cgroup before exec'ing the app, so no thread starts outside the cap.
# APP_WORKERS is left unset: the app derives 1 worker from the 1-CPU quota itself.
CG_LIST="${CG_DIRS[*]}" APP_BIN="$APP_BIN" DATABASE_URL="$DB_URL" \
  APP_LISTEN="127.0.0.1:${PORT}" INSTANCE_NAME=bench RUST_LOG=info \
  sh -c 'for d in $CG_LIST; do echo $$ > "$d/cgroup.procs"; done; exec "$APP_BIN"' \
  > "$WORK/app.log" 2>&1 &
APP_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "$BASE/ready" >/dev/null 2>&1 && break
  kill -0 "$APP_PID" 2>/dev/null || { cat "$WORK/app.log" >&2; die "the app exited"; }
  sleep 0.1
done
curl -fsS "$BASE/ready" >/dev/null || die "the app never became ready"
curl -fsS "$BASE/disks/1" >/dev/null
sleep 1
IDLE_RSS_KB="$(rss_kb)"

# --- load ---------------------------------------------------------------------------------
cat > "$WORK/read.lua" <<LUA
math.randomseed(42)
request = function()
  return wrk.format("GET", "/disks/" .. math.random(1, ${SEED_DISKS}))
end
LUA
cat > "$WORK/order.lua" <<LUA
math.randomseed(7)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local body = string.format('{"customer_id":%d,"disk_id":%d,"quantity":1}',
    math.random(1, ${SEED_CUSTOMERS}), math.random(1, ${SEED_DISKS}))
  return wrk.format(nil, "/orders", nil, body)
end
LUA

# Runs wrk; prints "requests rps p99_ms cpu_us_per_request non2xx".
measure() {
  local script="$1" connections="$2" duration="$3" out="$WORK/wrk.txt"
  local cpu_before cpu_after requests
  cpu_before="$(cpu_usage_ns)"
  wrk -t"$WRK_THREADS" -c"$connections" -d"${duration}s" --timeout 10s --latency \
    -s "$script" "$BASE" > "$out"
  cpu_after="$(cpu_usage_ns)"
  requests="$(awk '/requests in/ { print $1 }' "$out")"
  awk -v req="$requests" -v cpu_ns="$((cpu_after - cpu_before))" '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { p99 = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $5 }
    END {
      # wrk prints latencies with units: us, ms or s.
      if (p99 ~ /us$/) { sub(/us$/, "", p99); p99 = p99 / 1000 }
      else if (p99 ~ /ms$/) { sub(/ms$/, "", p99) }
      else if (p99 ~ /s$/) { sub(/s$/, "", p99); p99 = p99 * 1000 }
      printf "%d %.0f %.2f %.1f %d\n", req, rps, p99, cpu_ns / 1000 / req, non2xx + 0
    }' "$out"
}

echo "== warm-up (5 s, not counted)"
measure "$WORK/read.lua" "$CONNECTIONS" 5 >/dev/null
echo "== GET /disks/{id}: ${CONNECTIONS} connections, ${DURATION} s"
read -r R_REQ R_RPS R_P99 R_CPU R_BAD < <(measure "$WORK/read.lua" "$CONNECTIONS" "$DURATION")
echo "== POST /orders: ${CONNECTIONS} connections, ${DURATION} s"
read -r O_REQ O_RPS O_P99 O_CPU O_BAD < <(measure "$WORK/order.lua" "$CONNECTIONS" "$DURATION")

echo "== GET /disks/{id} at 450 connections, 10 s, sampling RSS"
PEAK_RSS_KB=0
( measure "$WORK/read.lua" 450 10 > "$WORK/c450.txt" ) &
LOAD_PID=$!
while kill -0 "$LOAD_PID" 2>/dev/null; do
  now="$(rss_kb)"; [ "${now:-0}" -gt "$PEAK_RSS_KB" ] && PEAK_RSS_KB="$now"
  sleep 0.2
done
wait "$LOAD_PID"
read -r H_REQ H_RPS H_P99 H_CPU H_BAD < "$WORK/c450.txt"
kill -0 "$APP_PID" 2>/dev/null || die "the app died under load: $(tail -5 "$WORK/app.log")"

# --- report -------------------------------------------------------------------------------
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
cat <<REPORT

Service alone: 1 replica, cgroup v${CG_VERSION} capped at 1 CPU, Postgres, wrk -t${WRK_THREADS}
App: $(grep -o 'starting: .*' "$WORK/app.log" | head -1)
| load                         | requests | req/s   | p99 ms  | CPU µs/req | non-2xx |
|------------------------------|----------|---------|---------|------------|---------|
| GET /disks/{id}, ${CONNECTIONS} conn     | ${R_REQ} | ${R_RPS} | ${R_P99} | ${R_CPU} | ${R_BAD} |
| POST /orders, ${CONNECTIONS} conn        | ${O_REQ} | ${O_RPS} | ${O_P99} | ${O_CPU} | ${O_BAD} |
| GET /disks/{id}, 450 conn    | ${H_REQ} | ${H_RPS} | ${H_P99} | ${H_CPU} | ${H_BAD} |

RSS idle: $(mb "$IDLE_RSS_KB") MB (target < 20); peak at 450 connections: $(mb "$PEAK_RSS_KB") MB (target < 60)
CPU per read: ${R_CPU} µs (target < 50; the seeds' Flask stack: ~740)
REPORT
