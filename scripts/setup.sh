#!/usr/bin/env bash
# Installs and starts what the lab and its tests need, from Debian's packages, when missing:
# nginx, siege, wrk, PostgreSQL and MariaDB (started without systemd), docker-compose (for the
# static compose check), nodejs (the /docs page's test), plus the test users. Idempotent: on a
# machine that has everything it only checks. Needs root (apt-get). Prints the TEST_*_URL
# exports the test suite uses.
#
#   scripts/setup.sh            # everything (tests)
#   scripts/setup.sh --bench    # only what a native bench on SQLite needs (nginx, siege)
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
  log "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's nginx package starts a server on port 80 when installed; the lab runs its own.
stop_system_nginx() {
  if [ -f /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    log "stopping the system nginx started by the package (the lab runs its own)"
    as_root nginx -s quit 2>/dev/null || true
  fi
}

wait_for() { # wait_for SECONDS CMD...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
}

setup_bench_tools() {
  command -v nginx >/dev/null || { apt_install nginx-light; stop_system_nginx; }
  command -v siege >/dev/null || apt_install siege
  command -v wrk >/dev/null || apt_install wrk
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }

setup_postgres() {
  if ! command -v pg_isready >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
  fi
  if ! pg_up; then
    local version
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
      log "creating PostgreSQL $version cluster"
      as_root pg_createcluster "$version" main >/dev/null
    fi
    local cluster
    cluster=$(pg_lsclusters -h | head -n 1 | awk '{print $1" "$2}')
    log "starting PostgreSQL cluster $cluster"
    # shellcheck disable=SC2086
    as_root pg_ctlcluster --skip-systemctl-redirect $cluster start || true
    wait_for 30 pg_up || { log "PostgreSQL did not start"; exit 1; }
  fi
  # A password role for the tests, made through the local socket as the postgres superuser.
  as_root runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres -c \
    "DO \$\$ BEGIN
       IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lab') THEN
         CREATE ROLE lab LOGIN SUPERUSER PASSWORD 'lab';
       END IF;
     END \$\$;" >/dev/null
}

my_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u lab -plab ping 2>/dev/null | grep -q alive \
          || mariadb-admin -u root ping 2>/dev/null | grep -q alive; }

setup_mariadb() {
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server mariadb-client
  if ! my_up; then
    as_root mkdir -p /run/mysqld
    as_root chown mysql:mysql /run/mysqld
    if [ ! -d /var/lib/mysql/mysql ]; then
      log "initialising MariaDB data directory"
      as_root mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    log "starting MariaDB"
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for 60 my_up || { log "MariaDB did not start"; exit 1; }
  fi
  as_root mariadb -u root -e "
    CREATE USER IF NOT EXISTS 'lab'@'localhost' IDENTIFIED BY 'lab';
    CREATE USER IF NOT EXISTS 'lab'@'127.0.0.1' IDENTIFIED BY 'lab';
    CREATE USER IF NOT EXISTS 'lab'@'%' IDENTIFIED BY 'lab';
    GRANT ALL PRIVILEGES ON *.* TO 'lab'@'localhost' WITH GRANT OPTION;
    GRANT ALL PRIVILEGES ON *.* TO 'lab'@'127.0.0.1' WITH GRANT OPTION;
    GRANT ALL PRIVILEGES ON *.* TO 'lab'@'%' WITH GRANT OPTION;"
}

setup_static_check_tools() {
  command -v docker-compose >/dev/null || apt_install docker-compose
  command -v unshare >/dev/null || apt_install util-linux
  # The /docs page's renderer is JavaScript; app/tests/api/docs_page.rs runs it under node.
  command -v node >/dev/null || apt_install nodejs
}

case "${1:-all}" in
  --bench) setup_bench_tools ;;
  all|--all)
    setup_bench_tools
    setup_postgres
    setup_mariadb
    setup_static_check_tools
    ;;
  *) log "usage: scripts/setup.sh [--bench]"; exit 2 ;;
esac
log "ready"
