#!/usr/bin/env python3
"""Benchmark tables nobody has to copy by hand.

The tables in README.md, the package READMEs and the docs pages are generated from BenchmarkDotNet's
own reports, kept in benchmarks/results/<Class>.md (one file per benchmark class, copied from one
run by `build/bench.sh`, never edited). A table sits between two markers:

    <!-- bench: LruBenchmarks -->
    ...generated...
    <!-- /bench -->

A marker may pick rows by a regular expression on the method name:
`<!-- bench: LruBenchmarks rows=^(Hit|TtlHit)_ -->`, and keep further report columns by a regular
expression on their header: `<!-- bench: SchedulerBenchmarks rows=Lateness cols=^Lateness -->` (by
default a table keeps Method, the parameter columns, Categories, Mean, Ratio, Allocated and Alloc
Ratio). Options are separated by spaces, so a regular expression cannot contain one (use \s).
Above each table the script writes when and on what machine and runtime it was measured (from the
report's own header).

Reports need not come from BenchmarkDotNet: a harness that cannot be a BenchmarkDotNet class (the
fleet benchmarks, which start processes) writes the same shape, <Namespace.>XBenchmarks-report-github.md:
a ``` fenced header whose first line is "<tool>, <OS>", a line with "CPU" and "cores", a line
"[Host] : .NET x.y.z", then a Markdown table whose first column is Method (each Method unique, or
unique within its Categories). A table with neither a Categories nor a Mean column keeps every column.

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
        kind = "BenchmarkDotNet report" if report.lstrip("`\n").startswith("BenchmarkDotNet") else "report"
        with open(target, "w", encoding="utf-8") as f:
            f.write(f"<!-- measured: {when}; {kind} {name}, imported by build/bench-tables.py; do not edit -->\n")
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
    # The first header line names the tool and the OS: "BenchmarkDotNet v0.15.8, Linux Debian ...".
    tool = lines[0] if lines else "BenchmarkDotNet"
    bdn = tool.split(",")[0]
    os_name = tool.split(", ", 1)[1] if ", " in tool else ""
    cpu = next((l for l in lines if "CPU" in l and "cores" in l), "")
    runtime = next((re.sub(r"\s*\(.*", "", l.split(":", 1)[1]).strip() for l in lines if l.startswith("[Host]")), "")
    job = next((l for l in lines if l.startswith("Job=")), "")
    job = re.sub(r"\s+", " ", job.replace("Job=", "job ")).strip()
    if not job:
        job = next((l.replace("Toolchain=", "toolchain ") for l in lines if l.startswith("Toolchain=")), "")
    info = f"Measured {when} with {bdn} ({job}) on {cpu}, {os_name}, {runtime}."
    info = re.sub(r"\s+", " ", info.replace("()", "")).replace("( ", "(").replace(" )", ")").replace("()", "")
    table = [l for l in text.splitlines() if l.startswith("|")]
    cols = [c.strip() for c in table[0].strip("|").split("|")]
    rows = []
    for line in table[2:]:
        # BenchmarkDotNet bolds every other parameter group (**...**); the tables show plain cells.
        cells = [re.sub(r"^\*\*(.*)\*\*$", r"\1", html.unescape(c.strip())) for c in line.strip("|").split("|")]
        if all(c == "" for c in cells):
            continue
        rows.append(cells)
    return info, cols, rows


MISSING: set[str] = set()


def render(cls: str, opts: str) -> str:
    if not os.path.exists(os.path.join(RESULTS, cls + ".md")):
        # A marker put in before its first measurement: say how to fill it (the docs tests fail on it).
        MISSING.add(cls)
        short = cls[: -len("Benchmarks")] if cls.endswith("Benchmarks") else cls
        return f"No report yet: run `bash build/bench.sh {short}`.\n"
    info, cols, rows = parse_report(cls)
    pick = re.search(r"rows=(\S+)", opts)
    if pick:
        rows = [r for r in rows if re.search(pick.group(1), r[0])]
    # Parameter columns (between Method and the statistics) are kept too.
    stats_start = next((i for i, c in enumerate(cols) if c in ("Categories", "Mean")), len(cols))
    keep = [0] + list(range(1, stats_start)) + [cols.index(c) for c in KEEP[1:] if c in cols]
    extra = re.search(r"cols=(\S+)", opts)
    if extra:
        wanted = [i for i, c in enumerate(cols) if re.search(extra.group(1), c) and i not in keep]
        if not wanted:
            raise SystemExit(f"{cls}: no column matches cols={extra.group(1)} (columns: {', '.join(cols)})")
        keep += wanted
    if len({r[cols.index("Categories")] for r in rows} if "Categories" in cols else set()) <= 1 and "Categories" in cols:
        keep.remove(cols.index("Categories"))
    # A column that says "?" on every row shown (a Ratio without a baseline in the category) says nothing.
    keep = [i for i in keep if i == 0 or not rows or any(r[i] != "?" for r in rows)]
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
    if MISSING:
        print("no results for " + ", ".join(sorted(MISSING)) + " in benchmarks/results: run build/bench.sh for them", file=sys.stderr)
    if args.check and stale:
        print("Benchmark tables differ from benchmarks/results; run python3 build/bench-tables.py:", *stale, sep="\n  ")
        return 1
    if args.check and MISSING:
        return 1
    print(("stale: " if args.check else "updated: ") + (", ".join(stale) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
