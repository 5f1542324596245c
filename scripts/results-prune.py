#!/usr/bin/env python3
"""Keeps results/ small: every run's data stays (JSON, CSV, Markdown, logs, configs), but a
plot (PNG, SVG) or an HTML report stays only where the README or docs/ show or link it, and
the URL lists lab generates for its reference and ceilings (`reference-urls.txt`,
`ceiling/urls.txt`, `nginx-ceiling/<profile>/urls.txt`: reads by id, a pure function of the
seed sizes run.json records) go, and so does the report.md of each run inside an A/B folder
(`<ab>/runs/<run>/report.md`: the A/B's own ab.md holds its figures, and `lab report` on the
run's folder draws it again from its run.json), and a run's `urls/` (the scenario's URL
list as the driver read it: a built-in scenario is generated from the seed sizes in run.json,
a file scenario is in siege/urls/ with its BASE line pointed at the stack). Every
Markdown link or image in results/ to a file that is not there any more becomes a line saying
how to draw it again (`lab report <folder>` redraws a run's plots and report.html from
run.json; `lab compare` a comparison's).

    scripts/results-prune.py           # prune, then print what results/ weighs
    scripts/results-prune.py --check   # only say whether results/ is within its budget

The budget is 25 MB (issue 28); scripts/static-checks.sh runs --check.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
BUDGET = 25 * 1000 * 1000
PRUNED = {".png", ".svg", ".html"}
LINK = re.compile(r"(!?)\[((?:[^\]\[]|\[[^\]]*\])*)\]\(([^)\s]+)\)")


def shown():
    """The files under results/ the README or a page of docs/ links to."""
    keep = set()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for match in LINK.finditer(page.read_text()):
            target = match.group(3).split("#")[0]
            if not target or "://" in target:
                continue
            path = (page.parent / target).resolve()
            if RESULTS in path.parents:
                keep.add(path)
    return keep


def weight():
    return sum(p.stat().st_size for p in RESULTS.rglob("*") if p.is_file())


def redraw_hint(folder):
    if (folder / "compare.json").is_file() or (folder / "ab.json").is_file():
        return "its `lab compare` or `lab ab` command redraws it from the runs' data"
    return f"`lab report results/{folder.relative_to(RESULTS)}` redraws it from the data"


def ab_run_report(path):
    """A run's report.md inside an A/B folder (`<ab>/runs/<run>/report.md`)."""
    runs = path.parent.parent
    return path.name == "report.md" and runs.name == "runs" and (runs.parent / "ab.json").is_file()


def unlink_missing(markdown):
    text = markdown.read_text()
    out = []
    for line in text.splitlines(keepends=True):
        def replace(match):
            bang, label, target = match.groups()
            plain = target.split("#")[0]
            if not plain or "://" in plain:
                return match.group(0)
            if (markdown.parent / plain).exists():
                return match.group(0)
            if ab_run_report(markdown.parent / plain):
                return f"`{Path(plain).parent}` (`lab report` on it draws its report)"
            if Path(plain).suffix not in PRUNED:
                return match.group(0)
            what = "plot" if bang else "page"
            return f"*({what} `{plain}` not committed: {redraw_hint(markdown.parent)})*"

        out.append(LINK.sub(replace, line))
    new = "".join(out)
    if new != text:
        markdown.write_text(new)
        return True
    return False


def main():
    if "--check" in sys.argv[1:]:
        total = weight()
        print(f"results/: {total / 1e6:.1f} MB (budget {BUDGET / 1e6:.0f} MB)")
        return 0 if total <= BUDGET else 1
    keep = shown()
    removed = 0
    for path in sorted(RESULTS.rglob("*")):
        if path.is_file() and path.suffix in PRUNED and path.resolve() not in keep:
            path.unlink()
            removed += 1
    for path in sorted(RESULTS.rglob("report.md")):
        if ab_run_report(path) and path.resolve() not in keep:
            path.unlink()
            removed += 1
    for urls in sorted(RESULTS.rglob("urls")):
        if urls.is_dir() and (urls.parent / "run.json").is_file():
            for path in sorted(urls.iterdir()):
                if path.is_file() and path.resolve() not in keep:
                    path.unlink()
                    removed += 1
            if not any(urls.iterdir()):
                urls.rmdir()
    for path in sorted(RESULTS.rglob("*urls.txt")):
        generated = path.name == "reference-urls.txt" or (
            path.name == "urls.txt"
            and (path.parent.name == "ceiling" or path.parent.parent.name == "nginx-ceiling")
        )
        if generated and path.resolve() not in keep:
            path.unlink()
            removed += 1
    rewritten = sum(unlink_missing(md) for md in sorted(RESULTS.rglob("*.md")))
    total = weight()
    print(
        f"removed {removed} plots, pages, A/B runs' reports and generated URL lists, rewrote {rewritten} Markdown files; "
        f"results/: {total / 1e6:.1f} MB (budget {BUDGET / 1e6:.0f} MB)"
    )
    return 0 if total <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
