#!/usr/bin/env bash
# Regenerates docs/explain/{postgres,mysql,sqlite}.md: seeds a scratch database of each backend
# with the lab's default sizes, then prints `app explain` into the file. Postgres and MariaDB
# come from the admin URLs the tests use (scripts/setup.sh prints them):
#   TEST_POSTGRES_URL=postgres://lab:lab@127.0.0.1:5432/postgres \
#   TEST_MYSQL_URL=mysql://lab:lab@127.0.0.1:3306/mysql scripts/explain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_POSTGRES_URL:?set TEST_POSTGRES_URL (see scripts/setup.sh)}"
: "${TEST_MYSQL_URL:?set TEST_MYSQL_URL (see scripts/setup.sh)}"
cargo build --release -q -p app
app=target/release/app
name=lab_explain
mkdir -p docs/explain
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

pg_admin=$TEST_POSTGRES_URL
pg_url=${pg_admin%/*}/$name
psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
my_admin=$TEST_MYSQL_URL
my_url=${my_admin%/*}/$name
my_host=${my_admin#*@}; my_host=${my_host%%/*}
my_cred=${my_admin#mysql://}; my_cred=${my_cred%%@*}
mariadb --protocol=tcp -h "${my_host%:*}" -P "${my_host#*:}" -u "${my_cred%%:*}" -p"${my_cred#*:}" \
    -e "DROP DATABASE IF EXISTS $name; CREATE DATABASE $name"

for pair in "postgres $pg_url" "mysql $my_url" "sqlite sqlite://$scratch/lab.db?mode=rwc"; do
    set -- $pair
    echo "explain: $1" >&2
    DATABASE_URL=$2 RUST_LOG=warn "$app" seed
    DATABASE_URL=$2 RUST_LOG=warn "$app" explain >"docs/explain/$1.md"
done
psql "$pg_admin" -qc "DROP DATABASE $name"
mariadb --protocol=tcp -h "${my_host%:*}" -P "${my_host#*:}" -u "${my_cred%%:*}" -p"${my_cred#*:}" \
    -e "DROP DATABASE $name"
