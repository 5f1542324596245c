#!/usr/bin/env bash
# Makes sure a Docker engine with Compose v2 answers, for the compose end-to-end test
# (lab/tests/compose.rs) and the compose checks of scripts/static-checks.sh.
#
# - On this project's CI and development machines (no engine running, no registry reachable),
#   ../shared/docker/ has the scripts that install and start one and build stand-ins for the
#   base images compose.yaml and the Dockerfile name: they are run when present.
# - Anywhere else (a laptop, WSL, a CI runner with Docker), the machine's own engine and
#   registry are used as they are: this only checks that they answer.
# Exits non-zero, with the reason, when no engine can be had: the tests then fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[docker-engine] %s\n' "$*" >&2; }
shared=../shared/docker

if [ -x "$shared/engine.sh" ] || [ -f "$shared/engine.sh" ]; then
    bash "$shared/engine.sh"
    bash "$shared/base-images.sh" compose.yaml Dockerfile
fi
if ! docker info >/dev/null 2>&1; then
    log "no Docker engine answers (docker info failed): start Docker (Docker Desktop, or dockerd on Linux/WSL) and run again"
    exit 1
fi
if ! docker compose version >/dev/null 2>&1; then
    log "docker answers but has no compose plugin (Compose v2): install docker-compose-plugin"
    exit 1
fi
log "$(docker version --format 'engine {{.Server.Version}}') with $(docker compose version --short | sed 's/^/compose /')"
