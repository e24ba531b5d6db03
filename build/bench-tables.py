#!/usr/bin/env python3
"""Benchmark tables nobody has to copy by hand.

The tables in README.md, the package READMEs and the docs pages are generated from BenchmarkDotNet's
own reports, kept in benchmarks/results/<Class>.md (one file per benchmark class, copied from one
run by `build/bench.sh`, never edited). A table sits between two markers:

    <!-- bench: LruBenchmarks -->
    ...generated...
    <!-- /bench -->

A marker may pick rows by a regular expression on the method name:
`<!-- bench: LruBenchmarks rows=^(Hit|TtlHit)_ -->`. Above each table the script writes when and on
what machine and runtime it was measured (from the report's own header).

Usage:
    python3 build/bench-tables.py                 # regenerate every marked table from benchmarks/results
    python3 build/bench-tables.py --check         # exit 1 if a table differs from what the results give
    python3 build/bench-tables.py --import DIR    # copy DIR/*-report-github.md into benchmarks/results, then regenerate
"""

from __future__ import annotations

import argparse
import html
import datetime as dt
import os
import re
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
MARKER = re.compile(r"<!-- bench: (?P<cls>[A-Za-z0-9_]+)(?P<opts>[^>]*?) -->\n(?P<body>.*?)<!-- /bench -->", re.S)
PROVENANCE = re.compile(r"<!-- measured: (?P<when>[^;]+); (?P<source>[^>]*) -->")
# Columns kept in the published table, in this order, when the report has them.
KEEP = ["Method", "Categories", "Mean", "Ratio", "Allocated", "Alloc Ratio"]


def pages() -> list[str]:
    found = [os.path.join(ROOT, "README.md")]
    for base in ("packages", "docs", "samples"):
        for folder, dirs, files in os.walk(os.path.join(ROOT, base)):
            dirs[:] = [d for d in dirs if d not in ("bin", "obj", "api", "_site", "node_modules")]
            found += [os.path.join(folder, f) for f in files if f.endswith(".md")]
    return sorted(found)


def import_reports(source: str) -> list[str]:
    os.makedirs(RESULTS, exist_ok=True)
    imported = []
    for name in sorted(os.listdir(source)):
        m = re.match(r"(?:.*\.)?(?P<cls>[A-Za-z0-9_]+)-report-github\.md$", name)
        if not m:
            continue
        path = os.path.join(source, name)
        when = dt.datetime.fromtimestamp(os.path.getmtime(path), dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with open(path, encoding="utf-8") as f:
            report = f.read()
        target = os.path.join(RESULTS, m.group("cls") + ".md")
        with open(target, "w", encoding="utf-8") as f:
            f.write(f"<!-- measured: {when}; BenchmarkDotNet report {name}, imported by build/bench-tables.py; do not edit -->\n")
            f.write(report)
        imported.append(m.group("cls"))
    return imported


def parse_report(cls: str) -> tuple[str, list[str], list[list[str]]]:
    path = os.path.join(RESULTS, cls + ".md")
    if not os.path.exists(path):
        raise SystemExit(f"no results for {cls}: run build/bench.sh {cls} (expected {os.path.relpath(path, ROOT)})")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    prov = PROVENANCE.search(text)
    when = prov.group("when") if prov else "unknown date"
    header = text.split("```")[1] if text.count("```") >= 2 else ""
    lines = [l.strip() for l in header.strip().splitlines() if l.strip()]
    bdn = next((l.split(",")[0] for l in lines if l.startswith("BenchmarkDotNet")), "BenchmarkDotNet")
    os_name = next((l.split(", ", 1)[1] for l in lines if l.startswith("BenchmarkDotNet") and ", " in l), "")
    cpu = next((l for l in lines if "CPU" in l and "cores" in l), "")
    runtime = next((re.sub(r"\s*\(.*", "", l.split(":", 1)[1]).strip() for l in lines if l.startswith("[Host]")), "")
    job = next((l for l in lines if l.startswith("Job=")), "")
    job = re.sub(r"\s+", " ", job.replace("Job=", "job ")).strip()
    if not job:
        job = next((l.replace("Toolchain=", "toolchain ") for l in lines if l.startswith("Toolchain=")), "")
    info = f"Measured {when} with {bdn} ({job}) on {cpu}, {os_name}, {runtime}."
    info = re.sub(r"\s+", " ", info).replace("( ", "(").replace(" )", ")").replace("()", "")
    table = [l for l in text.splitlines() if l.startswith("|")]
    cols = [c.strip() for c in table[0].strip("|").split("|")]
    rows = []
    for line in table[2:]:
        cells = [html.unescape(c.strip()) for c in line.strip("|").split("|")]
        if all(c == "" for c in cells):
            continue
        rows.append(cells)
    return info, cols, rows


def render(cls: str, opts: str) -> str:
    info, cols, rows = parse_report(cls)
    pick = re.search(r"rows=(\S+)", opts)
    if pick:
        rows = [r for r in rows if re.search(pick.group(1), r[0])]
    # Parameter columns (between Method and the statistics) are kept too.
    stats_start = next((i for i, c in enumerate(cols) if c in ("Categories", "Mean")), len(cols))
    keep = [0] + list(range(1, stats_start)) + [cols.index(c) for c in KEEP[1:] if c in cols]
    if len({r[cols.index("Categories")] for r in rows} if "Categories" in cols else set()) <= 1 and "Categories" in cols:
        keep.remove(cols.index("Categories"))
    out = [info, "", "| " + " | ".join(cols[i] for i in keep) + " |"]
    out.append("|" + "|".join("---" if j == 0 or cols[i] in ("Categories",) else "---:" for j, i in enumerate(keep)) + "|")
    for r in rows:
        out.append("| " + " | ".join(r[i] for i in keep) + " |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--import", dest="source")
    args = ap.parse_args()
    if args.source:
        print("imported:", ", ".join(import_reports(args.source)) or "nothing")
    stale = []
    for page in pages():
        with open(page, encoding="utf-8") as f:
            text = f.read()
        if "<!-- bench: " not in text:
            continue

        def fill(m: re.Match[str]) -> str:
            body = render(m.group("cls"), m.group("opts"))
            return f"<!-- bench: {m.group('cls')}{m.group('opts')} -->\n{body}<!-- /bench -->"

        new = MARKER.sub(fill, text)
        if new != text:
            stale.append(os.path.relpath(page, ROOT))
            if not args.check:
                with open(page, "w", encoding="utf-8") as f:
                    f.write(new)
    if args.check and stale:
        print("Benchmark tables differ from benchmarks/results; run python3 build/bench-tables.py:", *stale, sep="\n  ")
        return 1
    print(("stale: " if args.check else "updated: ") + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
