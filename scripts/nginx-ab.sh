#!/usr/bin/env bash
# nginx configuration A/B: the repository's nginx.conf (A) against the same file with a patch
# applied (B), with the same binaries and the same bench, alternated A, B, A, B ... RUNS times
# a side, then one `lab compare` and a table of each run's throughput and nginx's CPU per
# proxied request (its CPU seconds over the requests it logged), with each side's mean and
# spread. A change to nginx.conf is kept only when B beats A by more than the spread.
#
#   scripts/nginx-ab.sh nginx/experiments/<name>.patch [runs]
#
# The default step is where nginx is the limit: native, `tight` (nginx at 0.1 CPU), Postgres,
# reads by id (`siege/urls/by-id.txt`) at 100 users; SCENARIO and USERS change it. Needs
# release binaries (cargo build --release -p app -p lab) and root for the caps, like `lab bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
patch_file=$(realpath "${1:?give a patch of nginx.conf, e.g. nginx/experiments/<name>.patch}")
runs=${2:-5}
name=$(basename "$patch_file" .patch)
root=$PWD
lab=${LAB_BIN:-$root/target/release/lab}
export LAB_APP_BIN=${LAB_APP_BIN:-$root/target/release/app}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# lab finds its repository (profiles, scenarios, nginx.conf) from the folder it runs in.
for side in a b; do
    mkdir -p "$work/$side"
    cp -r profiles siege nginx nginx.conf "$work/$side/"
done
patch -s -d "$work/b" -p1 <"$patch_file" || { echo "the patch no longer applies to nginx.conf" >&2; exit 1; }
args=(bench --db postgres --profile tight --scenario "${SCENARIO:-siege/urls/by-id.txt}" --users "${USERS:-100}"
      --step-secs 15 --warmup-secs 3 --ceiling-secs 1 --results "$root/results")
list=()
for _ in $(seq "$runs"); do
    for side in a b; do
        (cd "$work/$side" && "$lab" "${args[@]}" --state-dir "$root/.lab/nginx-ab" \
            --label "nginx-ab-$name-$side" >&2)
        list+=("$(ls -d "$root"/results/*-nginx-ab-"$name-$side" | tail -1)")
    done
done
# Another step than the default gets its own folder: results/compare-nginx-ab-<patch>-<scenario>.
scenario_tag=""
[ -n "${SCENARIO:-}" ] && scenario_tag="-$(basename "$SCENARIO" .txt)"
out=results/compare-nginx-ab-$name$scenario_tag
"$lab" compare "${list[@]}" --out "$out"
cp "$patch_file" "$out/"
# Each run's plots can be drawn again from its data (`lab report`): the compare folder keeps its own.
for run in "${list[@]}"; do
    find "$run" \( -name '*.png' -o -name '*.svg' -o -name report.html \) -delete
done
python3 - "$out" "$name" "${list[@]}" <<'PY'
import json, statistics, sys
out, patch, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for path in runs:
    run = json.load(open(f"{path}/run.json"))
    for step in run["steps"]:
        nginx = next(s for s in step["services"] if s["name"] == "nginx")
        rps = step["nginx"]["requests_per_s"]
        per_request_us = 1e6 * nginx["cpu_cores"] / rps if rps else float("nan")
        rows.append((path.rsplit("-", 1)[1], path.rsplit("/", 1)[1], step["users"], rps,
                     step["nginx"]["p99_ms"], per_request_us, step["verdict"]["bottleneck"]))
lines = ["| side | run | users | req/s | p99 ms | nginx CPU per request (µs) | bottleneck |",
         "|---|---|---|---|---|---|---|"]
lines += [f"| {s.upper()} | `{r}` | {u} | {q:.0f} | {p:.0f} | {c:.1f} | {b} |" for s, r, u, q, p, c, b in rows]
summary = {}
for side in ("a", "b"):
    mine = [r for r in rows if r[0] == side]
    rps = [r[3] for r in mine]
    cpu = [r[5] for r in mine]
    summary[side] = (statistics.mean(rps), statistics.pstdev(rps), statistics.mean(cpu), statistics.pstdev(cpu))
lines.append("")
for side, (m, sd, c, csd) in summary.items():
    lines.append(f"- {side.upper()}: {m:.0f} ± {sd:.0f} req/s, {c:.1f} ± {csd:.1f} µs of nginx CPU per request ({len([r for r in rows if r[0] == side])} runs)")
a, b = summary["a"], summary["b"]
lines.append(f"- B / A: {b[0] / a[0]:.3f} in req/s, {b[2] / a[2]:.3f} in nginx CPU per request")
text = "\n".join(lines) + "\n"
head = ("# nginx A/B: the repository's nginx.conf (A) against the patch (B)\n\n"
        f"The patch: `{patch}.patch` in this folder. "
        "Each run's folder holds its data and report.md; `lab report <run>` draws its plots.\n\n")
open(f"{out}/ab.md", "w").write(head + text)
print(text)
PY
