#!/usr/bin/env python3
"""Every relative link in the README, docs/ and results/ points somewhere: the file exists, and
an anchor (`page.md#section`) names a heading of that page (GitHub's slugs). Links to other
sites are not followed (CI reaches no network). Exits 1 listing each broken link as
`file:line: target (why)`.

    scripts/link-check.py            # from anywhere in the repository
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text, flags=re.UNICODE)
    return text.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        found, seen, fenced = set(), {}, False
        for line in path.read_text(errors="replace").splitlines():
            if FENCE.match(line):
                fenced = not fenced
                continue
            if fenced:
                continue
            m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if m:
                base = slug(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
        cache[path] = found
    return cache[path]


def pages():
    yield ROOT / "README.md"
    yield from sorted((ROOT / "docs").glob("*.md"))
    yield from sorted((ROOT / "results").rglob("*.md"))


def check(page):
    problems, fenced = [], False
    for number, line in enumerate(page.read_text(errors="replace").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        # Inline code is not a link.
        line = re.sub(r"`[^`]*`", "", line)
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path_part, _, anchor = target.partition("#")
            dest = page if not path_part else (page.parent / path_part)
            where = f"{page.relative_to(ROOT)}:{number}: {target}"
            if not dest.exists():
                problems.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.resolve()):
                problems.append(f"{where} (no heading #{anchor} in {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest})")
    return problems


def main():
    problems = [p for page in pages() for p in check(page)]
    for p in problems:
        print(p)
    checked = sum(1 for _ in pages())
    if problems:
        print(f"link check: {len(problems)} broken link(s) in {checked} pages", file=sys.stderr)
        sys.exit(1)
    print(f"link check: every link of {checked} pages points somewhere")


if __name__ == "__main__":
    main()
