#!/usr/bin/env python3
"""One stall, three loads: what each load model's latency says about it.

A trivial nginx (one process, scripts/trivial_nginx.py) is stopped with SIGSTOP for --stall-secs
in the middle of --secs of load, then continued, once for each of:

- lab's driver, closed model, --users users (each sends its next request when the last is
  answered);
- lab's driver, open model, --rate requests/s (each request's latency counts from when it was
  due: coordinated omission corrected);
- siege, --users users (closed; it reports a mean and the longest transaction, at 10 ms
  resolution, and no percentiles).

The closed loads wait with the stall, so few of their requests meet it; the open load keeps its
schedule, so every request due during the stall counts its wait. docs/bench.md ("Closed and
open load") shows this run's table; lab/tests/client.rs asserts the same contrast in CI.

Writes <out>/stall.json (every figure, each load's command line) and <out>/README.md. Everything
runs on 127.0.0.1 and stops by itself.

    scripts/stall-contrast.py --out results/$(date -u +%Y%m%dT%H%M%SZ)-stall-contrast
"""

import argparse
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from trivial_nginx import TrivialNginx

ROOT = Path(__file__).resolve().parent.parent


def lab_bin():
    path = ROOT / "target/release/lab"
    if not path.is_file():
        raise SystemExit("target/release/lab is missing: cargo build --release -p lab")
    return str(path)


def stall_later(nginx, at, length):
    def stall():
        time.sleep(at)
        nginx.signal(signal.SIGSTOP)
        time.sleep(length)
        nginx.signal(signal.SIGCONT)

    thread = threading.Thread(target=stall)
    thread.start()
    return thread


def run(name, argv, args, urls):
    nginx = TrivialNginx(workers=0)
    try:
        urls.write_text(f"# stall-contrast: one trivial path\nBASE={nginx.base()}\n$(BASE)/disks/1\n")
        before = nginx.requests()
        thread = stall_later(nginx, args.stall_at, args.stall_secs)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=args.secs + 60)
        thread.join()
        served = nginx.requests() - before
    finally:
        nginx.stop()
    if out.returncode not in (0,):
        raise SystemExit(f"{name} failed ({out.returncode}): {out.stderr[-2000:]}")
    figures = {"load": name, "command": argv, "nginx_requests": served}
    if argv[0].endswith("siege"):
        summary = json.loads(out.stdout[out.stdout.index("{"):])
        figures.update({
            "requests": int(summary["transactions"] + summary["failed_transactions"]),
            "mean_ms": round(1000 * summary["response_time"], 1),
            "p50_ms": None, "p99_ms": None, "p999_ms": None,
            "max_ms": round(1000 * summary["longest_transaction"], 1),
            "siege": summary,
        })
    else:
        stats = json.loads(out.stdout)
        latency = stats["latency"]
        figures.update({
            "requests": stats["responses"],
            "mean_ms": latency["mean_ms"], "p50_ms": latency["p50_ms"],
            "p99_ms": latency["p99_ms"], "p999_ms": latency["p999_ms"],
            "max_ms": latency["max_ms"],
            "client": {k: v for k, v in stats.items() if k != "histogram"},
        })
    return figures


def cell(value):
    return "-" if value is None else f"{value:,}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--secs", type=int, default=10)
    parser.add_argument("--stall-at", type=float, default=4.5)
    parser.add_argument("--stall-secs", type=float, default=1.0)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--rate", type=int, default=500)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    urls = args.out / "urls.txt"
    lab = lab_bin()
    loads = [
        (f"lab's driver, closed, {args.users} users",
         [lab, "__drive", "--urls", str(urls), "--secs", str(args.secs), "--users", str(args.users)]),
        (f"lab's driver, open, {args.rate}/s",
         [lab, "__drive", "--urls", str(urls), "--secs", str(args.secs), "--rate", str(args.rate)]),
        (f"siege, closed, {args.users} users",
         ["siege", "-R", str(ROOT / "siege/siegerc"), "-f", str(urls), "-c", str(args.users),
          "-t", f"{args.secs}S", "-b", "-j", "-q"]),
    ]
    results = []
    for name, argv in loads:
        results.append(run(name, argv, args, urls))
        data = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "cores": os.cpu_count(),
                "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "loads": results}
        # Written after every load: an interrupted run keeps what it measured.
        (args.out / "stall.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        "# One stall, three loads",
        "",
        f"Made by `scripts/stall-contrast.py` on {data['made_at']} ({data['cores']} cores): a trivial nginx "
        f"stopped (SIGSTOP) for {args.stall_secs:g} s at {args.stall_at:g} s into {args.secs} s of each load. "
        "Latency in ms; siege gives no percentiles (10 ms resolution, a mean and its longest transaction).",
        "",
        "| load | requests | p50 | p99 | p99.9 | max | mean |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['load']} | {r['requests']:,} | {cell(r['p50_ms'])} | {cell(r['p99_ms'])} | "
                     f"{cell(r['p999_ms'])} | {cell(r['max_ms'])} | {cell(r['mean_ms'])} |")
    lines += ["", "Every figure and command line: `stall.json`.", ""]
    (args.out / "README.md").write_text("\n".join(lines))
    print(args.out / "README.md")


if __name__ == "__main__":
    main()
