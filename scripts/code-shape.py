#!/usr/bin/env python3
"""The code's shape, checked in CI (scripts/static-checks.sh): in each crate's src/ folder,
- no file over 600 lines,
- no function over 80 lines (from its `fn` line to its closing brace) unless a line of its
  doc comment starts with `Long:` and says why,
- no import circle between files: an edge is a path to another file's module (`use crate::...`,
  `use super::...`, `child::f(...)`), resolved to the file that defines it; `mod x;` lines
  are not edges; inline modules (`mod tests { ... }`) belong to their file.

Usage: scripts/code-shape.py [CRATE_SRC ...]   (default: app/src lab/src contract/src)
Exits 1 and says where when any rule is broken.
"""
import os
import re
import sys
from collections import defaultdict

MAX_FILE_LINES = 600
MAX_FN_LINES = 80


def strip(text):
    """Comments and string/char literals out, newlines kept (line numbers stay true)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    out.append("\n" if text[i] == "\n" else "")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end + 1 + len(m.group(1))
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x..'", text[i:i + 12]):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\x..|\\.|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_files(root):
    """{module path tuple: file}, from the tree (every .rs file under root)."""
    mods = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            parts = rel[:-3].split(os.sep)
            if parts == ["lib"] or parts == ["main"]:
                path = ("crate",) if parts == ["lib"] else ("crate#main",)
            elif parts[-1] == "mod":
                path = ("crate",) + tuple(parts[:-1])
            else:
                path = ("crate",) + tuple(parts)
            mods[path] = os.path.join(root, rel)
    return mods


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (aliases and globs kept as paths)."""
    tree = re.sub(r"\s+", "", tree)
    tree = re.sub(r"\bas\w+", "", tree)

    def split_top(s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        return parts

    def walk(prefix, s):
        m = re.match(r"^(.*?)::\{(.*)\}$", s)
        if m:
            base = prefix + m.group(1)
            res = []
            for p in split_top(m.group(2)):
                res += walk(base + "::", p)
            return res
        if s.startswith("{") and s.endswith("}"):
            res = []
            for p in split_top(s[1:-1]):
                res += walk(prefix, p)
            return res
        return [prefix + s]

    return walk("", tree)


def analyse(path_of_file, mods):
    edges = defaultdict(set)
    for modpath, file in mods.items():
        text = strip(open(file, encoding="utf-8").read())
        children = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M))
        # Inline modules: a stack of (name, brace depth at which it opened).
        inline_at = []  # (line, depth_after_open, name)
        refs = []  # (path string, inline nesting at that point)
        depth, stack = 0, []
        tokens = re.finditer(
            r"(?P<use>\buse\s+[^;]+;)|(?P<mod>\bmod\s+(?P<name>\w+)\s*\{)|(?P<open>\{)|(?P<close>\})|"
            r"(?P<path>(?<![\w:])\$?(?:crate|super|self|\w+)(?:::\w+)+)",
            text,
        )
        for t in tokens:
            if t.group("use"):
                body = t.group("use")[3:-1].strip()
                for p in expand_use(body):
                    refs.append((p, len(stack)))
            elif t.group("mod"):
                depth += 1
                stack.append(depth)
            elif t.group("open"):
                depth += 1
            elif t.group("close"):
                if stack and stack[-1] == depth:
                    stack.pop()
                depth -= 1
            elif t.group("path"):
                refs.append((t.group("path"), len(stack)))
        for p, nesting in refs:
            segs = p.split("::")
            if segs[0] in ("crate", "$crate"):
                target = ("crate",) + tuple(segs[1:])
            elif segs[0] == "super":
                ups = 0
                while segs and segs[0] == "super":
                    ups += 1
                    segs = segs[1:]
                ups -= nesting  # climbing out of inline modules stays in this file
                if ups <= 0:
                    continue
                base = modpath[:-ups] if len(modpath) - ups >= 1 else ("crate",)
                target = base + tuple(segs)
            elif segs[0] == "self":
                if nesting:
                    continue
                target = modpath + tuple(segs[1:])
            elif segs[0] in children:
                target = modpath + tuple(segs)
            else:
                continue
            # Longest prefix that is a module file.
            for k in range(len(target), 0, -1):
                if target[:k] in mods:
                    dest = mods[target[:k]]
                    if dest != file:
                        edges[file].add(dest)
                    break
    return edges


def cycles(edges, nodes):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def one_cycle(edges, comp):
    """A shortest cycle through the component's first file, for the report."""
    from collections import deque
    start = comp[0]
    members = set(comp)
    prev = {start: None}
    q = deque([start])
    while q:
        v = q.popleft()
        for w in sorted(edges.get(v, ())):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in members and w not in prev:
                prev[w] = v
                q.append(w)
    return comp



def long_functions(root):
    """(file, first line, last line, name, lines) of every function over the limit without
    a `Long:` line in its doc comment."""
    found = []
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            raw = open(path, encoding="utf-8").read()
            text = strip(raw)
            lines = raw.split("\n")
            for m in re.finditer(r"\bfn\s+(\w+)", text):
                start_line = text.count("\n", 0, m.start()) + 1
                i, depth_paren = m.end(), 0
                while i < len(text):
                    c = text[i]
                    if c in "(<[":
                        depth_paren += 1
                    elif c in ")>]":
                        depth_paren -= 1
                    elif c == ";" and depth_paren <= 0:
                        i = -1
                        break
                    elif c == "{" and depth_paren <= 0:
                        break
                    i += 1
                if i < 0 or i >= len(text):
                    continue
                depth, j = 0, i
                while j < len(text):
                    if text[j] == "{":
                        depth += 1
                    elif text[j] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                end_line = text.count("\n", 0, j) + 1
                n = end_line - start_line + 1
                if n <= MAX_FN_LINES:
                    continue
                k, reason = start_line - 2, False
                while k >= 0 and (lines[k].strip().startswith("///") or lines[k].strip().startswith("#[")):
                    if lines[k].strip().startswith("/// Long:"):
                        reason = True
                    k -= 1
                if not reason:
                    found.append((path, start_line, end_line, m.group(1), n))
    return found


def long_files(root):
    found = []
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if f.endswith(".rs"):
                path = os.path.join(dirpath, f)
                n = sum(1 for _ in open(path, encoding="utf-8"))
                if n > MAX_FILE_LINES:
                    found.append((path, n))
    return found


def check(root):
    problems = []
    for path, n in long_files(root):
        problems.append(f"{path}: {n} lines (at most {MAX_FILE_LINES})")
    for path, first, last, name, n in long_functions(root):
        problems.append(
            f"{path}:{first}-{last}: fn {name} is {n} lines (at most {MAX_FN_LINES}, or say why in a `/// Long:` doc line)"
        )
    mods = module_files(root)
    edges = analyse(None, mods)
    for comp in cycles(edges, mods.values()):
        problems.append(
            f"import circle among {len(comp)} files ({', '.join(comp)}), e.g. "
            + " -> ".join(one_cycle(edges, comp))
        )
    return problems


def main():
    roots = [a for a in sys.argv[1:] if not a.startswith("-")] or ["app/src", "lab/src", "contract/src"]
    problems = []
    for root in roots:
        problems += check(root)
    for p in problems:
        print(p)
    print(f"code shape: {len(problems)} problem(s) in {', '.join(roots)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
