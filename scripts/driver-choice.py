#!/usr/bin/env python3
"""What each load driver costs per request on this machine, measured in one run.

Why lab has a driver of its own (docs/bench.md, "The driver's cost"): on two shared cores,
every CPU second the load generator spends is one the stack under test does not get. This
script puts each driver against the same trivial nginx (uncapped, no access log, a
disk-sized JSON body) and reads, per run, the driver's own CPU (user + system of the whole
process, from the kernel's accounting of the finished child: os.wait4) and the requests nginx
served (its stub_status counter, the same count for every driver, whatever the driver says).

Two loads, each repeated --rounds times with the drivers' order alternated (ABC, CBA, ...):

- closed: every driver at the same concurrency (--users) for --secs;
- open: the drivers that can hold a rate (lab, oha when installed) at the same requests per
  second (--rate), so their cost compares at equal work.

Drivers: lab (`lab __drive`, release build), siege and wrk (Debian's packages), oha when it is
on PATH (`cargo install oha --locked`; not a dependency of the project). A missing driver is
reported as skipped, never guessed.

Writes <out>/driver-choice.json (every run), driver-choice.csv and README.md (the table,
ratios to lab within each round, min-max over rounds). Everything runs on 127.0.0.1 and every
load stops by itself.

    scripts/driver-choice.py --out results/$(date -u +%Y%m%dT%H%M%SZ)-driver-choice
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from trivial_nginx import TrivialNginx

ROOT = Path(__file__).resolve().parent.parent


def lab_bin():
    path = ROOT / "target/release/lab"
    if not path.is_file():
        raise SystemExit("target/release/lab is missing: cargo build --release -p lab")
    return str(path)


def commands(name, base, urls, users, secs, rate):
    """The command line of `name` for a closed load (rate None) or an open one."""
    if name == "lab":
        load = ["--users", str(users)] if rate is None else ["--rate", str(rate)]
        return [lab_bin(), "__drive", "--urls", urls, "--secs", str(secs), *load]
    if name == "siege":
        return ["siege", "-R", str(ROOT / "siege/siegerc"), "-f", urls, "-c", str(users),
                "-t", f"{secs}S", "-b", "-j", "-q"]
    if name == "wrk":
        return ["wrk", "-t", "2", "-c", str(users), "-d", f"{secs}s", f"{base}/disks/1"]
    if name == "oha":
        load = ["-c", str(users)] if rate is None else ["-q", str(rate), "-c", str(users)]
        return ["oha", "--no-tui", "-z", f"{secs}s", *load, f"{base}/disks/1"]
    raise ValueError(name)


def available(name):
    if name == "lab":
        return (ROOT / "target/release/lab").is_file()
    return shutil.which(name) is not None


def run_one(nginx, name, urls, users, secs, rate):
    argv = commands(name, nginx.base(), urls, users, secs, rate)
    before = nginx.requests()
    start = time.monotonic()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=null)
        deadline = start + secs + 30
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
    wall = time.monotonic() - start
    served = nginx.requests() - before
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "driver": name,
        "model": "closed" if rate is None else "open",
        "users": users,
        "rate_per_s": rate,
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_secs": round(wall, 3),
        "requests": served,
        "requests_per_s": round(served / secs, 1),
        "cpu_seconds": round(cpu, 3),
        "cpu_cores": round(cpu / wall, 3),
        "cpu_us_per_request": round(1e6 * cpu / served, 2) if served else None,
        "command": argv,
    }


def summarize(runs, drivers, model, lab_model=None):
    """Per driver: median and min-max of µs/request and req/s of its `model` runs, and its
    ratio to lab's run of `lab_model` (default: the same) in the same round."""
    rows = []
    mine = [r for r in runs if r["model"] == model]
    labs = [r for r in runs if r["model"] == (lab_model or model) and r["driver"] == "lab"]
    for name in drivers:
        own = [r for r in mine if r["driver"] == name and r["cpu_us_per_request"]]
        if not own:
            continue
        ratios = []
        for r in own:
            lab = next((x for x in labs if x["round"] == r["round"]), None)
            if lab and lab["cpu_us_per_request"]:
                ratios.append(r["cpu_us_per_request"] / lab["cpu_us_per_request"])
        us = [r["cpu_us_per_request"] for r in own]
        rps = [r["requests_per_s"] for r in own]
        rows.append({
            "driver": name,
            "rounds": len(own),
            "cpu_us_per_request_median": round(statistics.median(us), 2),
            "cpu_us_per_request_min": min(us),
            "cpu_us_per_request_max": max(us),
            "requests_per_s_median": round(statistics.median(rps), 1),
            "cpu_cores_median": round(statistics.median(r["cpu_cores"] for r in own), 3),
            "ratio_to_lab_median": round(statistics.median(ratios), 2) if ratios else None,
            "ratio_to_lab_min": round(min(ratios), 2) if ratios else None,
            "ratio_to_lab_max": round(max(ratios), 2) if ratios else None,
        })
    return rows


