#!/usr/bin/env bash
# Offline checks of the Kubernetes manifests (k8s/, docs/kubernetes.md); no cluster needed:
#   1. the generated files (nginx.conf copy, one overlay per profile) match their sources;
#   2. every overlay and the bench kustomization render with kustomize v2.0.3 (Debian's
#      kubernetes-client, kubectl 1.20: unpacked, not installed) and, when this machine has
#      one, with a kustomize v4+ (`kustomize`, or the one in kubectl 1.21+): both must give the
#      same objects (generated names' content hashes aside);
#   3. each render matches its profile's caps, the repository's nginx.conf and compose.yaml's
#      images, and every reference in it resolves (scripts/k8s.py verify);
#   4. each render passes kubernetes-validate --strict (PyPI, pinned) against the schemas of
#      the oldest and newest Kubernetes versions named below.
# Installs what it needs when missing (apt, pip into a cache folder); exits non-zero on failure.
# With K8S_RENDER_DIR set, leaves each render there as <overlay>.yaml (static-checks.sh runs
# nginx -t on nginx.conf as the overlays' nginx pods render it).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/record-lab
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
KUBE_VALIDATE_VERSION=1.37.0
# autoscaling/v2 is GA from 1.23; 1.27 is the oldest release whose kubectl has kustomize v5.
K8S_VERSIONS=(1.27.0 1.37.0)
FAILED=0

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; FAILED=1; }
ok() { printf 'ok: %s\n' "$*"; }

say "k8s: generated files against nginx.conf and profiles/"
python3 scripts/k8s.py check || fail "k8s/ is out of date: run python3 scripts/k8s.py generate"

# Debian's kubectl 1.20, unpacked into the cache (installing it would replace a newer kubectl).
old_kubectl=$CACHE/kubernetes-client/usr/bin/kubectl
if [ ! -x "$old_kubectl" ]; then
    mkdir -p "$CACHE/kubernetes-client"
    (
        cd "$WORK"
        apt-get download kubernetes-client >/dev/null 2>&1 ||
            { apt-get update -qq && apt-get download kubernetes-client >/dev/null; }
        dpkg-deb -x kubernetes-client_*.deb "$CACHE/kubernetes-client"
    ) || { echo "cannot fetch Debian's kubernetes-client (apt-get download)" >&2; exit 1; }
fi
renderers=("$old_kubectl kustomize")
labels=("kustomize v2.0.3 (Debian's kubectl 1.20)")
# A newer kustomize when the machine has one.
if command -v kustomize >/dev/null 2>&1; then
    renderers+=("kustomize build")
    labels+=("kustomize $(kustomize version 2>/dev/null | head -1)")
elif command -v kubectl >/dev/null 2>&1 &&
    version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p') &&
    [ -n "$version" ]; then
    renderers+=("kubectl kustomize")
    labels+=("kustomize $version (kubectl on PATH)")
else
    echo "note: no kustomize v4+ on this machine: rendering with v2.0.3 only"
fi

VENV=$CACHE/kubernetes-validate-$KUBE_VALIDATE_VERSION
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    python3 -m venv "$VENV" 2>/dev/null || {
        [ "$(id -u)" -eq 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV"
    }
    "$VENV/bin/pip" install -q "kubernetes-validate==$KUBE_VALIDATE_VERSION"
fi

# Generated objects' names end in a content hash, computed differently by each kustomize.
normalize() {
    python3 -c '
import json, re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
text = json.dumps(sorted(docs, key=lambda d: (d["kind"], d["metadata"]["name"])), sort_keys=True, indent=1)
print(re.sub(r"\b(nginx-conf|postgres)-[a-z0-9]{10}\b", r"\1-HASH", text))
' "$1"
}

targets=(bench)
for overlay in k8s/overlays/*/; do
    targets+=("$(basename "$overlay")")
done
for target in "${targets[@]}"; do
    dir=k8s/overlays/$target
    [ "$target" = bench ] && dir=k8s/bench
    say "k8s: $dir"
    for i in "${!renderers[@]}"; do
        out=$WORK/$target.$i.yaml
        # v5 prints its deprecation notices for bases/patchesStrategicMerge (kept for v2.0.3).
        if ${renderers[$i]} "$dir" >"$out" 2>"$WORK/err"; then
            ok "rendered by ${labels[$i]}: $(grep -c '^kind:' "$out") objects"
        else
            fail "$dir does not render with ${labels[$i]}: $(grep -v '^# Warning' "$WORK/err")"
            continue
        fi
        if [ "$i" -gt 0 ] && ! diff <(normalize "$WORK/$target.0.yaml") <(normalize "$out") >"$WORK/diff"; then
            fail "$dir: ${labels[$i]} renders other objects than ${labels[0]}:"
            head -40 "$WORK/diff" >&2
        fi
    done
    [ -s "$WORK/$target.0.yaml" ] || continue
    for version in "${K8S_VERSIONS[@]}"; do
        if "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$WORK/$target.0.yaml" \
            $([ "$target" = bench ] && echo k8s/bench/results-pod.yaml) >"$WORK/validate" 2>&1; then
            ok "kubernetes-validate --strict, Kubernetes $version"
        else
            fail "$dir against the Kubernetes $version schemas:"
            cat "$WORK/validate" >&2
        fi
    done
done

for target in "${targets[@]}"; do
    [ "$target" = bench ] && continue
    [ -s "$WORK/$target.0.yaml" ] && [ -s "$WORK/bench.0.yaml" ] || continue
    python3 scripts/k8s.py verify "$target" "$WORK/$target.0.yaml" "$WORK/bench.0.yaml" ||
        fail "overlay $target"
done

if [ -n "${K8S_RENDER_DIR:-}" ]; then
    mkdir -p "$K8S_RENDER_DIR"
    for target in "${targets[@]}"; do
        [ -s "$WORK/$target.0.yaml" ] && cp "$WORK/$target.0.yaml" "$K8S_RENDER_DIR/$target.yaml"
    done
fi

if [ "$FAILED" -ne 0 ]; then
    echo "k8s checks: FAILED" >&2
    exit 1
fi
echo "k8s checks: all passed"
