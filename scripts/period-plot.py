#!/usr/bin/env python3
"""The CFS period study's plot: the client's p50 and p99 against the period, from `lab ab` runs.

Each argument is a `lab ab` folder whose two sides are profiles that differ in their CFS period
(tight against tight-10ms, ...). Its ab.json gives each side's pooled latency (every run's
histogram merged) and its load (users or rate) and runtime; each side's profile file gives the
period (NGINX_CPU_PERIOD_US: nginx is the service the load throttles). One series per runtime,
scenario and load: p99 solid, p50 dashed, on log axes. Writes <out>/period.csv (the data, one row per
side) and <out>/period.svg (drawn from it), and nothing else.

    scripts/period-plot.py --out results/cfs-period-study results/*-ab-cfs-period-*
"""

import argparse
import csv
import json
import math
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def profile_period(spec):
    """NGINX_CPU_PERIOD_US of a side's `profile:NAME|PATH` (the kernel's 100 ms if unset)."""
    if not spec.startswith("profile:"):
        raise SystemExit(f"side {spec!r} is not a profile: the study compares profiles")
    name = spec[len("profile:"):]
    path = pathlib.Path(name) if name.endswith(".env") else ROOT / "profiles" / f"{name}.env"
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "NGINX_CPU_PERIOD_US":
            return int(value)
    return 100_000


def rows_of(folder):
    ab = json.loads((folder / "ab.json").read_text())
    settings = ab["settings"]
    specs = {"A": settings["a"]["spec"], "B": settings["b"]["spec"]}
    for pooled in ab["pooled"]:
        side = pooled["side"]
        if side not in specs:  # A' of an A/A floor
            continue
        latency = pooled["latency"]
        yield {
            "ab": folder.name,
            "runtime": settings["runtime"],
            "scenario": pathlib.Path(settings["scenario"]).stem,
            "load": settings["load"],
            "profile": specs[side].split(":", 1)[1],
            "period_ms": profile_period(specs[side]) / 1000,
            "requests": latency["count"],
            "p50_ms": latency["p50_ms"],
            "p99_ms": latency["p99_ms"],
        }


def series_of(rows):
    """(runtime, scenario and load) -> {period: row}; a period measured twice keeps its first run."""
    series = {}
    for row in rows:
        key = (row["runtime"], f'{row["scenario"]} {row["load"]}')
        series.setdefault(key, {}).setdefault(row["period_ms"], row)
    return series


def svg(series):
    width, height, left, right, top, bottom = 760, 460, 70, 230, 40, 60
    periods = sorted({p for points in series.values() for p in points})
    values = [r[k] for points in series.values() for r in points.values() for k in ("p50_ms", "p99_ms")]
    x_lo, x_hi = math.log10(min(periods)) - 0.1, math.log10(max(periods)) + 0.1
    y_lo = math.floor(math.log10(min(values)))
    y_hi = math.ceil(math.log10(max(values)))
    x = lambda p: left + (math.log10(p) - x_lo) / (x_hi - x_lo) * (width - left - right)
    y = lambda v: top + (y_hi - math.log10(v)) / (y_hi - y_lo) * (height - top - bottom)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15">The client\'s p50 and p99 against '
        "nginx's CFS period (tight)</text>",
    ]
    for exp in range(y_lo, y_hi + 1):
        for mantissa in (1, 2, 5):
            v = mantissa * 10**exp
            if v > 10**y_hi:
                continue
            out.append(f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                       f'stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for p in periods:
        out.append(f'<line x1="{x(p):.1f}" x2="{x(p):.1f}" y1="{top}" y2="{height - bottom}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{x(p):.1f}" y="{height - bottom + 18}" text-anchor="middle">'
                   f"{p:g}</text>")
    out.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 18}" '
               'text-anchor="middle">CFS period of every cap (ms, log)</text>')
    out.append(f'<text x="18" y="{(top + height - bottom) / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 18 {(top + height - bottom) / 2:.0f})">'
               "latency at the client (ms, log)</text>")
    for i, ((runtime, load), points) in enumerate(sorted(series.items())):
        colour = COLOURS[i % len(COLOURS)]
        ordered = [points[p] for p in sorted(points)]
        for key, dash in (("p99_ms", ""), ("p50_ms", ' stroke-dasharray="6 4"')):
            path = " ".join(f"{x(r['period_ms']):.1f},{y(r[key]):.1f}" for r in ordered)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       f'stroke-width="2"{dash}/>')
            for r in ordered:
                out.append(f'<circle cx="{x(r["period_ms"]):.1f}" cy="{y(r[key]):.1f}" r="3" '
                           f'fill="{colour}"/>')
        legend_y = top + 20 + i * 36
        out.append(f'<line x1="{width - right + 16}" x2="{width - right + 40}" y1="{legend_y}" '
                   f'y2="{legend_y}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{width - right + 46}" y="{legend_y + 4}">{runtime}, {load}</text>')
        out.append(f'<text x="{width - right + 46}" y="{legend_y + 18}" fill="#555">'
                   "p99 solid, p50 dashed</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("folders", nargs="+", type=pathlib.Path)
    args = parser.parse_args(argv)
    rows = [row for folder in args.folders for row in rows_of(folder)]
    if not rows:
        raise SystemExit("no sides found in the folders given")
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "period.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "period.svg").write_text(svg(series_of(rows)))
    print(f"wrote {args.out}/period.csv and period.svg ({len(rows)} sides)")


if __name__ == "__main__":
    main(sys.argv[1:])