def markdown(settings, closed, opened, at_siege, skipped):
    lines = [
        "# What each load driver costs per request",
        "",
        f"Made by `scripts/driver-choice.py` on {settings['started_at']} ({settings['cores']} cores): "
        f"each driver against one trivial nginx ({settings['nginx_workers']} worker, no access log), "
        f"{settings['rounds']} rounds, the drivers' order alternated each round, {settings['secs']} s per run. "
        "CPU is the driver's whole process (user + system, all threads) from the kernel's accounting; "
        "requests are nginx's own count (stub_status), the same for every driver. "
        "Ratios are to lab's run in the same round, so they hold on a noisy machine; min-max is over rounds.",
        "",
    ]
    for title, rows in ((f"Closed: {settings['users']} users each", closed),
                        (f"Open: {settings['rate']} requests/s each", opened),
                        (f"At siege's rate: siege closed at {settings['users']} users, the others offered the rate it reached in the same round",
                         at_siege)):
        if not rows:
            continue
        lines += [f"## {title}", "",
                  "| driver | CPU µs per request (median, min-max) | x lab's (median, min-max) | requests/s | driver CPU (cores) |",
                  "|---|---|---|---|---|"]
        for r in rows:
            ratio = "1" if r["driver"] == "lab" else (
                f"{r['ratio_to_lab_median']} ({r['ratio_to_lab_min']}-{r['ratio_to_lab_max']})"
                if r["ratio_to_lab_median"] is not None else "-")
            lines.append(
                f"| {r['driver']} | {r['cpu_us_per_request_median']} ({r['cpu_us_per_request_min']}-{r['cpu_us_per_request_max']}) "
                f"| {ratio} | {r['requests_per_s_median']} | {r['cpu_cores_median']} |")
        lines.append("")
    if skipped:
        lines += ["Skipped (not installed): " + ", ".join(skipped) + ".", ""]
    lines += ["Every run, with its command line: `driver-choice.json`; one row per run: `driver-choice.csv`.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--secs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--drivers", default="lab,siege,wrk,oha")
    args = parser.parse_args()

    wanted = args.drivers.split(",")
    drivers = [d for d in wanted if available(d)]
    skipped = [d for d in wanted if d not in drivers]
    if "lab" not in drivers:
        raise SystemExit("lab's release build is needed: cargo build --release -p lab")
    args.out.mkdir(parents=True, exist_ok=True)
    nginx = TrivialNginx(workers=args.nginx_workers)
    urls = args.out / "urls.txt"
    urls.write_text(f"# driver-choice: one trivial path\nBASE={nginx.base()}\n$(BASE)/disks/1\n")
    settings = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cores": os.cpu_count(), "users": args.users, "rate": args.rate, "secs": args.secs,
        "rounds": args.rounds, "nginx_workers": args.nginx_workers, "drivers": drivers,
        "skipped": skipped,
    }
    runs = []
    try:
        for round_ in range(args.rounds):
            order = drivers if round_ % 2 == 0 else list(reversed(drivers))
            loads = [(None, "closed"), (args.rate, "open")]
            if "siege" in drivers:
                loads.append(("siege", "at siege's rate"))
            for rate, model in loads:
                if rate == "siege":
                    # The rate siege reached at --users in this round, offered to the drivers
                    # that can hold a rate: the cost per request at siege's own rate.
                    siege = next(r for r in runs if r["round"] == round_ and r["driver"] == "siege")
                    rate = round(siege["requests_per_s"])
                for name in order:
                    if rate is not None and name not in ("lab", "oha"):
                        continue
                    run = run_one(nginx, name, str(urls), args.users, args.secs, rate)
                    run["model"] = model
                    run["round"] = round_
                    runs.append(run)
                    print(f"round {round_} {run['model']:6} {name:5} {run['requests_per_s']:>9} req/s "
                          f"{run['cpu_cores']:.2f} cores {run['cpu_us_per_request']} µs/request", file=sys.stderr)
                    # Written after every run: an interrupted measurement keeps what it has.
                    write(args.out, settings, runs, drivers, skipped)
                    time.sleep(1)
    finally:
        nginx.stop()
    print(args.out / "README.md")


def write(out, settings, runs, drivers, skipped):
    closed = summarize(runs, drivers, "closed")
    opened = summarize(runs, drivers, "open")
    # siege's own closed runs set the rate; lab's runs at that rate are the reference.
    at_siege = summarize(runs, ["siege"], "closed", "at siege's rate") + summarize(
        runs, drivers, "at siege's rate")
    data = {"settings": settings, "closed": closed, "open": opened, "at_siege_rate": at_siege,
            "runs": runs}
    (out / "driver-choice.json").write_text(json.dumps(data, indent=2) + "\n")
    keys = ["round", "driver", "model", "users", "rate_per_s", "wall_secs", "requests",
            "requests_per_s", "cpu_seconds", "cpu_cores", "cpu_us_per_request", "exit_code"]
    csv = [",".join(keys)] + [",".join("" if r.get(k) is None else str(r[k]) for k in keys) for r in runs]
    (out / "driver-choice.csv").write_text("\n".join(csv) + "\n")
    (out / "README.md").write_text(markdown(settings, closed, opened, at_siege, skipped))


if __name__ == "__main__":
    main()
